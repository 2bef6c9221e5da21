import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../src/core/errors.ts';
import { loraUuid, promptLoras } from '../../src/core/loras.ts';

test("A1111's <lora:name:weight> tags come out of the prompt, weight 1 when left out", () => {
  assert.deepEqual(promptLoras('a cat <lora:paper-cut:0.8>, in snow <lora:film grain>'), {
    prompt: 'a cat, in snow',
    loras: [
      { name: 'paper-cut', weight: 0.8 },
      { name: 'film grain', weight: 1 },
    ],
  });
  assert.deepEqual(promptLoras('<LORA:x:-0.5>a dog'), { prompt: 'a dog', loras: [{ name: 'x', weight: -0.5 }] });
  assert.deepEqual(promptLoras('no tags (here:1.2) <not a tag>'), { prompt: 'no tags (here:1.2) <not a tag>', loras: [] });
});

test('a tag whose weight is not a number is refused naming the prompt', () => {
  assert.throws(() => promptLoras('a cat <lora:x:much>'), (err: unknown) => err instanceof ValidationError && err.field === 'prompt' && /<lora:x:much>: the weight must be a number/.test(err.message));
});

test('a LoRA UUID is stable and differs from a model of the same name', async () => {
  const { modelUuid } = await import('../../src/core/models.ts');
  assert.equal(loraUuid('paper-cut'), loraUuid('paper-cut'));
  assert.notEqual(loraUuid('paper-cut'), modelUuid('paper-cut'));
});
