/**
 * The denoising loop as one ONNX graph: an ONNX `Loop` whose body is scale → UNet → classifier-free
 * guidance → the scheduler's step read from its coefficient table (schedulers/step-table.ts), so K steps
 * run in one session call and only the latents, the tables, the text states and the step noise cross
 * between host and device (onnxruntime-node 1.29 binds outputs to device memory for WebGPU only, so with
 * CUDA every per-step value would otherwise make the round trip).
 *
 * The UNet's nodes and weights move into the body (weights as the body's initializers: read from the
 * enclosing scope instead, ONNX Runtime's CPU provider did not prepack them and the UNet ran 1.4x slower);
 * its inputs other than sample and timestep (text states, SDXL's pooled text and size ids, LCM's guidance
 * embedding) become inputs of the outer graph, fed once per call.
 *
 * Inputs: loop_latents, loop_previous (the last step's prediction, DPM++ 2M's history), loop_start (the
 * table row of the first step), loop_steps (K), loop_coefficients [rows, 9] (step-table.ts' columns),
 * loop_timesteps [rows] (float; rounded already for an integer timestep input), loop_guidance [images]
 * (with guidance), loop_noise [K or 1, images, c, h, w] (a step's draw, or one zero tensor for a run
 * without noise). Outputs: loop_latents_out, loop_previous_out.
 */
import { makeAttribute, makeTensor, makeValueInfo, type AttrValue, type TensorData, type TensorDType } from '../onnx/builder.ts';
import { AttributeType, DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.ts';
import { COEFFICIENT_COLUMNS } from '../schedulers/step-table.ts';
import { derivedModelFile } from './derived-file.ts';

const PREFIX = 'devloop_';

/** Names of the loop graph's own inputs and outputs (runner and graph agree on them here). */
export const LOOP_IO = {
  latents: 'loop_latents',
  previous: 'loop_previous',
  start: 'loop_start',
  steps: 'loop_steps',
  coefficients: 'loop_coefficients',
  timesteps: 'loop_timesteps',
  guidance: 'loop_guidance',
  noise: 'loop_noise',
  latentsOut: 'loop_latents_out',
  previousOut: 'loop_previous_out',
} as const;

/** Why a UNet graph cannot be looped (its inputs or outputs are not the ones the loop feeds). */
export class LoopGraphError extends Error {
  override name = 'LoopGraphError';
}

/** Nodes and constants with generated names, for one graph scope. */
class Nodes {
  readonly nodes: NodeProto[] = [];
  private counter = 0;

  constructor(
    private readonly tag: string,
    /** The loop's own small constants, initializers of the outer graph (the body reads them from the enclosing scope). */
    private readonly constants: TensorProto[],
  ) {}

  private name(hint: string): string {
    return `${PREFIX}${this.tag}_${hint}_${this.counter++}`;
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? this.name(opType.toLowerCase());
    this.nodes.push({
      input: [...inputs],
      output: [out],
      name: this.name(`${opType}_node`),
      op_type: opType,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    });
    return out;
  }

  constant(data: TensorData, dims: readonly number[], dtype: TensorDType = 'float32'): string {
    const name = this.name('const');
    this.constants.push(makeTensor(name, data, dims, dtype));
    return name;
  }

  /** A scalar int64 constant (Gather indices). */
  index(i: number): string {
    return this.constant([i], [], 'int64');
  }

  cast(x: string, to: number): string {
    return to === DataType.FLOAT ? x : this.op('Cast', [x], { to });
  }
}

function elemType(v: ValueInfoProto | undefined): number {
  const t = v?.type?.tensor_type?.elem_type;
  if (t === undefined) throw new LoopGraphError(`UNet value ${v?.name ?? '(none)'} has no tensor type`);
  return t;
}

function dims(v: ValueInfoProto): (number | string)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d, i) => d.dim_value ?? d.dim_param ?? `d${i}`);
}

const LATENT_DIMS = ['images', 'channels', 'height', 'width'];

/**
 * The loop graph of a UNet graph, with (`guidance`) or without an unconditional pass: with it the UNet sees
 * each step's latents twice ([uncond..., cond...], as the text states are laid out) and the step reads
 * uncond + g (cond - uncond) with each image's own g. Takes the UNet's nodes and initializers (the model
 * passed in is not used again by the caller).
 */
export function buildLoopGraph(unet: ModelProto, options: { guidance: boolean }): ModelProto {
  const g = unet.graph;
  if (!g) throw new LoopGraphError('the UNet model has no graph');
  const inputs = new Map((g.input ?? []).map((i) => [i.name!, i]));
  const sample = inputs.get('sample');
  const timestep = inputs.get('timestep');
  const output = g.output?.[0];
  if (!sample || !timestep || !output) throw new LoopGraphError('the UNet graph needs inputs "sample" and "timestep" and an output');
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o.startsWith(PREFIX)) throw new LoopGraphError(`the UNet already has a value named ${o}`);
  const constants: TensorProto[] = [];
  const outer = new Nodes('outer', constants);
  const body = new Nodes('body', constants);

  // Outer graph: what the body reads once per call, made once per call.
  const noiseDims = outer.op('Shape', [LOOP_IO.noise]);
  const noiseLast = outer.op('Sub', [outer.op('Gather', [noiseDims, outer.index(0)], { axis: 0 }), outer.constant([1], [], 'int64')]);
  const guidance = options.guidance ? outer.op('Reshape', [LOOP_IO.guidance, outer.constant([-1, 1, 1, 1], [4], 'int64')]) : undefined;

  // Body: one step. Coefficients of row loop_start + iteration.
  const iter = `${PREFIX}iteration`;
  const condIn = `${PREFIX}cond_in`;
  const x = `${PREFIX}x`;
  const prev = `${PREFIX}previous`;
  const row = body.op('Gather', [LOOP_IO.coefficients, body.op('Add', [iter, LOOP_IO.start])], { axis: 0 });
  const coefficient = Object.fromEntries(
    COEFFICIENT_COLUMNS.map((name, c) => [name, body.op('Gather', [row, body.index(c)], { axis: 0 })]),
  ) as Record<(typeof COEFFICIENT_COLUMNS)[number], string>;

  const scaled = body.cast(body.op('Mul', [x, coefficient.scale]), elemType(sample));
  body.op(options.guidance ? 'Concat' : 'Identity', options.guidance ? [scaled, scaled] : [scaled], options.guidance ? { axis: 0 } : {}, 'sample');
  const t = body.cast(body.op('Gather', [LOOP_IO.timesteps, body.op('Add', [iter, LOOP_IO.start])], { axis: 0 }), elemType(timestep));
  const tDims = dims(timestep);
  if (tDims.length === 0) body.op('Identity', [t], {}, 'timestep');
  else if (tDims[0] === 1) body.op('Reshape', [t, body.constant([1], [1], 'int64')], {}, 'timestep');
  else body.op('Expand', [t, body.op('Slice', [body.op('Shape', ['sample']), body.constant([0], [1], 'int64'), body.constant([1], [1], 'int64')])], {}, 'timestep');
  const pre = body.nodes.splice(0);

  // After the UNet: guidance, then the step.
  const raw = body.cast(output.name!, DataType.FLOAT);
  let m = raw;
  if (guidance) {
    const halves = body.op('Reshape', [raw, body.op('Concat', [body.constant([2], [1], 'int64'), body.op('Shape', [x])], { axis: 0 })]);
    const uncond = body.op('Gather', [halves, body.index(0)], { axis: 0 });
    const cond = body.op('Gather', [halves, body.index(1)], { axis: 0 });
    m = body.op('Add', [uncond, body.op('Mul', [guidance, body.op('Sub', [cond, uncond])])]);
  }
  const unclipped = body.op('Add', [body.op('Mul', [x, coefficient.predX]), body.op('Mul', [m, coefficient.predM])]);
  const prediction = body.op('Clip', [unclipped, body.op('Neg', [coefficient.clip]), coefficient.clip], {}, `${PREFIX}prediction`);
  const noise = body.op('Gather', [LOOP_IO.noise, body.op('Min', [iter, noiseLast])], { axis: 0 });
  const terms = [
    body.op('Mul', [x, coefficient.nextX]),
    body.op('Mul', [prediction, coefficient.nextPred]),
    body.op('Mul', [prev, coefficient.nextPrev]),
    body.op('Mul', [m, coefficient.nextM]),
    body.op('Mul', [noise, coefficient.nextNoise]),
  ];
  body.op('Sum', terms, {}, `${PREFIX}x_next`);
  body.op('Identity', [condIn], {}, `${PREFIX}cond_out`);

  const latent = (name: string) => makeValueInfo(name, 'float32', LATENT_DIMS);
  const bodyGraph: GraphProto = {
    name: 'denoising_step',
    node: [...pre, ...(g.node ?? []), ...body.nodes],
    input: [makeValueInfo(iter, 'int64', []), makeValueInfo(condIn, 'bool', []), latent(x), latent(prev)],
    output: [makeValueInfo(`${PREFIX}cond_out`, 'bool', []), latent(`${PREFIX}x_next`), latent(`${PREFIX}prediction`)],
    value_info: g.value_info ?? [],
    initializer: g.initializer ?? [],
  };
  outer.nodes.push({
    input: [LOOP_IO.steps, '', LOOP_IO.latents, LOOP_IO.previous],
    output: [LOOP_IO.latentsOut, LOOP_IO.previousOut],
    name: `${PREFIX}loop`,
    op_type: 'Loop',
    attribute: [{ name: 'body', type: AttributeType.GRAPH, g: bodyGraph }],
  });

  const own = [
    latent(LOOP_IO.latents),
    latent(LOOP_IO.previous),
    makeValueInfo(LOOP_IO.start, 'int64', []),
    makeValueInfo(LOOP_IO.steps, 'int64', []),
    makeValueInfo(LOOP_IO.coefficients, 'float32', ['rows', COEFFICIENT_COLUMNS.length]),
    makeValueInfo(LOOP_IO.timesteps, 'float32', ['rows']),
    ...(options.guidance ? [makeValueInfo(LOOP_IO.guidance, 'float32', ['images'])] : []),
    makeValueInfo(LOOP_IO.noise, 'float32', ['draws', 'noise_images', 'channels', 'height', 'width']),
  ];
  // Older exports also list every weight among the inputs; the weights are the body's now.
  const weights = new Set((g.initializer ?? []).map((t) => t.name));
  const rest = (g.input ?? []).filter((i) => i.name !== 'sample' && i.name !== 'timestep' && !weights.has(i.name));
  return {
    ...unet,
    graph: {
      name: `${g.name ?? 'unet'}_loop`,
      node: outer.nodes,
      initializer: constants,
      input: [...own, ...rest],
      output: [latent(LOOP_IO.latentsOut), latent(LOOP_IO.previousOut)],
    },
  };
}

/** Part of the twins' names: a twin is reused while newer than its UNet, so a change to the graph's form needs a new name. */
const FORM = 'devloop-v2';

/** The loop twin of the UNet file `unetPath` (`model.devloop-v2-cfg.onnx` / `-plain`), made on first use. */
export async function loopGraphFile(unetPath: string, guidance: boolean): Promise<string> {
  const r = await derivedModelFile(unetPath, `${FORM}-${guidance ? 'cfg' : 'plain'}`, (m) => buildLoopGraph(m, { guidance }));
  return r.path;
}
