/**
 * One serving process per SQLite file: SQLite is the embedded single-process deployment, and two
 * processes each running their own in-process queue over one file would each fail the other's jobs
 * at start. A lock file beside the database names the process holding it; a stale one (its process
 * gone) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DeploymentError } from './deployment-error.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock for `dbFile`; returns its release. */
export function lockSqlite(dbFile: string): () => void {
  const path = `${dbFile}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new DeploymentError(
          `another Darkroom process (pid ${holder}) serves the SQLite database ${dbFile}: SQLite is for one process; run more with DARKROOM_DATABASE_URL=postgres://… and DARKROOM_REDIS_URL, or give this one its own DARKROOM_DATA_DIR`,
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new DeploymentError(`could not take the lock ${path}`);
}
