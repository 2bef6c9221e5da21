/**
 * The database contract on a real Postgres, started in a temp dir for this file (about a second).
 * Skips, saying so, where Postgres is not installed.
 */
import { after, test } from 'node:test';
import { openDatabase } from '../../src/db/database.ts';
import { startPostgres } from '../helpers/databases.ts';
import { databaseConformance } from './conformance.ts';

const pg = startPostgres();
if ('skip' in pg) {
  test('database contract on Postgres', { skip: pg.skip }, () => {});
} else {
  after(() => pg.stop());
  databaseConformance('Postgres', async () => {
    const db = await openDatabase(pg.url);
    return { db, cleanup: () => db.close() };
  });
}
