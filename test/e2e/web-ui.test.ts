/**
 * The web page in a real headless Chromium against the real server (the demo model, a temporary
 * data directory): key prompt, text-to-image with live preview, the detail view (download, copy,
 * reuse, upscale, delete), image-to-image from a file, inpainting with a mask drawn by mouse, cancel,
 * gallery search and filters, usage rows, and the warning before revoking the page's own key.
 * Skipped, saying so, when no Chromium is installed. WEB_SCREENSHOTS=<dir> also saves screenshots
 * of the main views there (docs/web/*.png are made that way).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

function findChromium(): string | undefined {
  const named = process.env['CHROMIUM_PATH'];
  if (named) return existsSync(named) ? named : undefined;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const chromium = findChromium();
const skip = chromium ? false : 'no Chromium found (install Debian\'s chromium, or set CHROMIUM_PATH): the browser tests of the web page are skipped';
const SHOTS = process.env['WEB_SCREENSHOTS'];

let server: TestServer;
let browser: Browser;
let page: Page;
/** The page's own account: a user of its own, so the admin key is never the one revoked. */
let user: { key: string; userId: string };
const START_CREDITS = 500;

interface Listed {
  id: string;
  image_url: string;
  upscaled_image_url?: string;
  generation: {
    prompt: { text: string };
    negative_prompt?: { text: string };
    model_id: string;
    scheduler_id: string;
    width: number;
    height: number;
    seed: number;
    inference_steps: number;
    guidance_scale: number;
    init_image_url?: string;
    prompt_strength?: number;
  };
}

async function listing(query = ''): Promise<Listed[]> {
  const r = await server.api(`/v1/image/generation/outputs?per_page=300${query}`, { key: user.key });
  assert.equal(r.status, 200);
  return ((await r.json()) as { outputs: Listed[] }).outputs;
}
async function credits(): Promise<number> {
  return ((await (await server.api('/v1/credits', { key: user.key })).json()) as { total_remaining_credits: number }).total_remaining_credits;
}
const shot = async (name: string) => {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`) });
};
/** Sets a form control's value as a user would (the page listens to input/change). */
async function setValue(selector: string, value: string): Promise<void> {
  await page.$eval(
    selector,
    (el, v) => {
      (el as HTMLInputElement).value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    },
    value,
  );
}
const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
const value = (selector: string) => page.$eval(selector, (el) => (el as HTMLInputElement).value);
const resultIds = () => page.$$eval('#results figure[data-id]', (fs) => fs.map((f) => (f as HTMLElement).dataset['id']!));
async function waitForStatus(re: RegExp, timeout = 120_000): Promise<string> {
  await page.waitForFunction((source) => new RegExp(source).test(document.getElementById('status')!.textContent ?? ''), { timeout, polling: 50 }, re.source);
  return text('#status');
}
/** Clicks Generate (whatever the mode) and waits for the page to say it is done. */
async function generate(): Promise<string> {
  await page.$eval('#status', (el) => (el.textContent = ''));
  await page.click('#go');
  return waitForStatus(/done in/);
}
async function openDetailOf(selector: string): Promise<void> {
  await page.click(selector);
  await page.waitForSelector('#detail[open]');
}
async function closeDetail(): Promise<void> {
  await page.click('#detailClose');
  await page.waitForSelector('#detail:not([open])');
}

before(async () => {
  if (!chromium) return;
  server = await startTestServer({ DARKROOM_DEFAULT_MODEL: 'darkroom-demo', DARKROOM_PREVIEW_EVERY: '2' });
  user = await makeUser(server, 'web', START_CREDITS);
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'], defaultViewport: { width: 1280, height: 860 } });
  await browser.defaultBrowserContext().overridePermissions(server.url, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url, { waitUntil: 'networkidle0' });
  assert.deepEqual(errors, [], 'the page loads without script errors');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('the key prompt refuses a wrong key and takes a right one', { skip, timeout: 180_000 }, async () => {
  await page.waitForSelector('#keyDialog[open]');
  await page.type('#keyInput', 'dk_not-a-key');
  await page.click('#keySave');
  await page.waitForFunction(() => /not accepted/.test(document.getElementById('keyError')!.textContent ?? ''));
  assert.ok(await page.$('#keyDialog[open]'));
  await setValue('#keyInput', '');
  await page.type('#keyInput', user.key);
  await page.click('#keySave');
  await page.waitForSelector('#keyDialog:not([open])');
  await page.waitForFunction((n) => document.getElementById('credits')!.textContent === `${n} credits`, {}, START_CREDITS);
});

const PROMPT = 'a large red star on a blue background';

test('text to image: a live preview while it runs, then the final images', { skip, timeout: 180_000 }, async () => {
  await setValue('#prompt', PROMPT);
  await setValue('#negative', 'green');
  await setValue('#steps', '30');
  await setValue('#seed', '7');
  await setValue('#outputs', '2');
  // Every preview the page shows, recorded as it appears (a preview can be replaced within milliseconds).
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { previews: string[] }).previews = seen;
    new MutationObserver(() => {
      const img = document.querySelector<HTMLImageElement>('#results figure.preview img');
      if (img && !seen.includes(img.src)) seen.push(img.src);
    }).observe(document.getElementById('results')!, { childList: true, subtree: true });
  });
  assert.match(await generate(), /done in [\d.]+ s · \d+ credits left/);
  const previews = await page.evaluate(() => (window as unknown as { previews: string[] }).previews);
  assert.ok(previews.length >= 2, `previews shown: ${previews.length}`);
  for (const p of previews) assert.match(p, /^data:image\/jpeg;base64,/);
  const ids = await resultIds();
  assert.equal(ids.length, 2);
  assert.equal(await page.$('#results figure.preview'), null, 'the final images replace the preview');
  await page.waitForSelector('#cancel', { hidden: true, timeout: 1000 }); // nothing to cancel any more
  const sizes = await page.$$eval('#results img', (imgs) => Promise.all(imgs.map(async (i) => (await (i as HTMLImageElement).decode(), (i as HTMLImageElement).naturalWidth))));
  assert.deepEqual(sizes, [256, 256]);
  assert.equal(await credits(), START_CREDITS - 2);
  assert.equal(await text('#credits'), `${START_CREDITS - 2} credits`);
  await shot('generate');
});

test('detail view: download link, copy prompt and settings, use these settings again', { skip, timeout: 180_000 }, async () => {
  const [first, second] = await resultIds();
  await openDetailOf(`#results figure[data-id="${second}"]`);
  const listed = (await listing()).find((o) => o.id === second)!;
  const href = await page.$eval('#detailDownload', (a) => (a as HTMLAnchorElement).href);
  assert.equal(new URL(href).pathname, new URL(listed.image_url).pathname, 'the download link is the image');
  assert.ok(await page.$eval('#detailDownload', (a) => a.hasAttribute('download')));
  const image = await fetch(href);
  assert.equal(image.status, 200);
  assert.equal((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).format, 'png');
  await shot('detail');

  await page.click('#copyPrompt');
  await page.waitForFunction(() => document.getElementById('detailStatus')!.textContent === 'Copied.');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), PROMPT);
  await page.$eval('#detailStatus', (el) => (el.textContent = ''));
  await page.click('#copySettings');
  await page.waitForFunction(() => document.getElementById('detailStatus')!.textContent === 'Copied.');
  const settings = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(settings, `${PROMPT}\nNegative prompt: green\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 8, Size: 256x256, Model: darkroom-demo`, 'the settings the server wrote into the PNG, as A1111 writes them');

  await closeDetail();
  const sent = { model: await value('#model'), scheduler: await value('#scheduler') };
  for (const [id, v] of [['#prompt', 'something else'], ['#negative', ''], ['#steps', '12'], ['#seed', ''], ['#guidance', '3'], ['#width', '320']]) await setValue(id!, v!);
  await openDetailOf(`#results figure[data-id="${second}"]`);
  await page.click('#reuse');
  await page.waitForSelector('#detail:not([open])');
  const form = await page.evaluate(() => Object.fromEntries(['prompt', 'negative', 'model', 'scheduler', 'width', 'height', 'steps', 'guidance', 'seed'].map((id) => [id, (document.getElementById(id) as HTMLInputElement).value])));
  assert.deepEqual(form, { prompt: PROMPT, negative: 'green', model: sent.model, scheduler: sent.scheduler, width: '256', height: '256', steps: '30', guidance: '7', seed: '8' });
  assert.ok(first);
});

test('upscale from the detail view', { skip, timeout: 180_000 }, async () => {
  const [first] = await resultIds();
  const before = await credits();
  await openDetailOf(`#results figure[data-id="${first}"]`);
  assert.equal(await page.$eval('#detailDownloadUp', (el) => el.checkVisibility()), false, 'no upscale to download yet');
  await page.click('#upscale');
  await page.waitForSelector('#detailDownloadUp', { visible: true, timeout: 120_000 });
  const href = await page.$eval('#detailDownloadUp', (a) => (a as HTMLAnchorElement).href);
  const meta = await sharp(Buffer.from(await (await fetch(href)).arrayBuffer())).metadata();
  assert.ok(meta.width! > 256, `upscaled to ${meta.width}`);
  assert.ok((await listing()).find((o) => o.id === first)?.upscaled_image_url, 'the server has the upscale');
  assert.equal(await credits(), before - 1);
  assert.ok(await page.$eval('#upscale', (b) => (b as HTMLButtonElement).disabled), 'an upscaled image offers no second upscale');
  await closeDetail();
});

test('send an output to image to image from its detail view', { skip, timeout: 180_000 }, async () => {
  const [first] = await resultIds();
  await setValue('#prompt', 'something else');
  await openDetailOf(`#results figure[data-id="${first}"]`);
  await page.click('#toImg2img');
  await page.waitForSelector('#detail:not([open])');
  assert.ok(await page.$('.modes button[data-mode="img2img"].on'));
  await page.waitForSelector('#initPreview', { visible: true });
  assert.equal(await page.$eval('#initPreview', (img) => (img as HTMLImageElement).naturalWidth), 256);
  assert.equal(await value('#prompt'), PROMPT);
  await page.click('.modes button[data-mode="txt2img"]');
});

let initPng: string;

test('image to image from a picked file, with its strength', { skip, timeout: 180_000 }, async () => {
  initPng = join(server.dataDir, 'init.png');
  // A yellow square on green: the page uploads it and generates from it.
  await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 30, g: 160, b: 60 } } })
    .composite([{ input: await sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 240, g: 220, b: 30 } } }).png().toBuffer(), left: 80, top: 80 }])
    .png()
    .toFile(initPng);
  await page.click('.modes button[data-mode="img2img"]');
  const input = await page.$('#initFile');
  await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(initPng);
  await page.waitForSelector('#initPreview', { visible: true });
  await setValue('#strength', '0.65');
  assert.equal(await text('#strengthValue'), '0.65');
  await setValue('#prompt', 'a small yellow square on a green background');
  await setValue('#seed', '');
  await setValue('#outputs', '1');
  await generate();
  const [id] = await resultIds();
  const g = (await listing()).find((o) => o.id === id)!.generation;
  assert.match(g.init_image_url ?? '', /^s3:\/\//, 'made from the uploaded file');
  assert.equal(g.prompt_strength, 0.65);
});

test('inpaint: through the create route with the form\'s settings, previews, and the mask drawn with the mouse', { skip, timeout: 180_000 }, async () => {
  await page.click('.modes button[data-mode="inpaint"]');
  await page.waitForSelector('#maskEditor', { visible: true });
  await page.waitForSelector('#strengthBox', { visible: true });
  assert.equal(await page.$eval('#steps', (el) => (el as HTMLInputElement).disabled), false, 'every setting applies to inpainting');
  await setValue('#brush', '40');
  const box = (await (await page.$('#mask'))!.boundingBox())!;
  // A horizontal stroke across the middle of the top quarter, in image pixels y = 64, x = 32..224.
  const at = (x: number, y: number) => [box.x + (x / 256) * box.width, box.y + (y / 256) * box.height] as const;
  await page.mouse.move(...at(32, 64));
  await page.mouse.down();
  for (let x = 48; x <= 224; x += 16) await page.mouse.move(...at(x, 64));
  await page.mouse.up();
  await shot('inpaint');
  const scheduler = await page.$eval('#scheduler', (s) => [...(s as HTMLSelectElement).options].map((o) => o.value).find((v) => v !== (s as HTMLSelectElement).value)!);
  await setValue('#scheduler', scheduler);
  await setValue('#negative', 'blurry');
  await setValue('#steps', '12');
  await setValue('#guidance', '5');
  await setValue('#seed', '42');
  await setValue('#strength', '0.8');
  await setValue('#outputs', '1');
  // What the page sends, read off its fetch: the create body, and each upload's file by the name the server gave it.
  await page.evaluate(() => {
    const w = window as unknown as { created: string[]; uploads: Record<string, string>; previews: string[] };
    w.created = [];
    w.uploads = {};
    w.previews = [];
    const original = window.fetch;
    window.fetch = async (input, init) => {
      const res = await original(input, init);
      if (String(input).includes('/v1/image/generation/create')) w.created.push(String(init?.body));
      if (String(input).includes('/v1/image/upload') && init?.body instanceof FormData) {
        const file = init.body.get('file') as Blob;
        const object = ((await res.clone().json()) as { object: string }).object;
        w.uploads[object] = btoa(String.fromCharCode(...new Uint8Array(await file.arrayBuffer())));
      }
      return res;
    };
    new MutationObserver(() => {
      const img = document.querySelector<HTMLImageElement>('#results figure.preview img');
      if (img && !w.previews.includes(img.src)) w.previews.push(img.src);
    }).observe(document.getElementById('results')!, { childList: true, subtree: true });
  });
  const before = await credits();
  await generate();
  const { created, uploads, previews } = await page.evaluate(() => {
    const w = window as unknown as { created: string[]; uploads: Record<string, string>; previews: string[] };
    return { created: w.created, uploads: w.uploads, previews: w.previews };
  });
  assert.equal(created.length, 1, 'one request, to the create route');
  const body = JSON.parse(created[0]!) as Record<string, unknown>;
  assert.ok(previews.length >= 1, `previews shown: ${previews.length}`);
  assert.equal(typeof body['stream_id'], 'string', 'with a progress stream');
  assert.deepEqual(Object.keys(uploads).sort(), [body['init_image_url'], body['mask_image_url']].sort(), 'the image and the mask went up through /v1/image/upload');

  const mask = sharp(Buffer.from(uploads[body['mask_image_url'] as string]!, 'base64'));
  const meta = await mask.metadata();
  assert.deepEqual([meta.width, meta.height], [256, 256], 'the mask has the image\'s size');
  const { data, info } = await mask.raw().toBuffer({ resolveWithObject: true });
  const red = (x: number, y: number) => data[(y * 256 + x) * info.channels]!;
  for (const [x, y] of [[40, 64], [128, 64], [200, 60], [128, 75]] as const) assert.equal(red(x, y), 255, `painted (${x},${y}) is white: repaint`);
  for (const [x, y] of [[128, 128], [10, 200], [250, 250], [128, 100]] as const) assert.equal(red(x, y), 0, `unpainted (${x},${y}) is black: keep`);
  if (info.channels === 4) assert.ok([0, 100, 255].every((x) => data[(128 * 256 + x) * 4 + 3] === 255), 'opaque');

  const ids = await resultIds();
  assert.equal(ids.length, 1);
  const g = (await listing()).find((o) => o.id === ids[0])!.generation;
  assert.deepEqual(
    { negative: g.negative_prompt?.text, scheduler: g.scheduler_id, steps: g.inference_steps, guidance: g.guidance_scale, seed: g.seed, strength: g.prompt_strength, init: g.init_image_url },
    { negative: 'blurry', scheduler, steps: 12, guidance: 5, seed: 42, strength: 0.8, init: body['init_image_url'] },
    'the generation has the form\'s settings',
  );
  assert.equal(await credits(), before - 1);
  // Invert turns the mask around: what was painted is kept now.
  await page.click('#maskInvert');
  const inverted = await page.evaluate(async () => {
    const { maskImage } = await import('/web/mask.js' as string);
    const bitmap = await createImageBitmap(await maskImage());
    const c = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    c.drawImage(bitmap, 0, 0);
    return [c.getImageData(128, 64, 1, 1).data[0], c.getImageData(128, 128, 1, 1).data[0]];
  });
  assert.deepEqual(inverted, [0, 255]);
  await page.click('.modes button[data-mode="txt2img"]');
});

test('delete from the detail view asks first; once confirmed the image is gone', { skip, timeout: 180_000 }, async () => {
  const [id] = await resultIds();
  await openDetailOf(`#results figure[data-id="${id}"]`);
  page.once('dialog', (d) => void d.dismiss());
  await page.click('#delete');
  assert.ok(await page.$('#detail[open]'));
  assert.ok((await listing()).some((o) => o.id === id), 'dismissed: still there');
  page.once('dialog', (d) => void d.accept());
  await page.click('#delete');
  await page.waitForSelector('#detail:not([open])');
  assert.equal(await page.$(`#results figure[data-id="${id}"]`), null);
  assert.ok(!(await listing()).some((o) => o.id === id), 'gone from the server\'s listing');
});

test('cancel a running generation: cancelled, credits back', { skip, timeout: 180_000 }, async () => {
  const before = await credits();
  await setValue('#width', '384');
  await setValue('#height', '384');
  await setValue('#steps', '50');
  await setValue('#outputs', '4');
  await page.click('#go');
  await page.waitForSelector('#cancel', { visible: true });
  await waitForStatus(/step \d+ of 50/);
  await page.click('#cancel');
  assert.match(await waitForStatus(/cancelled/), /cancelled · 4 credits refunded/);
  await page.waitForFunction(() => !(document.getElementById('go') as HTMLButtonElement).disabled);
  assert.equal(await credits(), before);
  await page.waitForFunction((n) => document.getElementById('credits')!.textContent === `${n} credits`, {}, before);
  await page.waitForSelector('#cancel', { hidden: true, timeout: 1000 });
  await setValue('#width', '256');
  await setValue('#height', '256');
});

test('gallery: search by prompt, filter by model and size', { skip, timeout: 180_000 }, async () => {
  // Two more outputs, by the API: one of another model, one of another size.
  for (const json of [{ prompt: 'Tiny Test Picture', model_id: 'tiny-sd1' }, { prompt: 'a wide picture', width: 320 }]) {
    const r = await server.api('/v1/image/generation/create', { method: 'POST', key: user.key, json: { height: 256, width: 256, num_outputs: 1, ...json } });
    assert.equal(r.status, 200, await r.clone().text());
  }
  await page.click('nav button[data-tab="gallery"]');
  const shown = () => page.$$eval('#galleryGrid figure', (fs) => fs.map((f) => (f as HTMLElement).dataset['id']!).sort());
  const all = await listing();
  await page.waitForFunction((n) => document.querySelectorAll('#galleryGrid figure').length === n, {}, all.length);

  await page.type('#search', 'RED STAR');
  const stars = all.filter((o) => /red star/i.test(o.generation.prompt.text)).map((o) => o.id).sort();
  assert.ok(stars.length > 0 && stars.length < all.length);
  await page.waitForFunction((n) => document.querySelectorAll('#galleryGrid figure').length === n, {}, stars.length);
  assert.deepEqual(await shown(), stars);
  assert.equal(await page.$eval('#more', (el) => el.checkVisibility()), false, 'one page holds them all');
  await shot('gallery');

  await setValue('#search', '');
  const tinyModel = await page.$eval('#filterModel', (s) => [...(s as HTMLSelectElement).options].find((o) => /tiny/i.test(o.text))!.value);
  await page.select('#filterModel', tinyModel);
  await page.waitForFunction(() => document.querySelectorAll('#galleryGrid figure').length === 1);
  await page.select('#filterModel', '');
  await setValue('#filterWidth', '320');
  await page.waitForFunction(() => document.querySelectorAll('#galleryGrid figure').length === 1);
  assert.deepEqual(await shown(), all.filter((o) => o.generation.width === 320).map((o) => o.id));
  await setValue('#search', 'no such prompt anywhere');
  await page.waitForSelector('#galleryEmpty', { visible: true });
  await setValue('#filterWidth', '');
  await setValue('#search', '');
});

test('usage rows name the dialect and the prompt', { skip, timeout: 180_000 }, async () => {
  await page.click('nav button[data-tab="usage"]');
  await page.waitForFunction(() => document.querySelectorAll('#usageRows tr').length > 3);
  const rows = await page.$$eval('#usageRows tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.ok(rows.some((r) => r[1] === 'generate' && r[2] === 'stablecog' && r[3] === PROMPT), JSON.stringify(rows));
  assert.ok(rows.some((r) => r[1] === 'upscale'));
});

test('revoking the key the page uses asks first; dismissed keeps it, accepted locks the page out', { skip, timeout: 180_000 }, async () => {
  const other = (await (await server.api('/v1/user/tokens', { method: 'POST', key: user.key, json: { name: 'spare' } })).json()) as { id: string };
  await page.click('nav button[data-tab="keys"]');
  await page.waitForFunction(() => document.querySelectorAll('#keyRows tr').length === 2);
  // Another key goes without a question.
  let asked = false;
  const onDialog = () => (asked = true);
  page.on('dialog', onDialog);
  await page.$$eval('#keyRows tr', (trs) => (trs.find((tr) => tr.textContent?.includes('spare'))!.querySelector('button') as HTMLButtonElement).click());
  await page.waitForFunction(() => document.querySelectorAll('#keyRows tr').length === 1);
  page.off('dialog', onDialog);
  assert.equal(asked, false);
  const left = ((await (await server.api('/v1/user/tokens', { key: user.key })).json()) as { tokens: { id: string }[] }).tokens;
  assert.ok(!left.some((t) => t.id === other.id), 'the spare key was revoked');

  const own = await page.$eval('#keyRows tr', (tr) => tr.textContent ?? '');
  assert.match(own, /this page/);
  let message = '';
  page.once('dialog', (d) => ((message = d.message()), void d.dismiss()));
  await page.click('#keyRows tr button');
  assert.match(message, /locked out/);
  assert.equal(await page.evaluate(() => localStorage.getItem('darkroom-key')), user.key);
  assert.equal((await server.api('/v1/credits', { key: user.key })).status, 200, 'dismissed: the key still works');

  page.once('dialog', (d) => void d.accept());
  await page.click('#keyRows tr button');
  await page.waitForSelector('#keyDialog[open]');
  assert.match(await text('#keyReason'), /revoked/);
  assert.equal(await page.evaluate(() => localStorage.getItem('darkroom-key')), null);
  assert.equal((await server.api('/v1/credits', { key: user.key })).status, 401, 'accepted: the key is revoked');
});
