/** Upscalers: image in, the same image `scale` times larger out. */

export interface UpscalerInfo {
  id: string;
  name: string;
  description: string;
  /** 'resample' adds no detail; 'super-resolution' is a trained ONNX model. */
  kind: 'resample' | 'super-resolution';
  scale: number;
  license?: string;
}

export interface UpscaledImage {
  png: Buffer;
  width: number;
  height: number;
}

export interface Upscaler {
  readonly info: UpscalerInfo;
  upscale(image: Uint8Array, signal?: AbortSignal): Promise<UpscaledImage>;
  dispose(): Promise<void>;
}

/** `upscaler.json` beside `model.onnx` in an upscaler folder. */
export const UPSCALER_MANIFEST = 'upscaler.json';
