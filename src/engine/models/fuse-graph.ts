/**
 * What the fusions other than attention share (fuse-skip-layer-norm.ts, fuse-group-norm.ts,
 * fuse-bias-split-gelu.ts, fuse-bias-add.ts): a graph's producers, consumers and constants, and the
 * rewrite itself, which swaps matched nodes for fused ones, puts the nodes back in topological order
 * (a fused node may need a value its pattern's first node did not) and drops what only fed the
 * removed nodes (shape arithmetic, constants).
 */
import { isExternal } from '../onnx/external-data.ts';
import { floatValues } from '../onnx/float16-graph.ts';
import { pruneUnused } from '../onnx/prune.ts';
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { fromHalfBits } from '../runtime/fp16.ts';

export const MS_DOMAIN = 'com.microsoft';

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

export function floatAttr(name: string, f: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f };
}

/** A float, float16 or integer tensor's values as numbers; undefined for other types and data not read in. */
export function tensorValues(t: TensorProto): number[] | undefined {
  if (isExternal(t)) return undefined;
  const raw = t.raw_data;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  switch (t.data_type) {
    case DataType.FLOAT:
      return Array.from(floatValues(t));
    case DataType.FLOAT16:
      return view ? Array.from({ length: raw!.byteLength / 2 }, (_, i) => fromHalfBits(view.getUint16(i * 2, true))) : t.int32_data?.map(fromHalfBits);
    case DataType.INT64:
      return view ? Array.from({ length: raw!.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true))) : t.int64_data?.map(Number);
    case DataType.INT32:
      return view ? Array.from({ length: raw!.byteLength / 4 }, (_, i) => view.getInt32(i * 4, true)) : t.int32_data;
    default:
      return undefined;
  }
}

/** A matched pattern: the nodes it replaces and the nodes that replace them. */
interface Replacement {
  remove: NodeProto[];
  add: NodeProto[];
}

export class FusionGraph {
  readonly nodes: NodeProto[];
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  private readonly graphOutputs: Set<string>;
  private readonly constants = new Map<string, TensorProto>();
  private readonly names = new Set<string>();
  private readonly replaced = new Set<NodeProto>();
  private readonly replacements: Replacement[] = [];
  private readonly initializers: TensorProto[] = [];

  constructor(private readonly model: ModelProto) {
    const graph = model.graph!;
    this.nodes = graph.node ?? [];
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name!));
    for (const t of graph.initializer ?? []) {
      this.constants.set(t.name!, t);
      this.names.add(t.name!);
    }
    for (const v of graph.input ?? []) this.names.add(v.name!);
    for (const n of this.nodes) {
      const value = n.op_type === 'Constant' ? attr(n, 'value')?.t : undefined;
      if (value && n.output?.[0]) this.constants.set(n.output[0], value);
      for (const o of n.output ?? []) {
        this.producer.set(o, n);
        this.names.add(o);
      }
      for (const i of n.input ?? []) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
      if (n.name) this.names.add(n.name);
    }
  }

  /** The one node that reads `value`, when it is the only reader and `value` is not a graph output. */
  only(value: string): NodeProto | undefined {
    const c = this.consumers.get(value);
    return c?.length === 1 && !this.graphOutputs.has(value) ? c[0] : undefined;
  }

  /** The node that computes `value`, if it is a (default-domain) `op` not yet part of another match. */
  made(value: string | undefined, op: string): NodeProto | undefined {
    const p = value === undefined ? undefined : this.producer.get(value);
    return p?.op_type === op && (!p.domain || p.domain === 'ai.onnx') && !this.replaced.has(p) ? p : undefined;
  }

  /** The tensor `name` holds when it is an initializer or a Constant node's output. */
  constant(name: string | undefined): TensorProto | undefined {
    return name === undefined ? undefined : this.constants.get(name);
  }

  values(name: string | undefined): number[] | undefined {
    const t = this.constant(name);
    return t ? tensorValues(t) : undefined;
  }

  /** A value or node name not used in the graph yet. */
  fresh(hint: string): string {
    let name = hint;
    for (let k = 1; this.names.has(name); k++) name = `${hint}_${k}`;
    this.names.add(name);
    return name;
  }

  /** A new float32 initializer (the fused operators' scale and bias inputs). */
  floatInitializer(hint: string, values: readonly number[]): string {
    const data = Float32Array.from(values);
    return this.addInitializer({ name: hint, dims: [values.length], data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer) });
  }

  /** A new initializer under a fresh name (its `name` is the hint). */
  addInitializer(t: TensorProto): string {
    const name = this.fresh(t.name!);
    this.initializers.push({ ...t, name });
    return name;
  }

  replace(remove: NodeProto[], add: NodeProto[]): void {
    for (const n of remove) this.replaced.add(n);
    this.replacements.push({ remove, add });
  }

  get count(): number {
    return this.replacements.length;
  }

  /** Writes the replacements into the model; returns its node count before and after. */
  commit(): { nodesBefore: number; nodesAfter: number } {
    const graph = this.model.graph!;
    const nodesBefore = this.nodes.length;
    if (!this.replacements.length) return { nodesBefore, nodesAfter: nodesBefore };
    // Each fused group goes where its pattern's last node was; the sort below moves what must move.
    const at = new Map<NodeProto, NodeProto[]>();
    const position = new Map(this.nodes.map((n, i) => [n, i]));
    for (const r of this.replacements) {
      const last = r.remove.reduce((a, b) => (position.get(b)! > position.get(a)! ? b : a));
      at.set(last, r.add);
    }
    const out: NodeProto[] = [];
    for (const n of this.nodes) {
      if (at.has(n)) out.push(...at.get(n)!);
      if (!this.replaced.has(n)) out.push(n);
    }
    const pruned = pruneUnused(topological(out), this.graphOutputs);
    graph.node = pruned.nodes;
    graph.initializer = [...(graph.initializer ?? []), ...this.initializers].filter((t) => pruned.used.has(t.name!));
    if (!(this.model.opset_import ?? []).some((o) => o.domain === MS_DOMAIN)) this.model.opset_import = [...(this.model.opset_import ?? []), { domain: MS_DOMAIN, version: 1 }];
    return { nodesBefore, nodesAfter: pruned.nodes.length };
  }
}

/** `nodes` in an order where every node comes after the nodes whose outputs it reads (stable otherwise). */
function topological(nodes: readonly NodeProto[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const done = new Set<NodeProto>();
  const open = new Set<NodeProto>();
  const out: NodeProto[] = [];
  for (const root of nodes) {
    const stack: { node: NodeProto; next: number }[] = [{ node: root, next: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (done.has(top.node)) {
        stack.pop();
        continue;
      }
      open.add(top.node);
      const inputs = top.node.input ?? [];
      if (top.next < inputs.length) {
        const p = producer.get(inputs[top.next++]!);
        if (p && !done.has(p)) {
          if (open.has(p)) throw new Error(`fusion left a cycle through ${p.op_type} ${p.name ?? ''}`);
          stack.push({ node: p, next: 0 });
        }
        continue;
      }
      open.delete(top.node);
      done.add(top.node);
      out.push(top.node);
      stack.pop();
    }
  }
  return out;
}
