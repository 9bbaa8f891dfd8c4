/**
 * @file PostgreSQL schema v2: datasets (golden sets: annotations, image bytes, schedule, pinned
 * baseline) and the history columns of jobs — the model graph's sha256, what started the job, and
 * the summary of a done job (mean losses, box/mask AP, per-class AP as small JSON) kept beside the
 * result so that listing the history never parses a full result.
 */
import type { Migration } from '../index.js';

export const migration: Migration = {
  version: 2,
  name: 'history',
  sql: `
CREATE TABLE datasets (
  id               uuid PRIMARY KEY,
  owner            text,
  name             text NOT NULL,
  annotations      json NOT NULL,
  image_count      integer NOT NULL,
  annotation_count integer NOT NULL,
  bytes            bigint NOT NULL,
  categories       json NOT NULL,
  created_at       bigint NOT NULL,
  baseline_job_id  uuid,
  schedule_cron    text,
  schedule_model   text,
  schedule_version text,
  auto             boolean NOT NULL DEFAULT false,
  auto_key         text,
  next_run_at      bigint,
  last_run_at      bigint,
  last_job_id      uuid,
  last_error       text
);
CREATE UNIQUE INDEX datasets_owner_name ON datasets ((coalesce(owner, '')), name);
CREATE INDEX datasets_by_created ON datasets (created_at DESC, id DESC);
CREATE INDEX datasets_due ON datasets (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE dataset_images (
  dataset_id  uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  image_index integer NOT NULL,
  file_name   text NOT NULL,
  field       text,
  size        integer NOT NULL,
  bytes       bytea NOT NULL,
  PRIMARY KEY (dataset_id, image_index)
);
ALTER TABLE dataset_images ALTER COLUMN bytes SET STORAGE EXTERNAL;

ALTER TABLE jobs
  ADD COLUMN history boolean NOT NULL DEFAULT false,
  ADD COLUMN model_sha256 text,
  ADD COLUMN trigger text,
  ADD COLUMN s_images integer,
  ADD COLUMN s_loss_objectness double precision,
  ADD COLUMN s_loss_rpn_box_reg double precision,
  ADD COLUMN s_loss_classifier double precision,
  ADD COLUMN s_loss_box_reg double precision,
  ADD COLUMN s_loss_mask double precision,
  ADD COLUMN s_loss double precision,
  ADD COLUMN s_box_ap double precision,
  ADD COLUMN s_box_ap50 double precision,
  ADD COLUMN s_box_ap75 double precision,
  ADD COLUMN s_mask_ap double precision,
  ADD COLUMN s_mask_ap50 double precision,
  ADD COLUMN s_mask_ap75 double precision,
  ADD COLUMN s_classes json;
CREATE INDEX jobs_by_owner_dataset ON jobs (owner, dataset_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_owner_model ON jobs (owner, model_name, created_at DESC, id DESC);
CREATE INDEX jobs_by_dataset ON jobs (dataset_id, created_at DESC, id DESC) WHERE dataset_id IS NOT NULL;
`,
};
