/**
 * Gives a UNet's encoder_hidden_states a dynamic sequence axis, so prompts longer than one 77-token
 * chunk can condition it: the axis becomes `sequence`, as optimum exports it. Only the input's
 * declared shape changes; the model is refused if anything else in it fixes that length.
 * train.py now exports it this way; this script brought the committed demo model up to date.
 *
 *   node --import tsx tools/demo-model/dynamic-text-axis.ts models/darkroom-demo/unet/model.onnx
 */
import { readFile, writeFile } from 'node:fs/promises';
import { decodeModel, encodeModel, type ModelProto } from '../../src/engine/onnx/proto.ts';

const INPUT = 'encoder_hidden_states';

export function withDynamicTextAxis(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const input = graph.input?.find((i) => i.name === INPUT);
  const dims = input?.type?.tensor_type?.shape?.dim;
  if (!dims || dims.length !== 3) throw new Error(`the model has no ${INPUT} input of rank 3`);
  if (graph.value_info?.some((v) => v.type?.tensor_type?.shape?.dim?.some((d) => d.dim_value === dims[1]!.dim_value))) {
    throw new Error(`the graph's value_info fixes shapes that may hold the text length; re-export it instead`);
  }
  dims[1] = { dim_param: 'sequence' };
  return model;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2];
  if (!path) throw new Error('usage: dynamic-text-axis.ts <unet/model.onnx>');
  await writeFile(path, encodeModel(withDynamicTextAxis(decodeModel(await readFile(path)))));
  process.stdout.write(`${path}: ${INPUT} is [batch, sequence, dim]\n`);
}
