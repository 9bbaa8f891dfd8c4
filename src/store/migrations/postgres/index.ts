/** @file The PostgreSQL migrations, in version order (add new ones at the end). */
import type { Migration } from '../index.js';
import { migration as m001 } from './001_initial.js';
import { migration as m002 } from './002_history.js';
import { migration as m003 } from './003_drift.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [m001, m002, m003];
