// The gallery: the caller's outputs, newest first, by cursor; searched by prompt, filtered by model and size.
import { $, api, catalog, offers } from './api.js';
import { fromListing, openDetail, whenDeleted } from './detail.js';
import { figure } from './generate.js';

let cursor;
/** Each load gets a number, so an answer to an older search never lands after a newer one. */
let generation = 0;

export function fillFilters() {
  $('filterModel').replaceChildren($('filterModel').options[0], ...catalog.models.map((m) => new Option(m.name, m.id)));
  $('search').hidden = !offers('get', '/v1/image/generation/outputs', 'search');
}

function query() {
  const q = new URLSearchParams({ per_page: '24' });
  if ($('search').value.trim() && !$('search').hidden) q.set('search', $('search').value.trim());
  if ($('filterModel').value) q.set('model_ids', $('filterModel').value);
  if ($('filterWidth').value) q.set('widths', $('filterWidth').value);
  if ($('filterHeight').value) q.set('heights', $('filterHeight').value);
  if (cursor) q.set('cursor', cursor);
  return q;
}

export async function loadGallery(more = false) {
  const mine = ++generation;
  if (!more) cursor = undefined;
  try {
    const page = await api(`/v1/image/generation/outputs?${query()}`);
    if (mine !== generation) return;
    const figures = page.outputs.map((o) => {
      const item = fromListing(o);
      return figure(item.upscaledUrl ?? item.url, item.prompt, item);
    });
    if (more) $('galleryGrid').append(...figures); else $('galleryGrid').replaceChildren(...figures);
    $('galleryEmpty').hidden = $('galleryGrid').children.length > 0;
    cursor = page.next;
    $('more').hidden = !cursor;
  } catch (err) {
    if (mine === generation) $('galleryGrid').textContent = err.message;
  }
}
$('more').addEventListener('click', () => loadGallery(true));
$('filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadGallery(); });
for (const id of ['filterModel', 'filterWidth', 'filterHeight']) $(id).addEventListener('change', () => loadGallery());
let typing;
$('search').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => loadGallery(), 300); });
whenDeleted((id) => $('galleryGrid').querySelector(`figure[data-id="${CSS.escape(id)}"]`)?.remove());
