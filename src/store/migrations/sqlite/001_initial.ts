/**
 * @file SQLite schema v1: jobs, their inputs (JSON + image bytes) and per-image records.
 * Times are epoch ms (INTEGER), JSON is TEXT (kept byte for byte, key order included), booleans are
 * 0/1. Children cascade from jobs (PRAGMA foreign_keys=ON at every open).
 */
import type { Migration } from '../index.js';

export const migration: Migration = {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE jobs (
  id                TEXT PRIMARY KEY NOT NULL,
  owner             TEXT,
  model_name        TEXT,
  model_version     TEXT,
  dataset_id        TEXT,
  mode              TEXT NOT NULL CHECK (mode IN ('model', 'detections')),
  status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  options           TEXT NOT NULL,
  progress_phase    TEXT NOT NULL,
  progress_done     INTEGER NOT NULL DEFAULT 0,
  progress_total    INTEGER NOT NULL DEFAULT 0,
  progress_image_ms REAL NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER,
  expires_at        INTEGER,
  error             TEXT,
  cancel_requested  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  result            TEXT,
  report            TEXT,
  lease_owner       TEXT,
  lease_expires_at  INTEGER,
  attempts          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_owner ON jobs (owner, created_at DESC, id DESC);
CREATE INDEX jobs_claimable ON jobs (created_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_by_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE job_inputs (
  job_id       TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  annotations  TEXT,
  ground_truth TEXT,
  detections   TEXT
);

CREATE TABLE job_images (
  job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  image_index INTEGER NOT NULL,
  file_name   TEXT NOT NULL,
  field       TEXT,
  size        INTEGER NOT NULL,
  bytes       BLOB NOT NULL,
  PRIMARY KEY (job_id, image_index)
);

CREATE TABLE image_records (
  job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  image_index  INTEGER NOT NULL,
  record_json  TEXT,
  record_bytes BLOB,
  PRIMARY KEY (job_id, image_index),
  CHECK ((record_json IS NULL) <> (record_bytes IS NULL))
);
`,
};
