/** The style-preset table: every value of Stability's and Leonardo's enums has a template, applied one way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyStyle, LEONARDO_STYLES, LEONARDO_STYLE_NAMES, STABILITY_STYLES, STABILITY_STYLE_NAMES } from '../../src/core/style-presets.ts';

// Seed 002's style_preset enum and Leonardo's presetStyle enum (reference/peer-apis.md §2.2), verbatim.
const SEED_002 = '3d-model analog-film anime cinematic comic-book digital-art enhance fantasy-art isometric line-art low-poly modeling-compound neon-punk origami photographic pixel-art tile-texture'.split(' ');
const LEONARDO =
  'ANIME, BOKEH, CINEMATIC, CINEMATIC_CLOSEUP, CREATIVE, DYNAMIC, ENVIRONMENT, FASHION, FILM, FOOD, GENERAL, HDR, ILLUSTRATION, LEONARDO, LONG_EXPOSURE, MACRO, MINIMALISTIC, MONOCHROME, MOODY, NONE, NEUTRAL, PHOTOGRAPHY, PORTRAIT, RAYTRACED, RENDER_3D, RETRO, SKETCH_BW, SKETCH_COLOR, STOCK_PHOTO, VIBRANT, UNPROCESSED'.split(', ');

test('the tables cover exactly the enums', () => {
  assert.deepEqual([...STABILITY_STYLE_NAMES].sort(), [...SEED_002].sort());
  assert.deepEqual([...LEONARDO_STYLE_NAMES].sort(), [...LEONARDO].sort());
});

test('every template keeps the prompt exactly once', () => {
  for (const [name, p] of [...Object.entries(STABILITY_STYLES), ...Object.entries(LEONARDO_STYLES)]) {
    assert.equal(p.prompt.split('{prompt}').length, 2, name);
    assert.ok(applyStyle(p, 'UNIQUE-PROMPT', '').prompt.includes('UNIQUE-PROMPT'), name);
  }
});

test('applying a style: prompt wrapped, negatives joined, tiling only for tile-texture; none: unchanged', () => {
  const r = applyStyle(STABILITY_STYLES['pixel-art'], 'a cat', 'dogs');
  assert.equal(r.prompt, 'pixel-art a cat, low-res, blocky, pixel art style, 8-bit graphics');
  assert.ok(r.negativePrompt.startsWith('dogs, sloppy'));
  assert.equal(r.tiling, false);
  assert.equal(applyStyle(STABILITY_STYLES['tile-texture'], 'moss', '').tiling, true);
  assert.deepEqual(applyStyle(undefined, 'a cat', 'dogs'), { prompt: 'a cat', negativePrompt: 'dogs', tiling: false });
  assert.deepEqual(applyStyle(LEONARDO_STYLES.NONE, 'a cat', ''), { prompt: 'a cat', negativePrompt: '', tiling: false });
});
