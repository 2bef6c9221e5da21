/**
 * GET /v1/image/generation/outputs (alias /v1/image/outputs): the caller's outputs, filtered, by cursor;
 * each with its generation, which lists all of that generation's outputs (as Stablecog's OpenAPI document has it).
 * Image URLs are signed afresh on every call. DELETE /v1/image/generation/outputs/{id}: Darkroom's
 * own route (Stablecog's API has none) to delete one of them.
 */
import { createRoute } from '@hono/zod-openapi';
import { modelUuid } from '../../core/models.ts';
import { uuidV5, isUuid } from '../../core/uuid.ts';
import type { SchedulerName } from '../../engine/schedulers/index.ts';
import type { ApiOptions, ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { errorResponses, secured } from './openapi.ts';
import { schedulerNamed, stablecogScheduler } from './schedulers.ts';
import { DeletedOutputResponse, ErrorResponse, IdParam, OutputsQuery, OutputsResponse } from './schemas.ts';

export function registerOutputs(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { outputs, catalog, imageAccess, generations } = services;
  mount(
    createRoute({
      method: 'get',
      path: '/v1/image/generation/outputs',
      operationId: 'listOutputs',
      tags: ['Generation'],
      summary: "The caller's outputs, newest first, with filters",
      description:
        'Cursor pagination: pass the previous answer\'s `next` as `cursor`. `total` is given on the first page only. ' +
        '`search` finds outputs by their prompt (a part of it, any case). ' +
        "Stablecog's gallery-only filters (gallery_status, likes, aesthetic scores) do not apply to a private server.",
      ...secured,
      request: { query: OutputsQuery },
      responses: { 200: { description: 'One page of outputs.', content: { 'application/json': { schema: OutputsResponse } } }, ...errorResponses },
    }),
    async (c, { query: q }) => {
      const models = await catalog.list();
      const modelIds = q.model_ids?.map((ref) => (isUuid(ref) ? models.find((m) => m.uuid === ref.toLowerCase())?.id : ref) ?? ref);
      // An id or name we do not know filters as itself: it matches nothing.
      const schedulers = q.scheduler_ids?.map((ref): string => schedulerNamed(ref) ?? ref);
      const page = await outputs.query({
        userId: c.get('auth').user.id,
        perPage: q.per_page ?? 50,
        cursor: q.cursor,
        order: q.order ?? 'desc',
        orderBy: q.order_by ?? 'created_at',
        search: q.search,
        models: modelIds,
        schedulers,
        minWidth: q.min_width,
        maxWidth: q.max_width,
        minHeight: q.min_height,
        maxHeight: q.max_height,
        widths: q.widths,
        heights: q.heights,
        minSteps: q.min_inference_steps,
        maxSteps: q.max_inference_steps,
        steps: q.inference_steps,
        minGuidance: q.min_guidance_scale,
        maxGuidance: q.max_guidance_scale,
        guidances: q.guidance_scales,
        upscaled: q.upscaled ?? 'any',
        // Stablecog's workers dropped what their safety checker flagged: those outputs never existed there.
        withoutNsfw: true,
        start: q.start_dt,
        end: q.end_dt,
      });
      const url = (key: string) => imageUrl(c, options.publicUrl, imageAccess, key);
      // Stablecog's document nests each generation's outputs under it (GenerationQueryResponse.generation.outputs).
      const siblings = await outputs.ofGenerations(page.rows.map((o) => o.generation_id));
      return c.json(
        {
          ...(page.total !== undefined ? { total: page.total } : {}),
          ...(page.next ? { next: page.next } : {}),
          outputs: page.rows.map((o) => {
            const g = o.generation;
            return {
              id: o.id,
              image_url: url(o.image_key),
              ...(o.upscaled_image_key ? { upscaled_image_url: url(o.upscaled_image_key) } : {}),
              created_at: o.created_at,
              updated_at: o.updated_at,
              is_public: o.is_public === 1,
              gallery_status: 'not_submitted',
              was_auto_submitted: false,
              like_count: 0,
              generation: {
                id: g.id,
                created_at: g.created_at,
                ...(g.started_at ? { started_at: g.started_at } : {}),
                ...(g.completed_at ? { completed_at: g.completed_at } : {}),
                prompt: { id: uuidV5(`prompt:${g.prompt}`), text: g.prompt },
                ...(g.negative_prompt ? { negative_prompt: { id: uuidV5(`prompt:${g.negative_prompt}`), text: g.negative_prompt } } : {}),
                model_id: modelUuid(g.model),
                scheduler_id: stablecogScheduler(g.scheduler as SchedulerName).id,
                width: g.width,
                height: g.height,
                seed: Number(g.seed),
                inference_steps: g.steps,
                guidance_scale: g.guidance,
                num_outputs: g.num_outputs,
                ...(g.init_image_url ? { init_image_url: g.init_image_url } : {}),
                ...(g.prompt_strength !== null ? { prompt_strength: g.prompt_strength } : {}),
                outputs: (siblings.get(g.id) ?? []).filter((s) => !s.nsfw).map((s) => ({
                  id: s.id,
                  image_url: url(s.image_key),
                  ...(s.upscaled_image_key ? { upscaled_image_url: url(s.upscaled_image_key) } : {}),
                  gallery_status: 'not_submitted',
                  is_favorited: false,
                  was_auto_submitted: false,
                })),
              },
            };
          }),
        },
        200,
      );
    },
    { aliases: ['/v1/image/outputs'] },
  );

  mount(
    createRoute({
      method: 'delete',
      path: '/v1/image/generation/outputs/{id}',
      operationId: 'deleteOutput',
      tags: ['Generation'],
      summary: 'Delete one of your outputs (Darkroom)',
      description:
        'A Darkroom extension (Stablecog has no delete). The output leaves every listing (these outputs, its generation in every dialect), ' +
        'its image and upscaled image are removed from the store and their /images/ URLs answer 404. Its credits stay spent (usage keeps the charge).',
      ...secured,
      request: { params: IdParam },
      responses: {
        200: { description: 'Deleted.', content: { 'application/json': { schema: DeletedOutputResponse } } },
        404: { description: 'No output of yours with that id (output_not_found).', content: { 'application/json': { schema: ErrorResponse } } },
        ...errorResponses,
      },
    }),
    async (c, { params }) => {
      const output = await generations.deleteOutput(c.get('auth').user.id, params.id);
      return c.json({ id: output.id, deleted: true as const }, 200);
    },
  );
}
