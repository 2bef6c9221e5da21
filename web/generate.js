// The playground: text-to-image, image-to-image and inpainting (A1111's tabs), with a live preview,
// a step bar and a cancel button while the server works.
import { $, api, ApiError, catalog, json, key, listen, modelById, offers, refreshCredits } from './api.js';
import { openDetail, whenDeleted } from './detail.js';
import { hasMask, maskImage, setMaskImage } from './mask.js';

let mode = 'txt2img';
/** The image for image-to-image and inpainting, as the user gave it (a File or a Blob fetched from an output). */
let initImage;

export function fillForm() {
  const d = catalog.defaults;
  $('model').innerHTML = catalog.models.map((m) => `<option value="${m.id}">${m.name}</option>`).join('');
  $('model').value = d.model_id;
  fillSchedulers(d.scheduler_id);
  $('width').value = d.width; $('height').value = d.height;
  $('steps').value = d.inference_steps; $('guidance').value = d.guidance_scale;
  $('strength').value = d.prompt_strength ?? 0.5;
  showStrength();
  checkModel();
}

function fillSchedulers(selected) {
  const m = modelById($('model').value);
  $('scheduler').innerHTML = (m?.available_schedulers ?? []).map((s) => `<option value="${s.id}">${s.name}</option>`).join('');
  if (selected) $('scheduler').value = selected;
}
$('model').addEventListener('change', () => {
  fillSchedulers();
  const m = modelById($('model').value);
  if (m) { $('width').value = m.default_width; $('height').value = m.default_height; }
  checkModel();
});

/** Image-to-image and inpainting need a model with a VAE encoder. */
function checkModel() {
  const m = modelById($('model').value);
  const refused = mode !== 'txt2img' && m && !m.image_to_image;
  $('modelNote').hidden = !refused;
  $('modelNote').textContent = refused ? `${m.name} cannot start from an image (it has no VAE encoder); pick another model.` : '';
  $('go').disabled = Boolean(refused);
}

const showStrength = () => { $('strengthValue').textContent = (+$('strength').value).toFixed(2); };
$('strength').addEventListener('input', showStrength);

export function setMode(next) {
  mode = next;
  for (const b of document.querySelectorAll('.modes button')) b.classList.toggle('on', b.dataset.mode === mode);
  $('initBox').hidden = mode === 'txt2img';
  $('strengthBox').hidden = mode === 'txt2img';
  $('inpaintNote').hidden = mode !== 'inpaint';
  $('maskEditor').hidden = mode !== 'inpaint' || !initImage;
  $('go').textContent = { txt2img: 'Generate', img2img: 'Generate from image', inpaint: 'Inpaint' }[mode];
  checkModel();
}
for (const b of document.querySelectorAll('.modes button')) b.addEventListener('click', () => setMode(b.dataset.mode));

async function setInitImage(blob) {
  initImage = blob;
  const url = URL.createObjectURL(blob);
  $('initPreview').src = url;
  $('initPreview').hidden = false;
  await setMaskImage(url);
  setMode(mode);
}
$('initFile').addEventListener('change', () => { if ($('initFile').files[0]) setInitImage($('initFile').files[0]); });
const drop = $('drop');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const file = ev.dataTransfer.files[0];
  if (file) setInitImage(file);
});

function showTab(id) {
  document.querySelector(`nav button[data-tab="${id}"]`).click();
}

/** "Use these settings again": the form takes an output's settings, its own seed included. */
export function useSettings(item) {
  $('prompt').value = item.prompt;
  $('negative').value = item.negative ?? '';
  if (modelById(item.modelId)) { $('model').value = item.modelId; fillSchedulers(item.schedulerId); }
  $('width').value = item.width; $('height').value = item.height;
  $('steps').value = item.steps; $('guidance').value = item.guidance;
  $('seed').value = item.seed;
  if (item.strength !== undefined) { $('strength').value = item.strength; showStrength(); }
  setMode('txt2img');
  showTab('play');
}

/** "Send to image-to-image / inpaint": an output becomes the starting image, with its prompt and size. */
export async function sendImage(item, target) {
  const res = await fetch(item.url);
  if (!res.ok) throw new Error(`cannot fetch the image: ${res.status}`);
  $('prompt').value = item.prompt;
  $('width').value = item.width; $('height').value = item.height;
  await setInitImage(await res.blob());
  setMode(target);
  showTab('play');
}

export function figure(url, caption, item) {
  const f = document.createElement('figure');
  const img = document.createElement('img');
  img.src = url; img.alt = caption;
  const c = document.createElement('figcaption');
  c.textContent = caption;
  f.append(img, c);
  if (item) {
    f.dataset.id = item.id;
    f.addEventListener('click', () => openDetail(item));
  } else f.className = 'preview';
  return f;
}
whenDeleted((id) => $('results').querySelector(`figure[data-id="${CSS.escape(id)}"]`)?.remove());

const status = (text, bad = false) => { $('status').className = `status${bad ? ' error' : ''}`; $('status').textContent = text; };

/** Uploads an image through Stablecog's upload route; its s3:// name, for init_image_url or mask_image_url. */
async function upload(blob, name) {
  const form = new FormData();
  form.append('file', blob, name);
  return (await api('/v1/image/upload', { method: 'POST', body: form })).object;
}

/**
 * Stablecog's create, in every mode (inpainting by Darkroom's mask_image_url): progress, previews and
 * cancel over the SSE stream.
 */
async function create(settings) {
  const streamId = crypto.randomUUID();
  const progress = $('progress');
  let generationId;
  let cancelled;
  // Events can trail the answer (they travel by the event bus): none may touch the page once it is in.
  let over = false;
  const events = await listen(streamId, (e) => {
    if (over) return;
    if (e.message_type === 'creation_progress') {
      progress.max = e.total_steps; progress.value = e.step;
      status(`step ${e.step} of ${e.total_steps}`);
      if (e.preview) $('results').replaceChildren(figure(e.preview, `preview · step ${e.step} of ${e.total_steps}`));
    } else if (e.message_type === 'creation_process') {
      generationId = e.id;
      if (e.status === 'queued' || e.status === 'processing') $('cancel').hidden = !offers('post', '/v1/image/generation/{id}/cancel');
      if (e.status === 'processing') status('generating…');
    }
  });
  $('cancel').onclick = async () => {
    $('cancel').disabled = true;
    try {
      cancelled = await api(`/v1/image/generation/${encodeURIComponent(generationId)}/cancel`, { method: 'POST' });
      over = true;
      status(`cancelled · ${cancelled.refunded_credits} credits refunded`);
      refreshCredits();
    } catch (err) {
      status(err instanceof ApiError && err.status === 409 ? 'too late to cancel: it has ended' : err.message, err.status !== 409);
    } finally { $('cancel').disabled = false; }
  };
  try {
    if (mode !== 'txt2img') {
      status('uploading the image…');
      settings.init_image_url = await upload(initImage, 'init.png');
      settings.prompt_strength = +$('strength').value;
    }
    if (mode === 'inpaint') settings.mask_image_url = await upload(await maskImage(), 'mask.png');
    status('queued…');
    const res = await api('/v1/image/generation/create', json('POST', { ...settings, stream_id: streamId }));
    const items = res.outputs.map((o, k) => ({
      id: o.id, url: o.url, prompt: settings.prompt, negative: settings.negative_prompt ?? '', modelId: res.settings.model_id, schedulerId: res.settings.scheduler_id,
      width: res.settings.width, height: res.settings.height, steps: res.settings.inference_steps, guidance: res.settings.guidance_scale,
      seed: res.settings.seed + k, strength: res.settings.prompt_strength,
    }));
    return { items, credits: res.remaining_credits };
  } catch (err) {
    if (cancelled) return { cancelled };
    throw err;
  } finally {
    over = true;
    events.abort();
    $('cancel').hidden = true;
  }
}

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!key.get()) return;
  if (mode !== 'txt2img' && !initImage) { status('pick an image first', true); return; }
  if (mode === 'inpaint' && !hasMask()) { status('paint the area to repaint on the image first', true); return; }
  const settings = {
    prompt: $('prompt').value, negative_prompt: $('negative').value || undefined, model_id: $('model').value, scheduler_id: $('scheduler').value,
    width: +$('width').value, height: +$('height').value, inference_steps: +$('steps').value, guidance_scale: +$('guidance').value,
    num_outputs: +$('outputs').value, seed: $('seed').value === '' ? undefined : +$('seed').value,
  };
  const progress = $('progress');
  progress.hidden = false; progress.value = 0;
  status('starting…');
  $('go').disabled = true;
  const started = performance.now();
  try {
    const done = await create(settings);
    if (done.cancelled) return;
    $('results').replaceChildren(...done.items.map((item) => figure(item.url, item.seed !== undefined ? `seed ${item.seed}` : '', item.id ? item : undefined)));
    status(`done in ${((performance.now() - started) / 1000).toFixed(1)} s${done.credits !== undefined ? ` · ${done.credits} credits left` : ''}`);
    refreshCredits();
  } catch (err) {
    status(err.message, true);
  } finally {
    progress.hidden = true;
    checkModel();
  }
});
