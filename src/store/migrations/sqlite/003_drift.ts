/**
 * @file SQLite schema v3: drift references (docs/drift.md), one per model version — the histograms
 * of the predictions a live window or a golden set's evaluation gave, kept so that a restarted
 * process (and every replica) compares its traffic with the same reference.
 */
import type { Migration } from '../index.js';

export const migration: Migration = {
  version: 3,
  name: 'drift',
  sql: `
CREATE TABLE drift_references (
  model       TEXT NOT NULL,
  version     TEXT NOT NULL,
  source      TEXT NOT NULL,
  histograms  TEXT NOT NULL,
  images      INTEGER NOT NULL CHECK (images >= 0),
  owner       TEXT,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (model, version)
);
`,
};
