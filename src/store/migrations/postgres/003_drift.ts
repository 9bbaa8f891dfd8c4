/**
 * @file PostgreSQL schema v3: drift references (docs/drift.md), one per model version — the
 * histograms of the predictions a live window or a golden set's evaluation gave, kept so that a
 * restarted process (and every replica) compares its traffic with the same reference.
 */
import type { Migration } from '../index.js';

export const migration: Migration = {
  version: 3,
  name: 'drift',
  sql: `
CREATE TABLE drift_references (
  model       text NOT NULL,
  version     text NOT NULL,
  source      json NOT NULL,
  histograms  json NOT NULL,
  images      integer NOT NULL CHECK (images >= 0),
  owner       text,
  created_at  bigint NOT NULL,
  PRIMARY KEY (model, version)
);
`,
};
