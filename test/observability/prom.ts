/** Reading the Prometheus text format in tests: one sample's value by name and labels. */

function parseLabels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of raw.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

/** Every sample of `name` with its labels and value. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m && m[1] === name) out.push({ labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample of `name` whose labels include `labels`; 0 when there is none yet. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const hit = samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit?.value ?? 0;
}
