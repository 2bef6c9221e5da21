/**
 * Leonardo's canvas editor (reference/peer-apis.md §2.2, Leonardo's "Canvas Inpainting" guide): POST
 * /canvas-init-image hands out two presigned slots, one for the init image and one for the mask,
 * and a generation with canvasRequest: true names them by canvasInitId and canvasMaskId. The request
 * types map onto the engine's pipelines:
 *  - INPAINT: repaint the mask's white area (Leonardo: "a white element against a black background");
 *  - OUTPAINT: fill the init image's transparent area (its alpha is the mask);
 *  - IMG2IMG: image-to-image from the init image at init_strength;
 *  - SKETCH2IMG: image-to-image from a sketch, repainted strongly (init_strength 0.15 unless given).
 * A canvas draws at its init image's size, whatever width and height say (the SDK always sends its
 * 1024 x 768 defaults); the mask must match it. Everything is checked here, before the generation is charged.
 */
import sharp from 'sharp';
import { ImageNotFoundError, ValidationError } from '../../core/errors.ts';
import type { ImageInputs } from '../../core/images.ts';
import type { ObjectStore } from '../../storage/object-store.ts';

export const CANVAS_REQUEST_TYPES = ['INPAINT', 'OUTPAINT', 'IMG2IMG', 'SKETCH2IMG'] as const;
export type CanvasRequestType = (typeof CANVAS_REQUEST_TYPES)[number];

/** Leonardo: "Max Inpaint strength is init_strength: 0.8" (inpaint strength = 1 - init_strength). */
export const MAX_CANVAS_INIT_STRENGTH = 0.8;
const DEFAULT_INIT_STRENGTH: Record<CanvasRequestType, number> = { INPAINT: 0, OUTPAINT: 0, IMG2IMG: 0.5, SKETCH2IMG: 0.15 };

export interface CanvasRequest {
  canvasRequestType?: CanvasRequestType | null;
  canvasInitId?: string | null;
  canvasMaskId?: string | null;
  init_strength?: number | null;
}

/** What a canvas request adds to the generation: the images, how strongly they are repainted, and the size. */
export interface CanvasInputs {
  initImageUrl: string;
  maskUrl?: string;
  maskSource?: 'luminance' | 'alpha';
  strength: number;
  initStrength: number;
  width: number;
  height: number;
}

export async function canvasInputs(images: ImageInputs, store: ObjectStore, userId: string, body: CanvasRequest): Promise<CanvasInputs> {
  const type = body.canvasRequestType;
  if (!type) throw new ValidationError('canvasRequestType', `canvasRequestType: is required with canvasRequest (${CANVAS_REQUEST_TYPES.join(', ')})`);
  if (!body.canvasInitId) throw new ValidationError('canvasInitId', 'canvasInitId: is required with canvasRequest (upload it first: POST /canvas-init-image)');
  const init = await images.findUpload(userId, body.canvasInitId);
  if (!init) throw new ImageNotFoundError('canvasInitId', `canvasInitId: no canvas init image ${body.canvasInitId} of yours (upload it first: POST /canvas-init-image, then the presigned POST)`);
  if (init.width % 8 !== 0 || init.height % 8 !== 0) {
    throw new ValidationError('canvasInitId', `canvasInitId: the init image is ${init.width}x${init.height}; canvas images must have sides divisible by 8`);
  }
  const initStrength = body.init_strength ?? DEFAULT_INIT_STRENGTH[type];
  if ((type === 'INPAINT' || type === 'OUTPAINT') && initStrength > MAX_CANVAS_INIT_STRENGTH) {
    throw new ValidationError('init_strength', `init_strength: must be at most ${MAX_CANVAS_INIT_STRENGTH} for ${type} (the repaint strength is 1 - init_strength)`);
  }
  const base = { initImageUrl: init.ref, strength: Math.round((1 - initStrength) * 1000) / 1000, initStrength, width: init.width, height: init.height };

  if (type === 'INPAINT') {
    if (!body.canvasMaskId) throw new ValidationError('canvasMaskId', 'canvasMaskId: INPAINT needs a mask (white: repaint, black: keep)');
    const mask = await images.findUpload(userId, body.canvasMaskId);
    if (!mask) throw new ImageNotFoundError('canvasMaskId', `canvasMaskId: no canvas mask image ${body.canvasMaskId} of yours`);
    if (mask.width !== init.width || mask.height !== init.height) {
      throw new ValidationError('canvasMaskId', `canvasMaskId: the mask is ${mask.width}x${mask.height}; it must match the init image, ${init.width}x${init.height}`);
    }
    return { ...base, maskUrl: mask.ref, maskSource: 'luminance' };
  }
  if (type === 'OUTPAINT') {
    if (!(await hasTransparency(store, init.key))) {
      throw new ValidationError('canvasInitId', 'canvasInitId: OUTPAINT fills the transparent area of the init image, and this one has none (send a PNG or WebP with an alpha channel)');
    }
    return { ...base, maskUrl: init.ref, maskSource: 'alpha' };
  }
  return base;
}

async function hasTransparency(store: ObjectStore, key: string): Promise<boolean> {
  const obj = await store.get(key);
  if (!obj) return false;
  const image = sharp(obj.bytes);
  if (!(await image.metadata()).hasAlpha) return false;
  const { channels } = await image.stats();
  return channels[3]!.min < 128;
}
