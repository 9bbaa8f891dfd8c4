/**
 * @file SQLite schema v2: datasets (golden sets: annotations, image bytes, schedule, pinned
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
  id               TEXT PRIMARY KEY NOT NULL,
  owner            TEXT,
  name             TEXT NOT NULL,
  annotations      TEXT NOT NULL,
  image_count      INTEGER NOT NULL,
  annotation_count INTEGER NOT NULL,
  bytes            INTEGER NOT NULL,
  categories       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  baseline_job_id  TEXT,
  schedule_cron    TEXT,
  schedule_model   TEXT,
  schedule_version TEXT,
  auto             INTEGER NOT NULL DEFAULT 0 CHECK (auto IN (0, 1)),
  auto_key         TEXT,
  next_run_at      INTEGER,
  last_run_at      INTEGER,
  last_job_id      TEXT,
  last_error       TEXT
);
CREATE UNIQUE INDEX datasets_owner_name ON datasets (coalesce(owner, ''), name);
CREATE INDEX datasets_by_created ON datasets (created_at DESC, id DESC);
CREATE INDEX datasets_due ON datasets (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE dataset_images (
  dataset_id  TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  image_index INTEGER NOT NULL,
  file_name   TEXT NOT NULL,
  field       TEXT,
  size        INTEGER NOT NULL,
  bytes       BLOB NOT NULL,
  PRIMARY KEY (dataset_id, image_index)
);

ALTER TABLE jobs ADD COLUMN history INTEGER NOT NULL DEFAULT 0 CHECK (history IN (0, 1));
ALTER TABLE jobs ADD COLUMN model_sha256 TEXT;
ALTER TABLE jobs ADD COLUMN trigger TEXT;
ALTER TABLE jobs ADD COLUMN s_images INTEGER;
ALTER TABLE jobs ADD COLUMN s_loss_objectness REAL;
ALTER TABLE jobs ADD COLUMN s_loss_rpn_box_reg REAL;
ALTER TABLE jobs ADD COLUMN s_loss_classifier REAL;
ALTER TABLE jobs ADD COLUMN s_loss_box_reg REAL;
ALTER TABLE jobs ADD COLUMN s_loss_mask REAL;
ALTER TABLE jobs ADD COLUMN s_loss REAL;
ALTER TABLE jobs ADD COLUMN s_box_ap REAL;
ALTER TABLE jobs ADD COLUMN s_box_ap50 REAL;
ALTER TABLE jobs ADD COLUMN s_box_ap75 REAL;
ALTER TABLE jobs ADD COLUMN s_mask_ap REAL;
ALTER TABLE jobs ADD COLUMN s_mask_ap50 REAL;
ALTER TABLE jobs ADD COLUMN s_mask_ap75 REAL;
ALTER TABLE jobs ADD COLUMN s_classes TEXT;
CREATE INDEX jobs_by_owner_dataset ON jobs (owner, dataset_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_owner_model ON jobs (owner, model_name, created_at DESC, id DESC);
CREATE INDEX jobs_by_dataset ON jobs (dataset_id, created_at DESC, id DESC) WHERE dataset_id IS NOT NULL;
`,
};
