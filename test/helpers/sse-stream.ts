/** Reading /v1/sse in tests: the frames as they come, and a wait for the next one that matches. */
import type { TestServer } from './server.ts';

export type Frame = Record<string, unknown>;

export interface SseStream {
  /** Every frame read so far. */
  frames: Frame[];
  /** The first frame (already read or still to come) that `match` accepts and no earlier call took. */
  next(match: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  close(): Promise<void>;
}

/** The `data:` frames of an SSE body, parsed, as they arrive. */
export async function* framesOf(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(0, cut).split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      buffer = buffer.slice(cut + 2);
      if (data) yield JSON.parse(data) as Frame;
    }
  }
}

/** Opens the stream with `key` and resolves once the server has subscribed (its first frame, the version, came). */
export async function openStream(t: TestServer, streamId: string, key?: string): Promise<SseStream> {
  const res = await t.api(`/v1/sse?id=${streamId}`, { key });
  if (res.status !== 200) throw new Error(`/v1/sse answered ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const frames: Frame[] = [];
  const taken = new Set<number>();
  let changed: () => void = () => undefined;
  let ended = false;
  void (async () => {
    try {
      for await (const frame of framesOf(reader)) {
        frames.push(frame);
        changed();
      }
    } catch {
      // cancelled by close()
    } finally {
      ended = true;
      changed();
    }
  })();
  const next = async (match: (frame: Frame) => boolean, timeoutMs = 30_000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = frames.findIndex((f, k) => !taken.has(k) && match(f));
      if (i >= 0) {
        taken.add(i);
        return frames[i]!;
      }
      if (ended) throw new Error(`the stream ended without the frame; it sent ${JSON.stringify(frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such frame within ${timeoutMs} ms; the stream sent ${JSON.stringify(frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  await next((f) => 'version' in f);
  return { frames, next, close: () => reader.cancel().catch(() => undefined) };
}
