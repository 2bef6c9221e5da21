/** Every migration, in order. Static imports (no folder scan), so they work the same from source and in tests. */
import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.ts';
import * as m0002 from './0002_dialects.ts';
import * as m0003 from './0003_idempotency.ts';
import * as m0004 from './0004_job_lifecycle.ts';
import * as m0005 from './0005_workers.ts';
import * as m0006 from './0006_engine_request.ts';
import * as m0007 from './0007_output_deletion.ts';
import * as m0008 from './0008_variations.ts';
import * as m0009 from './0009_output_nsfw.ts';
import * as m0010 from './0010_outputs_user_updated.ts';

export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_dialects': m0002,
  '0003_idempotency': m0003,
  '0004_job_lifecycle': m0004,
  '0005_workers': m0005,
  '0006_engine_request': m0006,
  '0007_output_deletion': m0007,
  '0008_variations': m0008,
  '0009_output_nsfw': m0009,
  '0010_outputs_user_updated': m0010,
};
