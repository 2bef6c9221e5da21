import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelCatalog, modelUuid } from '../../src/core/models.ts';
import { uuidV5 } from '../../src/core/uuid.ts';
import { UnknownModelError } from '../../src/core/errors.ts';
import { generationCost, generationRefund, upscaleCost } from '../../src/core/pricing.ts';
import { fakeManifest, fakeModelSource } from '../helpers/core.ts';

test('uuidV5 matches the RFC 9562 example (DNS namespace, www.example.com)', () => {
  assert.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

test('models are found by stable UUID or manifest id; the configured default is marked', async () => {
  const catalog = new ModelCatalog(fakeModelSource([fakeManifest({ id: 'a' }), fakeManifest({ id: 'b' })]), 'b');
  const models = await catalog.list();
  assert.deepEqual(models.map((m) => [m.id, m.isDefault]), [['a', false], ['b', true]]);
  assert.equal(models[0]!.uuid, modelUuid('a'));
  assert.equal((await catalog.resolve(modelUuid('a'))).id, 'a');
  assert.equal((await catalog.resolve('a')).id, 'a');
  assert.equal((await catalog.resolve(undefined)).id, 'b');
  await assert.rejects(catalog.resolve('0a99668b-45bd-4f7e-aa9c-f9aaa41ef13b'), UnknownModelError);
});

test('pricing: one credit per requested image, refunds per failed image, one per upscale', () => {
  const p = { numOutputs: 4, width: 512, height: 512, steps: 30, model: 'x' };
  assert.equal(generationCost(p), 4);
  assert.equal(generationRefund(p, 1), 1);
  assert.equal(generationRefund(p, 4), 4);
  assert.equal(generationRefund(p, 0), 0);
  assert.equal(upscaleCost(), 1);
});
