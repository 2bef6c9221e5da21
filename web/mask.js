// The inpainting mask, painted with a brush over the image (as in A1111's inpaint tab): white strokes
// on a transparent canvas at the image's own size mark what to repaint.
import { $ } from './api.js';

const canvas = $('mask');
const ctx = canvas.getContext('2d');
let painting = false;
let last;
let painted = false;

$('brush').addEventListener('input', () => { $('brushValue').textContent = $('brush').value; });
$('brushValue').textContent = $('brush').value;

/** Shows `url` under an empty mask of the image's size. */
export async function setMaskImage(url) {
  const img = $('maskBase');
  img.src = url;
  await img.decode();
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  clear();
}

export function clear() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  painted = false;
}

// The brush is sized in the image's pixels, so a stroke covers the same part of the image at any zoom.
function point(ev) {
  const r = canvas.getBoundingClientRect();
  return { x: ((ev.clientX - r.left) * canvas.width) / r.width, y: ((ev.clientY - r.top) * canvas.height) / r.height };
}

function stroke(from, to) {
  ctx.strokeStyle = ctx.fillStyle = '#fff';
  ctx.lineCap = ctx.lineJoin = 'round';
  ctx.lineWidth = +$('brush').value;
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  painted = true;
}

canvas.addEventListener('pointerdown', (ev) => {
  painting = true;
  canvas.setPointerCapture(ev.pointerId);
  last = point(ev);
  stroke(last, last);
});
canvas.addEventListener('pointermove', (ev) => {
  if (!painting) return;
  const p = point(ev);
  stroke(last, p);
  last = p;
});
for (const end of ['pointerup', 'pointercancel']) canvas.addEventListener(end, () => { painting = false; });

$('maskClear').addEventListener('click', clear);
$('maskInvert').addEventListener('click', () => {
  const old = document.createElement('canvas');
  old.width = canvas.width; old.height = canvas.height;
  old.getContext('2d').drawImage(canvas, 0, 0);
  ctx.globalCompositeOperation = 'copy';
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.globalCompositeOperation = 'destination-out';
  ctx.drawImage(old, 0, 0);
  ctx.globalCompositeOperation = 'source-over';
  painted = true;
});

export const hasMask = () => painted;

/**
 * The mask as the create route's mask_image_url takes it (the engine's luminance mask): a PNG of the
 * image's size, white where painted (repaint), black elsewhere (keep).
 */
export function maskImage() {
  const out = document.createElement('canvas');
  out.width = canvas.width; out.height = canvas.height;
  const o = out.getContext('2d');
  o.fillStyle = '#000';
  o.fillRect(0, 0, out.width, out.height);
  o.drawImage(canvas, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, 'image/png'));
}
