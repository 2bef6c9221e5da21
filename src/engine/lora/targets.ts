/**
 * Which ONNX initializer holds the weight of each module of a model file, the way a LoRA names modules.
 *
 * Exporters keep PyTorch parameter names for most weights (`down_blocks.0.resnets.0.conv1.weight`,
 * Gemm weights too), but torch.onnx stores Linear layers that become MatMul transposed, under names of
 * its own (`onnx::MatMul_1234`); the node still carries the module path in its name
 * (`/down_blocks.0/attentions.0/.../to_q/MatMul`). So every Conv, Gemm and MatMul is followed back from
 * its weight input through Cast, Identity and Transpose to an initializer, and the module path is taken
 * from the initializer's name when it is a parameter name, else from the node's.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { derivedPath } from '../models/derived-file.ts';
import { decodeModel, type ModelProto, type NodeProto } from '../onnx/proto.ts';

export interface Target {
  /** The initializer to change. */
  initializer: string;
  /** Its dims as stored. */
  dims: number[];
  /** Stored as PyTorch has it ([out, in] or [out, in, kh, kw]), or transposed ([in, out]: MatMul, Gemm without transB). */
  transposed: boolean;
  /** The module's weight shape as PyTorch has it. */
  shape: number[];
}

export type TargetIndex = Map<string, Target>;

const WEIGHT_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
const PASS_THROUGH = new Set(['Cast', 'Identity']);

function attr(node: NodeProto, name: string): number | undefined {
  return node.attribute?.find((a) => a.name === name)?.i;
}

/** `/down_blocks.0/attentions.0/proj_in/MatMul` → `down_blocks.0.attentions.0.proj_in`. */
function moduleOfNode(name: string | undefined): string | undefined {
  const parts = (name ?? '').split('/').filter(Boolean);
  return parts.length >= 2 ? parts.slice(0, -1).join('.') : undefined;
}

export function buildTargets(model: ModelProto): TargetIndex {
  const graph = model.graph ?? {};
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const index: TargetIndex = new Map();
  for (const node of graph.node ?? []) {
    if (!WEIGHT_OPS.has(node.op_type ?? '')) continue;
    let value = node.input?.[1];
    // Follow the weight back to its initializer; each 2-D Transpose flips which way round it is stored.
    let flips = 0;
    for (let hops = 0; value && !initializers.has(value) && hops < 4; hops++) {
      const p = producer.get(value);
      if (!p || !(PASS_THROUGH.has(p.op_type ?? '') || p.op_type === 'Transpose')) break;
      if (p.op_type === 'Transpose') flips++;
      value = p.input?.[0];
    }
    const init = value ? initializers.get(value) : undefined;
    const dims = init?.dims ?? [];
    if (!init || !value) continue;
    const named = !value.startsWith('onnx::') && value.endsWith('.weight');
    const module = named ? value.slice(0, -'.weight'.length) : moduleOfNode(node.name);
    if (!module || index.has(module)) continue;
    if (node.op_type === 'Conv') {
      if (dims.length !== 4 || flips) continue;
      index.set(module, { initializer: value, dims, transposed: false, shape: dims });
      continue;
    }
    if (dims.length !== 2) continue;
    const storedOutIn = node.op_type === 'Gemm' ? attr(node, 'transB') === 1 : false;
    const transposed = storedOutIn === (flips % 2 === 1);
    index.set(module, { initializer: value, dims, transposed, shape: transposed ? [dims[1]!, dims[0]!] : dims });
  }
  return index;
}

const cache = new Map<string, { mtime: number; index: Promise<TargetIndex> }>();

/**
 * The targets of an ONNX file, read once per process (and again when the file changes). Finding them
 * decodes the whole graph (seconds, and the weights in memory, for an SD 1.5 UNet), so the index is also
 * kept beside the file as `model.weight-targets.json`: a request with a LoRA reads that instead, in any
 * process, while it is newer than the model file.
 */
export async function targetsOf(path: string): Promise<TargetIndex> {
  const mtime = (await stat(path)).mtimeMs;
  const hit = cache.get(path);
  if (hit && hit.mtime === mtime) return hit.index;
  const index = storedTargets(path, mtime);
  cache.set(path, { mtime, index });
  index.catch(() => cache.delete(path));
  return index;
}

async function storedTargets(path: string, mtime: number): Promise<TargetIndex> {
  const file = derivedPath(path, 'weight-targets', '.json');
  const stored = await stat(file).catch(() => undefined);
  if (stored && stored.mtimeMs >= mtime) {
    try {
      return new Map(JSON.parse(await readFile(file, 'utf8')) as [string, Target][]);
    } catch {
      // torn or foreign: rebuild it below
    }
  }
  const index = buildTargets(decodeModel(await readFile(path)));
  const tmp = `${file}.${process.pid}.tmp`;
  // A read-only model folder still fits LoRAs, only without the saved index.
  await writeFile(tmp, JSON.stringify([...index]))
    .then(() => rename(tmp, file))
    .catch(() => undefined);
  return index;
}
