/**
 * Canny edge detection (Canny 1986), as OpenCV's cv2.Canny computes the map A1111's and diffusers'
 * canny ControlNets were trained on: grayscale → 5×5 Gaussian blur → Sobel gradients → non-maximum
 * suppression along the gradient direction → double threshold → hysteresis (weak edges kept only
 * when connected to strong ones). Thresholds are on the L1 gradient magnitude |gx| + |gy| over 0..255
 * pixels, as cv2.Canny's default (L2gradient=false), so A1111's 100/200 mean what they mean there.
 */

export const DEFAULT_CANNY_LOW = 100;
export const DEFAULT_CANNY_HIGH = 200;

export interface CannyOptions {
  low?: number;
  high?: number;
}

/** ITU-R BT.601 luma, as cv2.cvtColor(RGB2GRAY). */
export function grayscale(rgb: Uint8Array, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!;
  return out;
}

/** Index of (x, y) with the border replicated (the image extended by its edge pixels). */
function clampIndex(x: number, y: number, width: number, height: number): number {
  const cx = x < 0 ? 0 : x >= width ? width - 1 : x;
  const cy = y < 0 ? 0 : y >= height ? height - 1 : y;
  return cy * width + cx;
}

/** Separable 5×5 Gaussian, sigma 1.4 (the classic Canny pre-filter). */
export function gaussianBlur(gray: Float32Array, width: number, height: number, sigma = 1.4): Float32Array {
  const radius = 2;
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  const k = kernel.map((v) => v / sum);
  const pass = (src: Float32Array, dx: number, dy: number): Float32Array => {
    const out = new Float32Array(src.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let i = -radius; i <= radius; i++) s += k[i + radius]! * src[clampIndex(x + i * dx, y + i * dy, width, height)]!;
        out[y * width + x] = s;
      }
    }
    return out;
  };
  return pass(pass(gray, 1, 0), 0, 1);
}

/** Sobel 3×3 gradients. */
export function sobel(img: Float32Array, width: number, height: number): { gx: Float32Array; gy: Float32Array } {
  const gx = new Float32Array(img.length);
  const gy = new Float32Array(img.length);
  const at = (x: number, y: number) => img[clampIndex(x, y, width, height)]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      gx[i] = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      gy[i] = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
    }
  }
  return { gx, gy };
}

/** Edge map (255 = edge, 0 = none) of an RGB (HWC, 8-bit) image. */
export function canny(rgb: Uint8Array, width: number, height: number, options: CannyOptions = {}): Uint8Array {
  const low = options.low ?? DEFAULT_CANNY_LOW;
  const high = options.high ?? DEFAULT_CANNY_HIGH;
  if (!(low >= 0 && high >= low)) throw new RangeError(`canny thresholds need 0 <= low <= high, got ${low}/${high}`);
  const { gx, gy } = sobel(gaussianBlur(grayscale(rgb, width, height), width, height), width, height);
  const n = width * height;
  const magnitude = new Float32Array(n);
  for (let i = 0; i < n; i++) magnitude[i] = Math.abs(gx[i]!) + Math.abs(gy[i]!);

  // Non-maximum suppression: keep a pixel only where it is a ridge across the gradient, quantised to
  // 0/45/90/135 degrees. Ties go to the first of the pair (>= before, > after) so a ridge two pixels
  // wide keeps one.
  const STRONG = 2;
  const WEAK = 1;
  const state = new Uint8Array(n);
  const tan22 = Math.tan(Math.PI / 8);
  const mag = (x: number, y: number) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : magnitude[y * width + x]!);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const m = magnitude[i]!;
      if (m <= low) continue;
      const ax = Math.abs(gx[i]!);
      const ay = Math.abs(gy[i]!);
      let before: number;
      let after: number;
      if (ay <= ax * tan22) {
        before = mag(x - 1, y);
        after = mag(x + 1, y);
      } else if (ax <= ay * tan22) {
        before = mag(x, y - 1);
        after = mag(x, y + 1);
      } else if (gx[i]! * gy[i]! > 0) {
        before = mag(x - 1, y - 1);
        after = mag(x + 1, y + 1);
      } else {
        before = mag(x + 1, y - 1);
        after = mag(x - 1, y + 1);
      }
      if (m > before && m >= after) state[i] = m > high ? STRONG : WEAK;
    }
  }

  // Hysteresis: grow from strong pixels through 8-connected weak ones.
  const out = new Uint8Array(n);
  const stack: number[] = [];
  for (let i = 0; i < n; i++) {
    if (state[i] === STRONG) {
      out[i] = 255;
      stack.push(i);
    }
  }
  while (stack.length) {
    const i = stack.pop()!;
    const x = i % width;
    const y = (i - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        if (state[j] === WEAK && out[j] === 0) {
          out[j] = 255;
          stack.push(j);
        }
      }
    }
  }
  return out;
}
