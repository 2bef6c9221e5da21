/**
 * The server-throughput bench on the tiny CPU model: concurrent HTTP requests meet in the worker's
 * batches, and the report has positive figures. No timing thresholds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatServeReport, serveBench } from '../../tools/bench/serve.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

test('four concurrent create requests run as one engine batch of four images', async () => {
  // A long window: the batch runs when the fourth request fills it, not when a timer on a busy machine fires.
  const report = await serveBench({ modelDir: await testModelDir('tiny-sd1'), provider: 'cpu', concurrency: 4, batchMax: 4, windowMs: 2000, rounds: 1, size: 256, steps: 10, guidance: 7.5 });
  assert.deepEqual(report.batches, [4], 'the four met in one batch');
  assert.ok(report.aloneMs > 0 && report.concurrentMs.length === 1 && report.imagesPerSecond > 0 && report.speedup > 0);
  assert.match(formatServeReport(report), /4 requests at once: .* img\/s/);
});
