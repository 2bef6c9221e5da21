import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  ImageDecodeError,
  chwToRgb,
  contactSheet,
  decodeImage,
  decodeMask,
  downsampleMask,
  encodeImage,
  imageFormatOf,
  imageTensorFromBatch,
} from '../../src/engine/image.ts';
import { crc32, readPngText, textChunk, withPngText } from '../../src/engine/png-text.ts';
import { a1111Parameters } from '../../src/core/a1111.ts';

type Rgb = readonly [number, number, number];

/** Encodes interleaved 8-bit pixels (3 or 4 channels) with sharp, independently of image.ts. */
function encodeRaw(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4 = 3) {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels } });
}

/** width × height RGB(A) image whose pixel (x, y) is colour(x, y). */
function paint(width: number, height: number, colour: (x: number, y: number) => readonly number[], channels: 3 | 4 = 3): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set(colour(x, y), (y * width + x) * channels);
  return out;
}

/** CHW tensor → the RGB of pixel (x, y) in byte units, computed here from the tensor definition. */
function pixelAt(img: { data: Float32Array; width: number; height: number }, x: number, y: number): Rgb {
  const n = img.width * img.height;
  const i = y * img.width + x;
  const u = (v: number) => (v + 1) * 127.5;
  return [u(img.data[i]!), u(img.data[n + i]!), u(img.data[2 * n + i]!)];
}

function assertNear(actual: readonly number[], expected: readonly number[], tolerance: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tolerance, `${what}: [${actual.map((v) => v.toFixed(2))}] vs [${expected}] (±${tolerance})`));
}

/** Deterministic pseudo-random bytes (LCG), so the "noise" image is the same on every run. */
function noiseBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** Byte u → tensor value, as the tensor convention defines it (u / 127.5 − 1). */
function chwFromRgb(rgb: Uint8Array, width: number, height: number): Float32Array {
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = rgb[3 * i + c]! / 127.5 - 1;
  return out;
}

async function rawOf(bytes: Buffer) {
  return sharp(bytes).raw().toBuffer({ resolveWithObject: true });
}

function pngChunkTypes(png: Buffer): string[] {
  const types: string[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    types.push(png.toString('latin1', off + 4, off + 8));
    off += 12 + len;
  }
  return types;
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];

test('PNG round trip is exact: bytes in the file are the pixels, and decoding gives the same tensor', async () => {
  const w = 23;
  const h = 17;
  const rgb = noiseBytes(w * h * 3);
  const chw = chwFromRgb(rgb, w, h);
  const png = await encodeImage(chw, w, h, 'png');
  assert.equal(imageFormatOf(png), 'png');
  const raw = await rawOf(png);
  assert.deepEqual([raw.info.width, raw.info.height, raw.info.channels], [w, h, 3]);
  assert.ok(Buffer.from(rgb).equals(raw.data), 'PNG pixels differ from the input');
  const back = await decodeImage(png);
  assert.deepEqual([back.width, back.height], [w, h]);
  assert.deepEqual(back.data, chw);
});

test('tensor → bytes: (x + 1) / 2 × 255 rounded half up, clamped, NaN → 0', async () => {
  // One row of 8 pixels, the same value in R, G and B.
  const values = [-1, 1, 0, 2, -3, NaN, 0.5, -0.5];
  const expected = [0, 255, 128, 255, 0, 0, 191, 64]; // 0 → 127.5 → 128; 0.5 → 191.25 → 191; −0.5 → 63.75 → 64
  const chw = new Float32Array(values.length * 3);
  for (let c = 0; c < 3; c++) values.forEach((v, i) => (chw[c * values.length + i] = v));
  const rgb = chwToRgb(chw, values.length, 1);
  assert.deepEqual([...rgb].filter((_, i) => i % 3 === 0), expected);
  const raw = await rawOf(await encodeImage(chw, values.length, 1, 'png'));
  assert.deepEqual([...raw.data].filter((_, i) => i % 3 === 1), expected);
  assert.throws(() => chwToRgb(new Float32Array(5), 2, 1), RangeError);
});

test('JPEG and WebP round trips are close, with quality honoured', async () => {
  const w = 64;
  const h = 48;
  // A smooth image (lossy codecs are made for those): horizontal and vertical ramps.
  const rgb = paint(w, h, (x, y) => [Math.round((x / (w - 1)) * 255), Math.round((y / (h - 1)) * 255), 128]);
  const chw = chwFromRgb(rgb, w, h);
  for (const format of ['jpeg', 'webp'] as const) {
    const bytes = await encodeImage(chw, w, h, format, 95);
    assert.equal(imageFormatOf(bytes), format);
    const back = await decodeImage(bytes);
    assert.deepEqual([back.width, back.height], [w, h]);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < chw.length; i++) {
      const d = Math.abs(back.data[i]! - chw[i]!);
      sum += d;
      max = Math.max(max, d);
    }
    const mean = sum / chw.length;
    assert.ok(mean < 0.02, `${format} mean abs error ${mean}`);
    assert.ok(max < 0.15, `${format} max abs error ${max}`);
    const small = await encodeImage(chw, w, h, format, 10);
    assert.ok(small.length < bytes.length, `${format} quality 10 (${small.length} B) should be smaller than 95 (${bytes.length} B)`);
  }
  await assert.rejects(encodeImage(chw, w, h, 'jpeg', 0), RangeError);
});

test('resize: cover centre-crops to the target aspect ratio, fill stretches', async () => {
  // 64×32: red | green | blue stripes, 16, 32 and 16 pixels wide.
  const stripes = await encodeRaw(paint(64, 32, (x) => (x < 16 ? RED : x < 48 ? GREEN : BLUE)), 64, 32).png().toBuffer();
  const native = await decodeImage(stripes);
  assert.deepEqual([native.width, native.height, native.data.length], [64, 32, 3 * 64 * 32]);

  // Cover to 32×32: scale 1, keep the middle 32 columns, which are all green.
  const cover = await decodeImage(stripes, { width: 32, height: 32 });
  assert.deepEqual([cover.width, cover.height, cover.data.length], [32, 32, 3 * 32 * 32]);
  for (const [x, y] of [[0, 0], [31, 31], [0, 31], [16, 16]] as const) assertNear(pixelAt(cover, x, y), GREEN, 0.001, `cover (${x},${y})`);

  // Fill to 32×32: halved horizontally, so 8 red, 16 green, 8 blue columns.
  const fill = await decodeImage(stripes, { width: 32, height: 32, fit: 'fill' });
  assert.deepEqual([fill.width, fill.height], [32, 32]);
  assertNear(pixelAt(fill, 2, 10), RED, 2, 'fill left');
  assertNear(pixelAt(fill, 16, 10), GREEN, 2, 'fill middle');
  assertNear(pixelAt(fill, 29, 10), BLUE, 2, 'fill right');

  // Upscaling works too, and the requested size always comes back.
  const up = await decodeImage(stripes, { width: 48, height: 80 });
  assert.deepEqual([up.width, up.height, up.data.length], [48, 80, 3 * 48 * 80]);
  await assert.rejects(decodeImage(stripes, { width: 32 }), /both width and height/);
});

test('EXIF orientation is applied before resizing', async () => {
  // Stored 32×16, left half white, right half black, tagged "rotate 90° clockwise to display" (6):
  // displayed 16×32 with the white half on top.
  const stored = paint(32, 16, (x) => (x < 16 ? [255, 255, 255] : [0, 0, 0]));
  const jpeg = await encodeRaw(stored, 32, 16).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height], [16, 32]);
  assertNear(pixelAt(img, 8, 4), [255, 255, 255], 8, 'top');
  assertNear(pixelAt(img, 8, 27), [0, 0, 0], 8, 'bottom');
  const resized = await decodeImage(jpeg, { width: 8, height: 16 });
  assertNear(pixelAt(resized, 4, 2), [255, 255, 255], 8, 'resized top');
  assertNear(pixelAt(resized, 4, 13), [0, 0, 0], 8, 'resized bottom');
});

test('transparency is flattened onto white; greyscale becomes RGB', async () => {
  const rgba = new Uint8Array([0, 0, 0, 0, 255, 0, 0, 128, 0, 0, 255, 255]);
  const img = await decodeImage(await encodeRaw(rgba, 3, 1, 4).png().toBuffer());
  assertNear(pixelAt(img, 0, 0), [255, 255, 255], 0.001, 'transparent');
  assertNear(pixelAt(img, 1, 0), [255, 127, 127], 1.01, 'half-transparent red');
  assertNear(pixelAt(img, 2, 0), BLUE, 0.001, 'opaque blue');
  const grey = await decodeImage(await encodeRaw(new Uint8Array([0, 100, 255]), 3, 1, 1).png().toBuffer());
  assert.equal(grey.data.length, 9);
  assertNear(pixelAt(grey, 1, 0), [100, 100, 100], 0.001, 'grey');
});

test('luminance masks: white = repaint, grey in between, transparent counts as black, resized', async () => {
  const w = 32;
  const h = 16;
  // Left half black, right half white, one grey and one red pixel, one transparent white pixel.
  const rgba = paint(w, h, (x) => (x < 16 ? [0, 0, 0, 255] : [255, 255, 255, 255]), 4);
  rgba.set([128, 128, 128, 255], (0 * w + 2) * 4);
  rgba.set([255, 0, 0, 255], (0 * w + 4) * 4);
  rgba.set([255, 255, 255, 0], (5 * w + 20) * 4);
  const png = await encodeRaw(rgba, w, h, 4).png().toBuffer();
  const mask = await decodeMask(png, w, h, { source: 'luminance' });
  assert.equal(mask.length, w * h);
  assert.equal(mask[8 * w + 8], 0);
  assert.equal(mask[8 * w + 24], 1);
  assert.ok(Math.abs(mask[2]! - 128 / 255) < 1e-6, `grey → ${mask[2]}`);
  assert.ok(Math.abs(mask[4]! - 0.299) < 1e-6, `red → ${mask[4]} (ITU-R 601 luma)`);
  assert.equal(mask[5 * w + 20], 0, 'transparent pixel must not be repainted');
  assert.ok(mask.every((v) => v >= 0 && v <= 1));

  // Resized with the image's geometry: cover 32×16 → 8×8 keeps the middle (black | white).
  const small = await decodeMask(png, 8, 8, { source: 'luminance' });
  assert.equal(small.length, 64);
  assert.ok(small[3 * 8 + 0]! < 0.05 && small[3 * 8 + 7]! > 0.95, `cover-resized row: ${[...small.subarray(24, 32)]}`);
});

test('alpha masks: fully transparent = repaint, anything opaque at all = keep (OpenAI edits)', async () => {
  const w = 16;
  const h = 16;
  const rgba = paint(w, h, (x) => [10, 20, 30, x < 8 ? 255 : 0], 4);
  rgba[(3 * w + 2) * 4 + 3] = 1; // barely visible: keep
  rgba[(3 * w + 12) * 4 + 3] = 1; // barely visible inside the transparent half: keep
  const png = await encodeRaw(rgba, w, h, 4).png().toBuffer();
  const mask = await decodeMask(png, w, h, { source: 'alpha' });
  assert.equal(mask[0], 0);
  assert.equal(mask[15], 1);
  assert.equal(mask[3 * w + 2], 0);
  assert.equal(mask[3 * w + 12], 0);
  assert.equal(mask.reduce((a, b) => a + b, 0), 8 * 16 - 1);
  // The same geometry as luminance: a white-right-half mask gives the same repaint area.
  const luma = await decodeMask(await encodeRaw(paint(w, h, (x) => (x < 8 ? [0, 0, 0] : [255, 255, 255])), w, h).png().toBuffer(), 8, 8, { source: 'luminance' });
  const alpha = await decodeMask(await encodeRaw(paint(w, h, (x) => [0, 0, 0, x < 8 ? 255 : 0], 4), w, h, 4).png().toBuffer(), 8, 8, { source: 'alpha' });
  assert.deepEqual(alpha, luma);
  assert.equal(alpha[0], 0);
  assert.equal(alpha[7], 1);
  // No alpha channel: a clear error.
  const opaque = await encodeRaw(paint(w, h, () => [255, 255, 255]), w, h).png().toBuffer();
  await assert.rejects(decodeMask(opaque, w, h, { source: 'alpha' }), (err: Error) => err instanceof ImageDecodeError && /no alpha channel/.test(err.message));
});

test('downsampleMask averages each factor × factor block (latent cells)', () => {
  const w = 32;
  const h = 16;
  const mask = new Float32Array(w * h);
  for (let y = 0; y < 8; y++) for (let x = 8; x < 16; x++) mask[y * w + x] = 1; // cell (1, 0) full
  for (let y = 8; y < 16; y++) for (let x = 0; x < 4; x++) mask[y * w + x] = 1; // cell (0, 1) half
  for (let y = 8; y < 16; y++) mask[y * w + 21] = 1; // cell (2, 1): a 1-pixel stroke
  const small = downsampleMask(mask, w, h);
  assert.deepEqual([...small], [0, 1, 0, 0, 0.5, 0, 0.125, 0]);
  assert.deepEqual([...downsampleMask(mask, w, h, 16)], [(64 + 32) / 256, 8 / 256]);
  assert.throws(() => downsampleMask(mask, w, h, 3), /multiple of 3/);
  assert.throws(() => downsampleMask(mask.subarray(1), w, h), RangeError);
});

test('PNG bytes are deterministic and carry no time, text or profile chunks', async () => {
  const w = 31;
  const h = 9;
  const chw = chwFromRgb(noiseBytes(w * h * 3, 7), w, h);
  const a = await encodeImage(chw, w, h, 'png');
  const b = await encodeImage(Float32Array.from(chw), w, h, 'png');
  assert.ok(a.equals(b), 'two encodings of the same pixels differ');
  const chunks = pngChunkTypes(a);
  assert.deepEqual([chunks[0], chunks.at(-1)], ['IHDR', 'IEND']);
  for (const meta of ['tIME', 'tEXt', 'iTXt', 'zTXt', 'eXIf', 'iCCP']) assert.ok(!chunks.includes(meta), `PNG has a ${meta} chunk: ${chunks}`);
  const other = Float32Array.from(chw);
  other[0] = -other[0]! || 0.5;
  assert.ok(!a.equals(await encodeImage(other, w, h, 'png')), 'a different pixel must change the bytes');
});

test('format sniffing and undecodable bytes', async () => {
  const gif = await encodeRaw(paint(2, 2, () => RED), 2, 2).gif().toBuffer();
  const png = await encodeRaw(paint(8, 8, () => RED), 8, 8).png().toBuffer();
  assert.equal(imageFormatOf(await encodeRaw(paint(2, 2, () => RED), 2, 2).jpeg().toBuffer()), 'jpeg');
  assert.equal(imageFormatOf(await encodeRaw(paint(2, 2, () => RED), 2, 2).webp().toBuffer()), 'webp');
  assert.equal(imageFormatOf(gif), null);
  assert.equal(imageFormatOf(Buffer.from('not an image at all')), null);
  assert.equal(imageFormatOf(new Uint8Array(0)), null);
  assert.equal(imageFormatOf(png.subarray(0, 7)), null);

  const cannotDecode = (err: Error) => err instanceof ImageDecodeError && /image cannot be decoded/.test(err.message);
  await assert.rejects(decodeImage(Buffer.from('not an image at all')), cannotDecode);
  await assert.rejects(decodeImage(gif), cannotDecode);
  // A PNG signature followed by garbage, and a truncated PNG: sharp fails, and says why.
  await assert.rejects(decodeImage(Buffer.concat([png.subarray(0, 8), Buffer.from('garbage garbage garbage')])), cannotDecode);
  await assert.rejects(decodeImage(png.subarray(0, png.length - 20)), cannotDecode);
  await assert.rejects(decodeMask(Buffer.from([0xff, 0xd8, 0xff, 0, 1, 2]), 8, 8, { source: 'luminance' }), cannotDecode);
  // Uint8Array (not Buffer) input works.
  assert.equal((await decodeImage(new Uint8Array(png))).width, 8);
});

test('imageTensorFromBatch returns image k of an NCHW batch', () => {
  const per = 3 * 4 * 2;
  const batch = Float32Array.from({ length: 3 * per }, (_, i) => i);
  const second = imageTensorFromBatch(batch, 1, 4, 2);
  assert.equal(second.length, per);
  assert.equal(second[0], per);
  assert.equal(second[per - 1], 2 * per - 1);
  assert.throws(() => imageTensorFromBatch(batch, 3, 4, 2), RangeError);
  assert.throws(() => imageTensorFromBatch(batch.subarray(1), 0, 4, 2), RangeError);
});

test('contactSheet lays images out in a grid, centring smaller ones', async () => {
  const solid = (rgb: Rgb, size: number) => encodeRaw(paint(size, size, () => rgb), size, size).png().toBuffer();
  const images = [{ png: await solid(RED, 8) }, { png: await solid(GREEN, 8) }, { png: await solid(BLUE, 8) }, { png: await solid([255, 255, 255], 4) }];
  const sheet = await contactSheet(images, 2, { gap: 2, background: '#000000' });
  assert.equal(imageFormatOf(sheet), 'png');
  const { data, info } = await rawOf(sheet);
  assert.deepEqual([info.width, info.height], [2 * 8 + 3 * 2, 2 * 8 + 3 * 2]);
  const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  assert.deepEqual(at(0, 0), [0, 0, 0], 'gap');
  assert.deepEqual(at(2 + 4, 2 + 4), [...RED]);
  assert.deepEqual(at(2 + 8 + 2 + 4, 2 + 4), [...GREEN]);
  assert.deepEqual(at(2 + 4, 2 + 8 + 2 + 4), [...BLUE]);
  // The 4×4 white image sits in the middle of the last 8×8 cell (x, y from 12 to 19; image 14..17).
  assert.deepEqual(at(15, 15), [255, 255, 255]);
  assert.deepEqual(at(13, 13), [0, 0, 0]);
  assert.ok(sheet.equals(await contactSheet(images, 2, { gap: 2, background: '#000000' })));
  const oneRow = await rawOf(await contactSheet(images, 10, { gap: 0 }));
  assert.deepEqual([oneRow.info.width, oneRow.info.height], [32, 8]);
});

test('crc32 is the PNG one; text chunks: tEXt for Latin-1, iTXt for the rest, spliced after IHDR and read back', async () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
  const tEXt = textChunk('parameters', 'a cat');
  assert.equal(tEXt.toString('latin1', 4, 8), 'tEXt');
  assert.equal(tEXt.readUInt32BE(0), 'parameters'.length + 1 + 'a cat'.length);
  assert.equal(tEXt.readUInt32BE(tEXt.length - 4), crc32(tEXt.subarray(4, tEXt.length - 4)));
  assert.equal(textChunk('parameters', 'un café').toString('latin1', 4, 8), 'tEXt');
  assert.equal(textChunk('parameters', '猫 🐈').toString('latin1', 4, 8), 'iTXt');
  assert.throws(() => textChunk('', 'x'), RangeError);

  const w = 8;
  const h = 4;
  const chw = new Float32Array(3 * w * h).map((_, i) => ((i % 17) / 8) - 1);
  const plain = await encodeImage(chw, w, h, 'png');
  assert.deepEqual(readPngText(plain), {});
  const tagged = await encodeImage(chw, w, h, 'png', undefined, { parameters: 'a cat\nSteps: 4', Comment: '猫 🐈' });
  assert.deepEqual(readPngText(tagged), { parameters: 'a cat\nSteps: 4', Comment: '猫 🐈' });
  assert.equal(tagged.toString('latin1', 33 + 4, 33 + 8), 'tEXt', 'right after IHDR');
  // libpng checks every chunk's CRC: the image still decodes to the same pixels.
  const [a, b] = await Promise.all([plain, tagged].map((p) => sharp(p).raw().toBuffer()));
  assert.ok(a!.equals(b!));
  assert.ok(withPngText(plain, {}).equals(plain));
  assert.throws(() => withPngText(Buffer.from('not a png at all, not a png at all'), { a: 'b' }), RangeError);
  // Only PNG takes text.
  const jpeg = await encodeImage(chw, w, h, 'jpeg', 90, { parameters: 'x' });
  assert.equal(imageFormatOf(jpeg), 'jpeg');
});

test("a1111Parameters: A1111's layout, its sampler names, quoting, no negative line when there is none", () => {
  const base = { prompt: 'a fox', steps: 20, scheduler: 'euler_a' as const, guidance: 7, seed: 42, width: 512, height: 768, model: 'darkroom-demo' };
  assert.equal(a1111Parameters({ ...base, negativePrompt: 'blurry' }), 'a fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model: darkroom-demo');
  assert.equal(a1111Parameters({ ...base, negativePrompt: '' }), 'a fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model: darkroom-demo');
  assert.equal(
    a1111Parameters({ ...base, scheduler: 'dpmpp_2m_karras', guidance: 7.5, model: 'a,b', strength: 0.6, tiling: true }),
    'a fox\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: "a,b", Denoising strength: 0.6, Tiling: True',
  );
});
