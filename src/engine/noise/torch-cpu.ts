/**
 * PyTorch's CPU generator, value for value: `torch.Generator("cpu").manual_seed(seed)` followed by
 * `torch.randn(shape, generator=g)` in float32 gives exactly the bits `new TorchCpuGenerator(seed).randn(n)`
 * gives, call after call, so a Darkroom seed can reproduce a diffusers or A1111 picture.
 *
 * What ATen does (aten/src/ATen/native/cpu/DistributionTemplates.h, core/DistributionsHelper.h,
 * core/TransformationHelper.h, core/MT19937RNGEngine.h):
 * - The engine is mt19937 seeded with the low 32 bits of the seed. `random()` is one 32-bit output;
 *   `random64()` is two, the first as the high word.
 * - A float uniform is `(random() & (2^24 - 1)) * 2^-24`; a double uniform `(random64() & (2^53 - 1)) * 2^-53`.
 * - randn of a float tensor of 16 values or more (the vectorised path): every value is first filled
 *   with a uniform; each chunk of 16 becomes normals by Box-Muller on the pairs (j, j + 8), in float32,
 *   with the Cephes log and sincos of avx_mathfun.h as GCC compiles them (each multiply that feeds an add
 *   or subtract fused into one FMA, found by matching 2M of torch's values bit for bit); when the size
 *   is not a multiple of 16 the last 16 values are drawn again (16 new uniforms) and transformed again.
 *   This is the AVX2 kernel, which torch runs where its CPU capability is AVX2; its plain C++ kernel
 *   (any other capability) differs by up to 2.3e-6 in about 4 values in 10
 *   (tools/torch-noise/compare-kernels.py).
 * - Under 16 values (the scalar path): double Box-Muller on two double uniforms per pair, the second
 *   normal cached in the generator for the next value (and the next call), each rounded to float32.
 */

const MT_N = 624;
const MT_M = 397;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

/** Sizes from here up take the vectorised path. */
const CHUNK = 16;
const HALF = CHUNK / 2;

const f = Math.fround;

// avx_mathfun.h's constants, as the float32 values the C source rounds them to.
const SQRTHF = f(0.707106781186547524);
const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);
const FOPI = f(1.27323954473516);
const DP1 = f(-0.78515625);
const DP2 = f(-2.4187564849853515625e-4);
const DP3 = f(-3.77489497744594108e-8);
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f) as [number, number, number];
const COSCOF = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f) as [number, number, number];
const TWO_PI = f(2 * Math.PI);

// One float32 seen as its bits, for the exponent and mantissa tricks of log256_ps.
const bitsView = new DataView(new ArrayBuffer(4));
function floatBits(x: number): number {
  bitsView.setFloat32(0, x);
  return bitsView.getUint32(0);
}
function bitsFloat(bits: number): number {
  bitsView.setUint32(0, bits >>> 0);
  return bitsView.getFloat32(0);
}

/**
 * Float32 fused multiply-add, a * b + c with one rounding. The product of two floats is exact in a
 * double; the sum may not be, and rounding it twice (to double, then to float) is wrong only when the
 * double lands exactly halfway between two floats: then the sum's lost part picks the side.
 */
function fma(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s || r === 0) return r;
  const v = s - p;
  const lost = p - (s - v) + (c - v);
  if (lost === 0) return r;
  const other = nextFloat(r, s > r ? 1 : -1);
  if ((r + other) / 2 !== s) return r;
  return (lost > 0) === (other > r) ? other : r;
}

/** The float32 next to `x` (finite, non-zero) in direction `dir`. */
function nextFloat(x: number, dir: 1 | -1): number {
  const bits = floatBits(x);
  return bitsFloat((x > 0) === (dir > 0) ? bits + 1 : bits - 1);
}

export class TorchCpuGenerator {
  private readonly state = new Uint32Array(MT_N);
  private next = MT_N;
  /** The second value of the scalar path's last Box-Muller pair, not yet handed out. */
  private cachedNormal: number | null = null;

  /** `seed` as given to manual_seed; mt19937 keeps its low 32 bits, as torch does. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    const s = this.state;
    s[0] = seed % 0x100000000;
    for (let j = 1; j < MT_N; j++) {
      const prev = s[j - 1]! ^ (s[j - 1]! >>> 30);
      s[j] = Math.imul(1812433253, prev) + j;
    }
  }

  /** One 32-bit output of mt19937 (torch's `random()`). */
  random(): number {
    if (this.next >= MT_N) this.twist();
    let y = this.state[this.next++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch.randn(n) in float32, advancing the generator exactly as torch does. */
  randn(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`randn: size must be a non-negative integer, got ${n}`);
    const out = new Float32Array(n);
    if (n < CHUNK) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + CHUNK <= n; i += CHUNK) boxMuller16(out, i);
    if (n % CHUNK !== 0) {
      const start = n - CHUNK;
      for (let i = start; i < n; i++) out[i] = this.uniformFloat();
      boxMuller16(out, start);
    }
    return out;
  }

  private uniformFloat(): number {
    return (this.random() & 0xffffff) * 2 ** -24;
  }

  private uniformDouble(): number {
    const hi = this.random() & 0x1fffff;
    const lo = this.random();
    return (hi * 0x100000000 + lo) * 2 ** -53;
  }

  private normalDouble(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  private twist(): void {
    const s = this.state;
    for (let k = 0; k < MT_N; k++) {
      const y = (s[k]! & UPPER_MASK) | (s[(k + 1) % MT_N]! & LOWER_MASK);
      s[k] = s[(k + MT_M) % MT_N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.next = 0;
  }
}

/** normal_fill_16_AVX2: uniforms at [at, at + 16) become normals, pairing j with j + 8. */
function boxMuller16(data: Float32Array, at: number): void {
  for (let j = at; j < at + HALF; j++) {
    const u1 = f(1 - data[j]!);
    const u2 = data[j + HALF]!;
    const radius = f(Math.sqrt(f(-2 * log256(u1))));
    const [sin, cos] = sincos256(f(TWO_PI * u2));
    data[j] = f(radius * cos);
    data[j + HALF] = f(radius * sin);
  }
}

/** log256_ps for one lane, x in (0, 1]: Cephes logf, every operation rounded to float32. */
function log256(input: number): number {
  const bits = floatBits(Math.max(input, 2 ** -126));
  let e = f((bits >>> 23) - 127 + 1);
  let x = bitsFloat((bits & ~0x7f800000) | floatBits(0.5));
  const small = x < SQRTHF;
  const tmp = small ? x : 0;
  x = f(x - 1);
  if (small) e = f(e - 1);
  x = f(x + tmp);
  const z = f(x * x);
  let y = LOG_P[0]!;
  for (let i = 1; i < LOG_P.length; i++) y = fma(y, x, LOG_P[i]!);
  y = f(y * x);
  y = fma(y, z, f(e * LOG_Q1));
  y = fma(z, -0.5, y);
  x = f(x + y);
  return fma(e, LOG_Q2, x);
}

/** sincos256_ps for one lane, x >= 0 (theta is 2 pi u, u in [0, 1)): [sin, cos]. */
function sincos256(input: number): [number, number] {
  let x = input;
  let j = Math.trunc(f(x * FOPI));
  j = (j + 1) & ~1;
  const y = f(j);
  const sinSign = j & 4 ? -1 : 1;
  const cosSign = (j - 2) & 4 ? 1 : -1;
  const polyIsSin = (j & 2) === 0;
  x = fma(y, DP1, x);
  x = fma(y, DP2, x);
  x = fma(y, DP3, x);
  const z = f(x * x);
  let c = COSCOF[0];
  c = fma(c, z, COSCOF[1]);
  c = fma(c, z, COSCOF[2]);
  c = f(c * z);
  c = fma(c, z, -f(z * 0.5));
  c = f(c + 1);
  let s = SINCOF[0];
  s = fma(s, z, SINCOF[1]);
  s = fma(s, z, SINCOF[2]);
  s = f(s * z);
  s = fma(s, x, x);
  // In the octants where j & 2 is 0 the sine is the sine polynomial and the cosine the cosine one; else swapped.
  const sin = polyIsSin ? s : c;
  const cos = polyIsSin ? c : s;
  return [sinSign * sin, cosSign * cos];
}
