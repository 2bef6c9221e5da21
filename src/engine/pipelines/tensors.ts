/** Batch and channel plumbing for flat NCHW Float32Arrays. */

export function repeatBatch(item: Float32Array, times: number): Float32Array {
  const out = new Float32Array(item.length * times);
  for (let k = 0; k < times; k++) out.set(item, k * item.length);
  return out;
}

export function concatBatch(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Concatenates tensors [batch, c_i, h, w] along the channel axis. */
export function concatChannels(batch: number, pixels: number, parts: { data: Float32Array; channels: number }[]): Float32Array {
  const total = parts.reduce((n, p) => n + p.channels, 0);
  const out = new Float32Array(batch * total * pixels);
  for (let b = 0; b < batch; b++) {
    let c0 = 0;
    for (const p of parts) {
      const src = p.data.subarray(b * p.channels * pixels, (b + 1) * p.channels * pixels);
      out.set(src, (b * total + c0) * pixels);
      c0 += p.channels;
    }
  }
  return out;
}

export function batchItem(x: Float32Array, batch: number, index: number): Float32Array {
  const per = x.length / batch;
  return x.subarray(index * per, (index + 1) * per);
}
