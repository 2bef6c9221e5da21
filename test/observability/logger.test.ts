/**
 * Logging: JSON lines (level as a word, ISO time, pid, hostname) to an injectable destination,
 * the level threshold, child loggers carrying ids, the log(message) adapter, the pretty format,
 * and the DARKROOM_LOG_LEVEL / DARKROOM_LOG_FORMAT settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createLogger, loggerWritingTo, toLogFunction } from '../../src/observability/logger.ts';

test('JSON lines to the given destination; children carry their ids; lines below the level are not written', () => {
  const lines: string[] = [];
  const logger = createLogger({ logLevel: 'info', logFormat: 'json' }, { destination: (l) => lines.push(l), base: { role: 'worker' } });
  logger.debug('not written');
  logger.child({ requestId: 'req-1', jobId: 'job-9' }).info({ step: 3 }, 'denoising');
  logger.error('boom');
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')), 'one line each');
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first['level'], 'info');
  assert.equal(first['msg'], 'denoising');
  assert.equal(first['requestId'], 'req-1');
  assert.equal(first['jobId'], 'job-9');
  assert.equal(first['step'], 3);
  assert.equal(first['role'], 'worker');
  assert.equal(first['pid'], process.pid);
  assert.equal(typeof first['hostname'], 'string');
  assert.match(String(first['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>)['level'], 'error');
});

test('debug level writes debug lines; silent writes none', () => {
  const lines: string[] = [];
  createLogger({ logLevel: 'debug' }, { destination: (l) => lines.push(l) }).debug('seen');
  createLogger({ logLevel: 'silent' }, { destination: (l) => lines.push(l) }).error('unseen');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['seen']);
});

test('toLogFunction: the existing log(message) call sites write info lines; loggerWritingTo hands lines without their newline', () => {
  const lines: string[] = [];
  const log = toLogFunction(loggerWritingTo((l) => lines.push(l)));
  log('refunded 2 generation(s) left unfinished by the previous run');
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.endsWith('\n'));
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(o['level'], 'info');
  assert.equal(o['msg'], 'refunded 2 generation(s) left unfinished by the previous run');
});

test('pretty format: one readable line with the fields as key=value', () => {
  const lines: string[] = [];
  const logger = createLogger({ logLevel: 'info', logFormat: 'pretty' }, { destination: (l) => lines.push(l) });
  logger.child({ requestId: 'abc' }).warn({ route: '/v1/credits', status: 200, note: 'two words' }, 'request');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  request requestId=abc route=\/v1\/credits status=200 note="two words"\n$/);
});

test('DARKROOM_LOG_LEVEL (default info) and DARKROOM_LOG_FORMAT (default json) are settings; bad values are named', () => {
  const base = { DARKROOM_DATA_DIR: '/tmp/darkroom-logger-test' };
  const plain = loadConfig(base);
  assert.equal(plain.logLevel, 'info');
  assert.equal(plain.logFormat, 'json');
  const set = loadConfig({ ...base, DARKROOM_LOG_LEVEL: 'DEBUG', DARKROOM_LOG_FORMAT: 'pretty' });
  assert.equal(set.logLevel, 'debug');
  assert.equal(set.logFormat, 'pretty');
  assert.throws(
    () => loadConfig({ ...base, DARKROOM_LOG_LEVEL: 'loud', DARKROOM_LOG_FORMAT: 'xml' }),
    (err: unknown) => err instanceof ConfigError && /DARKROOM_LOG_LEVEL="loud"/.test(err.message) && /DARKROOM_LOG_FORMAT="xml"/.test(err.message),
  );
});
