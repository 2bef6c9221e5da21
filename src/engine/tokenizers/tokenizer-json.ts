/**
 * The BPE model of a Hugging Face `tokenizer.json` (the `tokenizers` library's file, and all that
 * transformers 5 `save_pretrained` writes for a CLIP tokenizer): `model.vocab` (token → id) and
 * `model.merges`, written either as `"a b"` strings (older files) or as `["a", "b"]` pairs (newer ones).
 * Added tokens missing from the model's vocabulary (they keep their own ids) are added to it.
 */
export interface BpeModel {
  vocab: Record<string, number>;
  merges: (string | readonly [string, string])[];
}

export function parseTokenizerJson(path: string, json: unknown): BpeModel {
  const fail = (what: string): never => {
    throw new Error(`CLIP tokenizer: ${path} ${what}`);
  };
  if (!isObject(json)) return fail('is not a JSON object');
  const model = json['model'];
  if (!isObject(model)) return fail('has no "model" object');
  if (model['type'] !== undefined && model['type'] !== 'BPE') return fail(`holds a ${String(model['type'])} model, not BPE`);
  const vocab = model['vocab'];
  if (!isObject(vocab)) return fail('has no "model.vocab" object of token → id');
  const rawMerges = model['merges'];
  if (!Array.isArray(rawMerges)) return fail('has no "model.merges" list');
  const merges = rawMerges.map((m: unknown, i): string | readonly [string, string] => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    return fail(`model.merges[${i}] is neither "a b" nor ["a", "b"]: ${JSON.stringify(m)}`);
  });
  const withAdded: Record<string, number> = { ...(vocab as Record<string, number>) };
  const added = json['added_tokens'];
  if (Array.isArray(added)) {
    for (const t of added) {
      if (isObject(t) && typeof t['content'] === 'string' && typeof t['id'] === 'number' && !(t['content'] in withAdded)) withAdded[t['content']] = t['id'];
    }
  }
  return { vocab: withAdded, merges };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
