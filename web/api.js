// The page's one way to the server: the key the user gave (kept in localStorage), JSON calls with
// errors as readable messages, the SSE stream, and what the server offers (its OpenAPI document).
export const $ = (id) => document.getElementById(id);

const KEY = 'darkroom-key';
export const key = {
  get: () => localStorage.getItem(KEY) ?? '',
  set: (v) => localStorage.setItem(KEY, v.trim()),
  clear: () => localStorage.removeItem(KEY),
  // How the server shows a key in its listings (src/core/accounts.ts shortString).
  short: (v = key.get()) => `${v.slice(0, 3)}...${v.slice(-4)}`,
};

export class ApiError extends Error {
  constructor(status, message) {
    super(`${status} ${message}`);
    this.status = status;
  }
}

/** Errors come in each dialect's envelope: Stablecog's {error, field, description}, OpenAI's {error: {message, param}}. */
function describe(body) {
  if (!body || typeof body !== 'object') return String(body);
  const e = body.error;
  const message = typeof e === 'object' ? e?.message : e;
  const field = body.field ?? (typeof e === 'object' ? e?.param : undefined);
  return `${message}${field ? ` (${field})` : ''}${body.description ? `: ${body.description}` : ''}`;
}

export async function api(path, init = {}) {
  const headers = { ...(init.headers ?? {}), Authorization: `Bearer ${key.get()}` };
  if (typeof init.body === 'string') headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { ...init, headers });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new ApiError(res.status, describe(body));
  return body;
}

export const json = (method, value) => ({ method, body: JSON.stringify(value) });

/**
 * Live events over Server-Sent Events, read with fetch: the stream needs the key, which EventSource
 * cannot send. Resolves once the server has subscribed (its first frame), with the controller that closes it.
 */
export async function listen(streamId, onEvent) {
  const controller = new AbortController();
  const res = await fetch(`/v1/sse?id=${streamId}`, { headers: { Authorization: `Bearer ${key.get()}` }, signal: controller.signal });
  if (!res.ok || !res.body) return controller;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let subscribed;
  const ready = new Promise((r) => { subscribed = r; setTimeout(r, 1000); });
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer.slice(0, cut).split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        buffer = buffer.slice(cut + 2);
        if (!data) continue;
        const e = JSON.parse(data);
        if ('version' in e) subscribed(); else onEvent(e);
      }
    }
  })().catch(() => undefined);
  await ready;
  return controller;
}

/** The server's routes and query parameters, so the page offers only what this server (its version, its dialects) has. */
let doc = { paths: {} };
export async function loadRoutes() {
  doc = await fetch('/openapi.json').then((r) => r.json());
}
export const offers = (method, path, param) => {
  const op = doc.paths[path]?.[method];
  return Boolean(op) && (!param || (op.parameters ?? []).some((p) => p.name === param));
};

/** The generation models (Stablecog's list: UUID ids, each with its schedulers) and defaults. */
export const catalog = { models: [], defaults: {} };
export async function loadCatalog() {
  const [list, defaults] = await Promise.all([fetch('/v1/image/generation/models').then((r) => r.json()), fetch('/v1/image/generation/defaults').then((r) => r.json())]);
  catalog.models = list.models;
  catalog.defaults = defaults;
}
export const modelById = (id) => catalog.models.find((m) => m.id === id);

export async function refreshCredits() {
  try { $('credits').textContent = `${(await api('/v1/credits')).total_remaining_credits} credits`; }
  catch { $('credits').textContent = ''; }
}

/** Copies text to the clipboard and says so where the user clicked. */
export async function copy(text, statusEl) {
  try {
    await navigator.clipboard.writeText(text);
    statusEl.className = 'status'; statusEl.textContent = 'Copied.';
  } catch (err) {
    statusEl.className = 'status error'; statusEl.textContent = `Cannot copy: ${err.message}`;
  }
}
