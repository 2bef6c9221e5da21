// The image detail view (a click on any result or gallery image): the image enlarged, its settings,
// and what can be done with it: download, copy, reuse, send to image-to-image or inpaint, upscale, delete.
import { $, api, ApiError, copy, json, modelById, offers, refreshCredits } from './api.js';
import { sendImage, useSettings } from './generate.js';

/**
 * One output, whichever way the page learned of it: { id, url, upscaledUrl?, prompt, negative, modelId,
 * schedulerId, width, height, steps, guidance, seed, strength? } (ids as the Stablecog dialect gives them).
 */
export function fromListing(o) {
  const g = o.generation;
  const k = g.outputs.findIndex((s) => s.id === o.id);
  return {
    id: o.id, url: o.image_url, upscaledUrl: o.upscaled_image_url, prompt: g.prompt.text, negative: g.negative_prompt?.text ?? '',
    modelId: g.model_id, schedulerId: g.scheduler_id, width: g.width, height: g.height, steps: g.inference_steps, guidance: g.guidance_scale,
    seed: g.seed + Math.max(k, 0), strength: g.prompt_strength,
  };
}

const schedulerName = (item) => modelById(item.modelId)?.available_schedulers.find((s) => s.id === item.schedulerId)?.name ?? item.schedulerId;

/**
 * The settings as text. The server writes them into each PNG as A1111 does (the `parameters` chunk,
 * which A1111's PNG Info, image browsers and CivitAI read back), so that text is copied as it is;
 * a PNG without it (DARKROOM_PNG_METADATA=false) gets the same layout in the Stablecog dialect's names.
 */
async function settingsText(item) {
  const embedded = await pngParameters(item.url).catch(() => undefined);
  if (embedded) return embedded;
  const line = [
    `Steps: ${item.steps}`, `Sampler: ${schedulerName(item)}`, `CFG scale: ${item.guidance}`, `Seed: ${item.seed}`,
    `Size: ${item.width}x${item.height}`, `Model: ${modelById(item.modelId)?.darkroom_id ?? item.modelId}`,
    ...(item.strength !== undefined ? [`Denoising strength: ${item.strength}`] : []),
  ].join(', ');
  return `${item.prompt}\n${item.negative ? `Negative prompt: ${item.negative}\n` : ''}${line}`;
}

/** A PNG's `parameters` text (tEXt, or uncompressed iTXt as src/engine/png-text.ts writes it), read up to the image data. */
async function pngParameters(url) {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const view = new DataView(bytes.buffer);
  const latin1 = new TextDecoder('latin1');
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT') return undefined;
    const data = bytes.subarray(at + 8, at + 8 + length);
    const nul = data.indexOf(0);
    if (nul > 0 && latin1.decode(data.subarray(0, nul)) === 'parameters') {
      if (type === 'tEXt') return latin1.decode(data.subarray(nul + 1));
      if (type === 'iTXt' && data[nul + 1] === 0) {
        const language = data.indexOf(0, nul + 3);
        const translated = data.indexOf(0, language + 1);
        return new TextDecoder().decode(data.subarray(translated + 1));
      }
    }
    at += 12 + length;
  }
  return undefined;
}

const dialog = $('detail');
let current;
/** Called with an output's id once it is deleted, so every view showing it drops it. */
const onDelete = new Set();
export const whenDeleted = (fn) => onDelete.add(fn);

function show(item) {
  const shown = item.upscaledUrl ?? item.url;
  $('detailImage').src = shown;
  $('detailOpen').href = shown;
  $('detailDownload').href = item.url;
  $('detailDownload').download = `darkroom-${item.seed}.png`;
  $('detailDownloadUp').hidden = !item.upscaledUrl;
  if (item.upscaledUrl) { $('detailDownloadUp').href = item.upscaledUrl; $('detailDownloadUp').download = `darkroom-${item.seed}-upscaled.png`; }
  $('detailPrompt').textContent = item.prompt;
  const rows = [
    ['Negative', item.negative], ['Model', modelById(item.modelId)?.name ?? item.modelId], ['Scheduler', schedulerName(item)],
    ['Size', `${item.width} x ${item.height}`], ['Steps', item.steps], ['Guidance', item.guidance], ['Seed', item.seed],
    ['Strength', item.strength], ['Output id', item.id],
  ].filter(([, v]) => v !== undefined && v !== '');
  $('detailSettings').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    return [dt, dd];
  }));
  $('upscale').disabled = Boolean(item.upscaledUrl);
  $('delete').hidden = !offers('delete', '/v1/image/generation/outputs/{id}');
}

export function openDetail(item) {
  current = item;
  $('detailStatus').textContent = '';
  show(item);
  if (!dialog.open) dialog.showModal();
}

const status = (text, bad = false) => { $('detailStatus').className = `status${bad ? ' error' : ''}`; $('detailStatus').textContent = text; };

$('detailClose').addEventListener('click', () => dialog.close());
dialog.addEventListener('click', (ev) => { if (ev.target === dialog) dialog.close(); });
$('copyPrompt').addEventListener('click', () => copy(current.prompt, $('detailStatus')));
$('copySettings').addEventListener('click', async () => copy(await settingsText(current), $('detailStatus')));
$('reuse').addEventListener('click', () => { useSettings(current); dialog.close(); });
$('toImg2img').addEventListener('click', () => sendTo('img2img'));
$('toInpaint').addEventListener('click', () => sendTo('inpaint'));

async function sendTo(mode) {
  try {
    await sendImage(current, mode);
    dialog.close();
  } catch (err) { status(err.message, true); }
}

$('upscale').addEventListener('click', async () => {
  $('upscale').disabled = true;
  status('upscaling…');
  try {
    const res = await api('/v1/image/upscale/create', json('POST', { input: current.id }));
    current.upscaledUrl = res.outputs[0].upscaled_image_url;
    show(current);
    status(`upscaled · ${res.remaining_credits} credits left`);
    refreshCredits();
  } catch (err) {
    $('upscale').disabled = false;
    status(err.message, true);
  }
});

$('delete').addEventListener('click', async () => {
  if (!confirm('Delete this image? It is removed from the server for good.')) return;
  try {
    await api(`/v1/image/generation/outputs/${encodeURIComponent(current.id)}`, { method: 'DELETE' });
    for (const fn of onDelete) fn(current.id);
    dialog.close();
  } catch (err) {
    status(err instanceof ApiError && err.status === 404 ? 'This image is already gone.' : err.message, true);
  }
});
