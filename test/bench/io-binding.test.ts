/**
 * The IO-binding probe the GPU run takes (tools/bench/io-binding.ts), on CPU: there the binding's
 * gpu-buffer outputs come back on the host, equal to a plain run's, and chain into a second run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeIoBinding } from '../../tools/bench/io-binding.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

test('on CPU, gpu-buffer outputs stay on the host, read back equal and feed a second run unchanged', async () => {
  const report = await probeIoBinding(await testModelDir('tiny-sd1'), 'cpu');
  assert.deepEqual(report, { provider: 'cpu', errors: [], keptLocation: 'cpu', keptMaxDiff: 0, chainedMaxDiff: 0 });
});
