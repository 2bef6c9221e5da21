import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve, join } from 'node:path';
import { ConfigError, flagName, loadConfig } from '../../src/config/config.ts';
import { deviceLoopOn } from '../../src/engine/pipelines/device-loop-setting.ts';

test('defaults: port 8080, ./data, models under the data dir, CPU', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, resolve('data'));
  assert.equal(c.modelsDir, join(resolve('data'), 'models'));
  assert.equal(c.executionProvider, 'cpu');
});

test('PORT is honoured, DARKROOM_PORT wins over it, a flag wins over both', () => {
  assert.equal(loadConfig({ PORT: '3000' }).port, 3000);
  assert.equal(loadConfig({ PORT: '3000', DARKROOM_PORT: '4000' }).port, 4000);
  assert.equal(loadConfig({ DARKROOM_PORT: '4000' }, { DARKROOM_PORT: '5000' }).port, 5000);
});

test('the models dir follows the data dir unless set', () => {
  assert.equal(loadConfig({ DARKROOM_DATA_DIR: '/tmp/x' }).modelsDir, '/tmp/x/models');
  assert.equal(loadConfig({ DARKROOM_DATA_DIR: '/tmp/x', DARKROOM_MODELS_DIR: '/m' }).modelsDir, '/m');
});

test('every bad value is listed in one error', () => {
  try {
    loadConfig({ DARKROOM_PORT: 'eighty', DARKROOM_EXECUTION_PROVIDER: 'tpu', DARKROOM_THREADS: '-1' });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 3);
    assert.match(err.message, /DARKROOM_PORT="eighty"/);
    assert.match(err.message, /DARKROOM_EXECUTION_PROVIDER="tpu": must be one of cpu, cuda, webgpu/);
    assert.match(err.message, /DARKROOM_THREADS="-1"/);
  }
});

test('a bad flag is reported under its flag name', () => {
  assert.throws(() => loadConfig({}, { DARKROOM_PORT: '99999' }), /--port="99999"/);
  assert.equal(flagName('DARKROOM_DATA_DIR'), '--data-dir');
});

test('model optimisation (fused attention) is on with CUDA, off on CPU, and can be set either way', () => {
  assert.equal(loadConfig({}).optimizeModels, false);
  assert.equal(loadConfig({ DARKROOM_EXECUTION_PROVIDER: 'cuda' }).optimizeModels, true);
  assert.equal(loadConfig({ DARKROOM_EXECUTION_PROVIDER: 'cuda', DARKROOM_OPTIMIZE_MODELS: 'false' }).optimizeModels, false);
  assert.equal(loadConfig({ DARKROOM_OPTIMIZE_MODELS: 'true' }).optimizeModels, true);
});

test('DARKROOM_FUSIONS: attention alone by default, all, none, or names (in the order they are applied); unknown names refused', () => {
  assert.deepEqual(loadConfig({}).fusions, ['attention']);
  assert.deepEqual(loadConfig({ DARKROOM_FUSIONS: 'all' }).fusions, ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add']);
  assert.deepEqual(loadConfig({ DARKROOM_FUSIONS: 'none' }).fusions, []);
  assert.deepEqual(loadConfig({ DARKROOM_FUSIONS: 'bias-add, Attention,skip-layer-norm' }).fusions, ['attention', 'skip-layer-norm', 'bias-add']);
  assert.throws(() => loadConfig({ DARKROOM_FUSIONS: 'attention,gelu' }), /DARKROOM_FUSIONS="attention,gelu": unknown fusion\(s\) gelu/);
  assert.throws(() => loadConfig({ DARKROOM_FUSIONS: ' , ' }), /DARKROOM_FUSIONS/);
});

test('float16 conversion is on with CUDA, off on CPU, and can be set either way', () => {
  assert.equal(loadConfig({}).fp16, false);
  assert.equal(loadConfig({ DARKROOM_EXECUTION_PROVIDER: 'cuda' }).fp16, true);
  assert.equal(loadConfig({ DARKROOM_EXECUTION_PROVIDER: 'cuda', DARKROOM_FP16: 'false' }).fp16, false);
  assert.equal(loadConfig({ DARKROOM_FP16: 'true' }).fp16, true);
  assert.throws(() => loadConfig({ DARKROOM_FP16: 'half' }), /DARKROOM_FP16/);
});

test('the device loop is auto unless set: on with a GPU provider, off on CPU', () => {
  assert.equal(loadConfig({}).deviceLoop, 'off');
  assert.equal(loadConfig({ DARKROOM_DEVICE_LOOP: ' ON ' }).deviceLoop, 'on');
  assert.equal(loadConfig({ DARKROOM_DEVICE_LOOP: 'off' }).deviceLoop, 'off');
  assert.throws(() => loadConfig({ DARKROOM_DEVICE_LOOP: 'gpu' }), /DARKROOM_DEVICE_LOOP/);
  assert.equal(deviceLoopOn('auto', 'cuda'), true);
  assert.equal(deviceLoopOn('auto', 'webgpu'), false);
  assert.equal(deviceLoopOn('auto', 'cpu'), false);
  assert.equal(deviceLoopOn('on', 'cpu'), true);
  assert.equal(deviceLoopOn('off', 'cuda'), false);
});

test('the default model is preloaded unless DARKROOM_PRELOAD says not', () => {
  assert.equal(loadConfig({}).preload, true);
  assert.equal(loadConfig({ DARKROOM_PRELOAD: 'false' }).preload, false);
});
