/**
 * The kill test's short run (tools/kill-test.ts: real API and worker processes over Postgres, Redis
 * and S3; workers killed mid-generation, Redis restarted, an API process holding SSE streams killed,
 * an overdraw storm): every check of the script holds. docs/scale-out.md has the longer run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../tools/kill-test.ts', import.meta.url));

test('kill -9 workers mid-generation, restart Redis, kill an API holding SSE streams: nothing lost, refunded exactly once, never overdrawn', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--kills', '3', '--jobs', '12', '--overdraw', '500', '--steps', '20', '--json'], {
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  const report = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
    kills: number;
    killsMidGeneration: number;
    redisRestarts: number;
    apiKills: number;
    succeeded: number;
    failed: number;
    retried: number;
    overdraw: { accepted: number; finalBalance: number };
    problems: string[];
  };
  assert.deepEqual(report.problems, [], r.stderr.slice(-4000));
  assert.equal(r.status, 0);
  assert.equal(report.kills, 3);
  assert.ok(report.killsMidGeneration >= 1, 'at least one worker died mid-generation');
  assert.equal(report.redisRestarts, 1);
  assert.equal(report.apiKills, 1);
  assert.equal(report.succeeded + report.failed, 12, 'every accepted job ended');
  assert.ok(report.retried >= 1, 'a job whose worker died ran again on another');
  assert.ok(report.overdraw.accepted <= 7 && report.overdraw.finalBalance >= 0);
});
