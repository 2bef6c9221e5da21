// API keys and usage. Revoking the key the page itself uses would lock the page out: it asks first.
import { $, api, json, key } from './api.js';
import { askForKey } from './app.js';

export async function loadKeys() {
  try {
    const { tokens } = await api('/v1/user/tokens');
    $('keyRows').replaceChildren(...tokens.map((t) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td></td><td class="mono"></td><td></td><td></td><td><button>Revoke</button></td>`;
      const inUse = t.short_string === key.short();
      tr.children[0].textContent = t.name + (inUse ? ' (this page)' : '');
      tr.children[1].textContent = t.short_string ?? '';
      tr.children[2].textContent = new Date(t.created_at).toLocaleString(); tr.children[3].textContent = t.uses ?? '';
      tr.querySelector('button').onclick = () => revoke(t, inUse);
      return tr;
    }));
  } catch (err) { $('keyRows').textContent = err.message; }
}

async function revoke(token, inUse) {
  if (inUse && !confirm(`${token.short_string} is the key this page uses. Once it is revoked the page is locked out until you enter another key. Revoke it?`)) return;
  try {
    await api('/v1/user/tokens', json('DELETE', { id: token.id }));
  } catch (err) { $('newKeyOut').textContent = err.message; return; }
  if (!inUse) return loadKeys();
  key.clear();
  $('keyRows').replaceChildren();
  askForKey('The key this page used was revoked. Paste another key of this server.');
}

$('newKey').addEventListener('click', async () => {
  try {
    const t = await api('/v1/user/tokens', json('POST', { name: $('keyName').value || 'web' }));
    $('newKeyOut').textContent = `New key (shown once): ${t.token}`;
    loadKeys();
  } catch (err) { $('newKeyOut').textContent = err.message; }
});

export async function loadUsage() {
  try {
    const { operations } = await api('/v1/user/operations?per_page=50');
    $('usageRows').replaceChildren(...operations.map((o) => {
      const tr = document.createElement('tr');
      for (const v of [new Date(o.created_at).toLocaleString(), o.operation_type, o.dialect ?? '', o.prompt ?? '', o.status, o.cost, o.source ?? '']) {
        const td = document.createElement('td'); td.textContent = v; tr.append(td);
      }
      tr.children[3].className = 'prompt';
      tr.children[3].title = o.prompt ?? '';
      return tr;
    }));
  } catch (err) { $('usageRows').textContent = err.message; }
}
