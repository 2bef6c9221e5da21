/** Every migration, in order. Static imports (no folder scan), so they work the same from source and in tests. */
import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.ts';

export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': m0001,
};
