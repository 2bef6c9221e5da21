/**
 * The denoising loop run by the loop graph (models/loop-graph.ts): K steps per session call, so the
 * per-step values (scaled latents, UNet output, guidance, step) stay where the session runs, and
 * progress, previews and cancellation come every K steps. The pictures are the JS loop's: the step is
 * the scheduler's coefficient table (held to its own `step`), and each step's noise is drawn, before the
 * call, from the same per-image streams in the same order.
 *
 * Runs the JS loop keeps: an inpainting UNet's extra channels, legacy inpainting's per-step blend,
 * ControlNet residuals (a second model between the steps), schedulers without a table (step-table.ts says
 * which and why), and timestep lists that are not the tail of the scheduler's own.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import { LOOP_IO, loopGraphFile } from '../models/loop-graph.ts';
import { OnnxSession, type SessionValue } from '../runtime/session.ts';
import { tableColumns, type StepTable } from '../schedulers/step-table.ts';
import { deviceLoopOn } from './device-loop-setting.ts';
import { GenerationCancelledError } from '../errors.ts';
import type { DenoiseInput } from './denoise.ts';

/** Steps per call when the run does not say (RunOptions.progressEvery): DARKROOM_PREVIEW_EVERY's default. */
export const DEFAULT_STEPS_PER_CALL = 5;

/** The table the run steps by, or why it keeps the JS loop. */
export function deviceLoopPlan(input: DenoiseInput): { table: StepTable } | { refused: string } {
  const { scheduler, timesteps } = input;
  if (input.extraChannels) return { refused: "an inpainting UNet's extra input channels" };
  if (input.afterStep) return { refused: 'a blend of the known region after each step (legacy inpainting)' };
  if (input.controlNets?.length) return { refused: 'ControlNet residuals' };
  if (!scheduler.stepTable) return { refused: `${scheduler.constructor.name} has no coefficient table` };
  const all = scheduler.timesteps;
  const begin = all.length - timesteps.length;
  if (begin < 0 || timesteps.some((t, i) => t !== all[begin + i])) return { refused: "timesteps that are not the tail of the scheduler's schedule" };
  const table = scheduler.stepTable(begin);
  if (!table) return { refused: `${scheduler.constructor.name}'s thresholding is not element-wise` };
  return { table };
}

/** The loop graph's session for this model and kind of guidance, opened once (the model disposes it). */
function loopSession(model: LoadedModel, guidance: boolean): Promise<OnnxSession> {
  return model.companion(`device-loop:${guidance ? 'cfg' : 'plain'}`, async () => {
    const file = await loopGraphFile(model.unet.path, guidance);
    return OnnxSession.load(file, { ...model.options, provider: model.provider });
  });
}

/** The loop through the loop graph; undefined where this run keeps the JS loop (logged once per reason). */
export async function denoiseOnDevice(input: DenoiseInput): Promise<Float32Array | undefined> {
  const { model } = input;
  if (!deviceLoopOn(model.options.deviceLoop ?? 'off', model.provider)) return undefined;
  const plan = deviceLoopPlan(input);
  if ('refused' in plan) {
    model.logOnce(`device loop: ${plan.refused}; this run keeps the JS loop`);
    return undefined;
  }
  const guidance = input.text.batch === 2 * input.shape.images;
  let session: OnnxSession;
  try {
    session = await loopSession(model, guidance);
  } catch (err) {
    model.logOnce(`device loop: the loop graph does not load (${err instanceof Error ? err.message : String(err)}); keeping the JS loop`);
    return undefined;
  }
  model.logOnce(`device loop: ${session.path} runs the denoising loop`);
  return runLoop(input, plan.table, session, guidance);
}

async function runLoop(input: DenoiseInput, table: StepTable, session: OnnxSession, guidance: boolean): Promise<Float32Array> {
  const { model, shape, text, options } = input;
  const dims = [shape.images, shape.channels, shape.height, shape.width];
  const size = input.latents.length;
  const perCall = Math.max(1, options.progressEvery ?? DEFAULT_STEPS_PER_CALL);
  const integerTimesteps = ['int32', 'int64'].includes(model.unet.input('timestep')?.type ?? '');
  const prepared: Record<string, SessionValue> = {};
  try {
    for (const [name, feed] of Object.entries(text.feeds)) prepared[name] = session.prepare(name, feed);
    const columns = tableColumns(table);
    prepared[LOOP_IO.coefficients] = session.prepare(LOOP_IO.coefficients, { data: columns, dims: [table.length, columns.length / table.length] });
    prepared[LOOP_IO.timesteps] = session.prepare(LOOP_IO.timesteps, {
      data: table.map((r) => (integerTimesteps ? Math.round(r.timestep) : r.timestep)),
      dims: [table.length],
    });
    if (guidance) prepared[LOOP_IO.guidance] = session.prepare(LOOP_IO.guidance, { data: text.guidance, dims: [shape.images] });

    let latents = input.latents;
    let previous: Float32Array = new Float32Array(size);
    let reported = 0;
    for (let start = 0; start < table.length; start += perCall) {
      if (options.signal?.aborted) throw new GenerationCancelledError();
      const rows = table.slice(start, start + perCall);
      const { host } = await session.runKeeping({
        ...prepared,
        [LOOP_IO.latents]: { data: latents, dims },
        [LOOP_IO.previous]: { data: previous, dims },
        [LOOP_IO.start]: { data: [start], dims: [] },
        [LOOP_IO.steps]: { data: [rows.length], dims: [] },
        [LOOP_IO.noise]: stepNoise(rows, input, dims),
      });
      latents = host[LOOP_IO.latentsOut]!.data;
      previous = host[LOOP_IO.previousOut]!.data;

      const done = start + rows.length;
      const step = Math.floor((done * input.steps) / table.length);
      if (options.onProgress && step > reported) {
        reported = step;
        const current = latents;
        const scale = rows.at(-1)!.previewScale;
        await options.onProgress({
          step,
          total: input.steps,
          preview: (image = 0) => {
            const per = current.length / shape.images;
            return input.decodePreview(current.subarray(image * per, (image + 1) * per).map((v) => v * scale));
          },
        });
      }
    }
    return latents;
  } finally {
    for (const value of Object.values(prepared)) value.dispose();
  }
}

/** The draws of these steps, in the JS loop's order (zeros where a step draws none); one zero value when none draws. */
function stepNoise(rows: StepTable, input: DenoiseInput, dims: number[]): { data: Float32Array; dims: number[] } {
  if (!rows.some((r) => r.drawsNoise)) return { data: new Float32Array(1), dims: [1, 1, 1, 1, 1] };
  const size = input.latents.length;
  const data = new Float32Array(rows.length * size);
  rows.forEach((r, k) => {
    if (r.drawsNoise) data.set(input.noise.next(), k * size);
  });
  return { data, dims: [rows.length, ...dims] };
}
