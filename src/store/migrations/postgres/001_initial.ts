/**
 * @file PostgreSQL schema v1: jobs, their inputs (JSON + image bytes) and per-image records.
 * Times are epoch ms (bigint: the same numbers as the SQLite engine, no time-zone conversions);
 * JSON is `json`, not `jsonb` (kept byte for byte, key order included: results are served as stored);
 * image bytes are `bytea` stored EXTERNAL (PNG/JPEG do not compress: skip the attempt).
 */
import type { Migration } from '../index.js';

export const migration: Migration = {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE jobs (
  id                uuid PRIMARY KEY,
  owner             text,
  model_name        text,
  model_version     text,
  dataset_id        text,
  mode              text NOT NULL CHECK (mode IN ('model', 'detections')),
  status            text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  options           json NOT NULL,
  progress_phase    text NOT NULL,
  progress_done     integer NOT NULL DEFAULT 0,
  progress_total    integer NOT NULL DEFAULT 0,
  progress_image_ms double precision NOT NULL DEFAULT 0,
  created_at        bigint NOT NULL,
  started_at        bigint,
  finished_at       bigint,
  expires_at        bigint,
  error             json,
  cancel_requested  boolean NOT NULL DEFAULT false,
  result            json,
  report            json,
  lease_owner       text,
  lease_expires_at  bigint,
  attempts          integer NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_owner ON jobs (owner, created_at DESC, id DESC);
CREATE INDEX jobs_claimable ON jobs (created_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_by_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE job_inputs (
  job_id       uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  annotations  json,
  ground_truth json,
  detections   json
);

CREATE TABLE job_images (
  job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  image_index integer NOT NULL,
  file_name   text NOT NULL,
  field       text,
  size        integer NOT NULL,
  bytes       bytea NOT NULL,
  PRIMARY KEY (job_id, image_index)
);
ALTER TABLE job_images ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE image_records (
  job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  image_index  integer NOT NULL,
  record_json  json,
  record_bytes bytea,
  PRIMARY KEY (job_id, image_index),
  CHECK ((record_json IS NULL) <> (record_bytes IS NULL))
);
`,
};
