/**
 * ControlNet residuals, as diffusers' StableDiffusionControlNetPipeline feeds them (guess_mode off):
 * at each step every ControlNet runs once on the whole UNet batch (both guidance rows, its control map
 * repeated for each), its outputs are scaled by its weight (0 outside its start..end share of the
 * steps) and summed over ControlNets, and the sums go into the UNet's residual inputs.
 *
 * Exports name things differently (torch.onnx names a tuple's outputs positionally), so both sides are
 * read by position: a ControlNet's outputs are its down-block residuals in order, then the mid-block
 * one (last); a ControlNet-ready UNet's residual inputs are those whose names start with
 * "down_block" (in declared order, or by their trailing numbers when every name has one) and
 * mid_block_additional_residual.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineInputError, ModelFormatError } from '../errors.ts';
import type { OnnxSession, Feed, SessionValue } from '../runtime/session.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import type { LatentShape } from '../pipelines/denoise.ts';

export const MID_RESIDUAL_INPUT = 'mid_block_additional_residual';

export interface ResidualInputs {
  down: string[];
  mid: string;
}

/** The UNet's residual inputs, or undefined for a UNet that takes none. */
export function residualInputs(unet: OnnxSession): ResidualInputs | undefined {
  if (!unet.hasInput(MID_RESIDUAL_INPUT)) return undefined;
  const down = unet.inputs.map((i) => i.name).filter((n) => n.startsWith('down_block'));
  const number = (n: string) => Number(/(\d+)$/.exec(n)?.[1]);
  if (down.every((n) => Number.isInteger(number(n)))) down.sort((a, b) => number(a) - number(b));
  return { down, mid: MID_RESIDUAL_INPUT };
}

/** Refuses a ControlNet whose outputs do not match the UNet's residual inputs one for one. */
export function checkControlNet(model: LoadedModel, name: string, session: OnnxSession): void {
  const inputs = residualInputs(model.unet);
  if (!inputs) {
    throw new EngineInputError(
      'controlnets',
      `model ${model.id} has ControlNet "${name}" but its UNet takes no residuals (no input ${MID_RESIDUAL_INPUT}): export the UNet with the ControlNet residual inputs`,
    );
  }
  const missing = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond'].filter((n) => !session.hasInput(n));
  if (missing.length) throw new ModelFormatError(`ControlNet "${name}" of model ${model.id} has no input ${missing.join(', ')}`, session.path);
  if (session.outputs.length !== inputs.down.length + 1) {
    throw new ModelFormatError(
      `ControlNet "${name}" gives ${session.outputs.length} residuals but the UNet of model ${model.id} takes ${inputs.down.length + 1} (${inputs.down.length} down, 1 mid)`,
      session.path,
    );
  }
}

/** One ControlNet as one denoising loop runs it. */
export interface ControlNetRun {
  session: OnnxSession;
  /** controlnet_cond for the whole UNet batch: one control map per UNet row, [rows, 3, H, W]. */
  cond: Feed;
  weight: number;
  start: number;
  end: number;
}

/** diffusers' controlnet_keep: 1 while step i lies within start..end of the schedule, else 0. */
export function keeps(run: Pick<ControlNetRun, 'start' | 'end'>, step: number, steps: number): boolean {
  return !(step / steps < run.start || (step + 1) / steps > run.end);
}

function timestepFor(session: OnnxSession, t: number, batch: number): Feed {
  const shape = session.input('timestep')?.shape ?? ['batch'];
  if (shape.length === 0) return { data: [t], dims: [] };
  if (shape[0] === 1) return { data: [t], dims: [1] };
  return { data: new Array<number>(batch).fill(t), dims: [batch] };
}

/** The residual feeds of one denoising loop; dispose when the loop ends. */
export class Control {
  private readonly prepared: Map<OnnxSession, Record<string, SessionValue>>;

  constructor(
    readonly inputs: ResidualInputs,
    readonly nets: readonly ControlNetRun[],
    /** Zero residuals, for a ControlNet-ready UNet run without a ControlNet. */
    private readonly zeros: Record<string, Feed>,
    text: Record<string, Feed>,
  ) {
    // The text states are the same at every step: converted to each ControlNet's input types once.
    this.prepared = new Map(
      nets.map((n) => [n.session, Object.fromEntries(Object.entries(text).flatMap(([k, v]) => (n.session.hasInput(k) ? [[k, n.session.prepare(k, v)]] : [])))]),
    );
  }

  /** The UNet's residual inputs at step `step` of `steps`, for the 4-channel model input `sample` of the whole batch. */
  async residuals(step: number, steps: number, sample: Feed, t: number): Promise<Record<string, Feed>> {
    if (!this.nets.length) return this.zeros;
    const names = [...this.inputs.down, this.inputs.mid];
    const sums: Float32Array[] = [];
    const dims: number[][] = [];
    for (const net of this.nets) {
      const scale = keeps(net, step, steps) ? net.weight : 0;
      const s = net.session;
      const feeds: Record<string, Feed | SessionValue> = {
        ...this.prepared.get(s),
        sample,
        timestep: timestepFor(s, t, sample.dims[0]!),
        controlnet_cond: net.cond,
      };
      const scaleInput = s.input('conditioning_scale');
      if (scaleInput) feeds['conditioning_scale'] = { data: [scale], dims: scaleInput.shape.length ? [1] : [] };
      const { host } = await s.runKeeping(feeds);
      s.outputs.forEach((o, k) => {
        const out = host[o.name]!;
        const factor = scaleInput ? 1 : scale;
        if (!sums[k]) {
          sums[k] = out.data.map((v) => v * factor);
          dims[k] = out.dims;
        } else for (let i = 0; i < out.data.length; i++) sums[k]![i]! += out.data[i]! * factor;
      });
    }
    return Object.fromEntries(names.map((n, k) => [n, { data: sums[k]!, dims: dims[k]! }]));
  }

  dispose(): void {
    for (const values of this.prepared.values()) for (const v of Object.values(values)) v.dispose();
  }
}

interface UnetBlocks {
  blockOutChannels: number[];
  layersPerBlock: number;
}

const unetBlocks = new WeakMap<LoadedModel, Promise<UnetBlocks>>();

/** unet/config.json's block layout (diffusers' defaults, SD 1.5's, when absent). */
function blocksOf(model: LoadedModel): Promise<UnetBlocks> {
  let b = unetBlocks.get(model);
  if (!b) {
    b = readFile(join(model.info.dir, 'unet', 'config.json'), 'utf8')
      .then((text) => JSON.parse(text) as Record<string, unknown>)
      .catch(() => ({}) as Record<string, unknown>)
      .then((c) => ({
        blockOutChannels: Array.isArray(c['block_out_channels']) ? (c['block_out_channels'] as number[]) : [320, 640, 1280, 1280],
        layersPerBlock: typeof c['layers_per_block'] === 'number' ? c['layers_per_block'] : 2,
      }));
    unetBlocks.set(model, b);
  }
  return b;
}

/**
 * The down residuals a ControlNet gives, as channels and down-sampling factor (diffusers'
 * ControlNetModel: conv_in's state, then layers_per_block states per down block plus its
 * downsampler's, all but the last block). The mid residual has the last block's width and resolution.
 */
export function downResidualStates(ch: readonly number[], layersPerBlock: number): { channels: number; factor: number }[] {
  const states = [{ channels: ch[0]!, factor: 1 }];
  ch.forEach((c, i) => {
    for (let l = 0; l < layersPerBlock; l++) states.push({ channels: c, factor: 2 ** i });
    if (i < ch.length - 1) states.push({ channels: c, factor: 2 ** (i + 1) });
  });
  return states;
}

/** Zero residuals of the shapes a ControlNet would give, for a ControlNet-ready UNet run without one. */
async function zeroResiduals(model: LoadedModel, inputs: ResidualInputs, batch: number, shape: LatentShape): Promise<Record<string, Feed>> {
  const { blockOutChannels: ch, layersPerBlock } = await blocksOf(model);
  const states = downResidualStates(ch, layersPerBlock);
  if (states.length !== inputs.down.length) {
    throw new ModelFormatError(
      `the UNet of model ${model.id} takes ${inputs.down.length} down residuals, but unet/config.json's blocks make ${states.length}`,
      model.info.components.unet,
    );
  }
  const feed = (channels: number, factor: number): Feed => {
    const dims = [batch, channels, Math.ceil(shape.height / factor), Math.ceil(shape.width / factor)];
    return { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims };
  };
  const last = 2 ** (ch.length - 1);
  return {
    ...Object.fromEntries(inputs.down.map((n, k) => [n, feed(states[k]!.channels, states[k]!.factor)])),
    [inputs.mid]: feed(ch[ch.length - 1]!, last),
  };
}

/**
 * The Control of one loop: the given ControlNets, or zero residuals for a ControlNet-ready UNet run
 * without any; undefined for a plain UNet (which refuses ControlNets: checkControlNet).
 */
export async function controlFor(model: LoadedModel, nets: readonly ControlNetRun[], batch: number, shape: LatentShape, text: Record<string, Feed>): Promise<Control | undefined> {
  const inputs = residualInputs(model.unet);
  if (!inputs) return undefined;
  const zeros = nets.length ? {} : await zeroResiduals(model, inputs, batch, shape);
  return new Control(inputs, nets, zeros, text);
}
