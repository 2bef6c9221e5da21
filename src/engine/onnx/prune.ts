import type { NodeProto } from './proto.ts';

/**
 * The nodes (in their order) that the graph's outputs still depend on, and every value those nodes
 * read: what a rewrite leaves behind once it has bypassed some nodes. Nodes must be in topological order.
 */
export function pruneUnused(nodes: readonly NodeProto[], outputs: Iterable<string>): { nodes: NodeProto[]; used: Set<string> } {
  const used = new Set(outputs);
  const kept: NodeProto[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!(n.output ?? []).some((o) => used.has(o))) continue;
    kept.push(n);
    for (const i of n.input ?? []) if (i) used.add(i);
  }
  return { nodes: kept.reverse(), used };
}
