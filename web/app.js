// Darkroom's web page: talks to the server's Stablecog-dialect API (with Darkroom's extensions, such
// as mask_image_url for inpainting) with an API key the user pastes. Plain modules, no framework: it must work offline.
import { $, api, key, loadCatalog, loadRoutes, refreshCredits } from './api.js';
import { fillForm } from './generate.js';
import { fillFilters, loadGallery } from './gallery.js';
import { loadKeys, loadUsage } from './account.js';

for (const b of document.querySelectorAll('nav button[data-tab]')) {
  b.addEventListener('click', () => {
    for (const x of document.querySelectorAll('nav button[data-tab]')) x.classList.toggle('on', x === b);
    for (const s of document.querySelectorAll('main > section')) s.classList.toggle('on', s.id === b.dataset.tab);
    ({ gallery: loadGallery, keys: loadKeys, usage: loadUsage })[b.dataset.tab]?.();
  });
}

/** The key prompt: shown at the first visit, when the key is refused, and after the page's own key is revoked. */
export function askForKey(reason) {
  if (reason) $('keyReason').textContent = reason;
  $('keyInput').value = '';
  $('keyError').textContent = '';
  $('keyShown').textContent = '';
  $('credits').textContent = '';
  if (!$('keyDialog').open) $('keyDialog').showModal();
}
$('keyDialog').addEventListener('cancel', (ev) => { if (!key.get()) ev.preventDefault(); });
$('keyForm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const previous = key.get();
  key.set($('keyInput').value);
  try {
    await api('/v1/credits');
  } catch (err) {
    if (previous) key.set(previous); else key.clear();
    $('keyError').textContent = `This key is not accepted: ${err.message}`;
    return;
  }
  $('keyDialog').close();
  showKey();
});
$('changeKey').addEventListener('click', () => askForKey('Paste an API key of this server.'));

function showKey() {
  $('keyShown').textContent = key.get() ? key.short() : '';
  refreshCredits();
  const tab = document.querySelector('nav button.on')?.dataset.tab;
  ({ gallery: loadGallery, keys: loadKeys, usage: loadUsage })[tab]?.();
}

try {
  await Promise.all([loadRoutes(), loadCatalog()]);
  fillForm();
  fillFilters();
} catch (err) {
  $('status').textContent = `cannot load models: ${err.message}`;
}
if (!key.get()) askForKey();
else api('/v1/credits').then(showKey, () => askForKey('The stored key is not accepted any more. Paste another key of this server.'));
