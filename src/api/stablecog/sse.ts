/**
 * GET /v1/sse?id=<stream id>: Server-Sent Events for the generations and upscales a client started
 * with that `stream_id` (Stablecog's web SSE, opened to API clients). Frames are `data: <json>`:
 * first `{"version": ...}`, then `creation_process` messages (status queued → processing →
 * succeeded|failed, with the outputs on success) and Darkroom's `creation_progress` messages
 * (step / total_steps, and every DARKROOM_PREVIEW_EVERY steps a small JPEG `preview` of the first
 * image so far) in between. The caller's API key is required and only the caller's own
 * requests are heard: stream ids are chosen by clients, so they are no secret to rely on. (Browsers
 * read it with fetch and an Authorization header, as the web page does; EventSource sends no headers.)
 */
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { streamChannel, type JobEvent } from '../../queue/types.ts';
import type { ApiOptions, ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { StreamId } from './schemas.ts';

const KEEPALIVE_MS = 15_000;

export function registerSse(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { events, generations, imageAccess } = services;
  mount(
    createRoute({
      method: 'get',
      path: '/v1/sse',
      operationId: 'streamEvents',
      tags: ['Generation'],
      summary: 'Live status and step progress (Server-Sent Events)',
      security: [{ bearer: [] }],
      description:
        'Open this before sending a generation with the same `stream_id`, with the same account\'s key: only that account\'s requests are heard. Frames: `{"version"}` first, then ' +
        '`{"message_type":"creation_process","process_type","status":"queued|processing|succeeded|failed","id","stream_id","outputs"?,"nsfw_count"?,"error"?}` ' +
        'and `{"message_type":"creation_progress","process_type","id","stream_id","step","total_steps","preview"?}`, in order. `preview` (Darkroom), every DARKROOM_PREVIEW_EVERY steps ' +
        '(default 5; 0: never) but the last, is the first image of the batch so far: a JPEG data URL (`data:image/jpeg;base64,...`), at most 256 px on its longest side.',
      request: { query: z.object({ id: StreamId }) },
      responses: { 200: { description: 'An event stream.', content: { 'text/event-stream': { schema: z.string() } } }, 401: { description: 'No valid API key.' } },
    }),
    (c, { query }) => {
      const streamId = query.id;
      const userId = c.get('auth').user.id;
      return streamSSE(c, async (stream) => {
        const queue: JobEvent[] = [];
        let wake: (() => void) | undefined;
        const unsubscribe = events.subscribe(streamChannel(userId, streamId), (e) => {
          queue.push(e);
          wake?.();
        });
        let open = true;
        stream.onAbort(() => {
          open = false;
          wake?.();
        });
        try {
          await stream.writeSSE({ data: JSON.stringify({ version: options.version }) });
          while (open) {
            if (!queue.length) {
              let timer: NodeJS.Timeout | undefined;
              await new Promise<void>((resolve) => {
                wake = resolve;
                timer = setTimeout(resolve, KEEPALIVE_MS);
                timer.unref();
              });
              clearTimeout(timer);
              wake = undefined;
              if (!queue.length && open) await stream.write(': keep-alive\n\n');
              continue;
            }
            const e = queue.shift()!;
            const process_type = e.kind;
            if (e.type === 'progress') {
              const frame = { message_type: 'creation_progress', process_type, id: e.id, stream_id: streamId, step: e.step, total_steps: e.total, ...(e.preview ? { preview: e.preview } : {}) };
              await stream.writeSSE({ data: JSON.stringify(frame) });
              continue;
            }
            const status = e.status === 'running' ? 'processing' : e.status;
            const message: Record<string, unknown> = { message_type: 'creation_process', process_type, status, id: e.id, stream_id: streamId };
            if (e.error) message['error'] = e.error;
            if (e.status === 'succeeded' && e.kind === 'generate') {
              const outs = await generations.outputs(e.id);
              // As Stablecog's workers reported them: the flagged ones left out, counted in nsfw_count.
              const shown = outs.filter((o) => !o.nsfw);
              message['outputs'] = shown.map((o) => ({ id: o.id, image_url: imageUrl(c, options.publicUrl, imageAccess, o.image_key), created_at: o.created_at }));
              if (shown.length < outs.length) message['nsfw_count'] = outs.length - shown.length;
            }
            await stream.writeSSE({ data: JSON.stringify(message) });
          }
        } finally {
          unsubscribe();
        }
      });
    },
  );
}
