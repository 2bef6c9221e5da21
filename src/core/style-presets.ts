/**
 * Style presets: the one table that turns a peer API's style name into prompt text. Each entry wraps
 * the user's prompt (`{prompt}`) and adds words to the negative prompt. Keys are the wire values:
 * Stability's `style_preset` (seed 002 and v2beta, 17 values) and Leonardo's `presetStyle` (31 values).
 * `tiling` asks for a seamless texture where the model can draw one.
 */
export interface StylePreset {
  prompt: string;
  negative: string;
  tiling?: boolean;
}

const BLAND = 'blurry, low quality, deformed, watermark, text';

/** Stability's style_preset values. */
export const STABILITY_STYLES = {
  '3d-model': { prompt: 'professional 3d model of {prompt}, octane render, highly detailed, volumetric, dramatic lighting', negative: `ugly, deformed, noisy, ${BLAND}` },
  'analog-film': { prompt: 'analog film photo of {prompt}, faded film, desaturated, 35mm photo, grainy, vignette, vintage, Kodachrome', negative: `painting, drawing, illustration, cartoon, anime, ${BLAND}` },
  anime: { prompt: 'anime artwork of {prompt}, anime style, key visual, vibrant, studio anime, highly detailed', negative: `photo, photorealistic, realism, ${BLAND}` },
  cinematic: { prompt: 'cinematic film still of {prompt}, shallow depth of field, vignette, highly detailed, high budget, bokeh, moody, epic, film grain', negative: `anime, cartoon, graphic, painting, drawing, ${BLAND}` },
  'comic-book': { prompt: 'comic book illustration of {prompt}, graphic illustration, comic art, graphic novel art, vibrant, highly detailed', negative: `photograph, photorealistic, realism, ${BLAND}` },
  'digital-art': { prompt: 'concept art of {prompt}, digital artwork, illustrative, painterly, matte painting, highly detailed', negative: `photo, photorealistic, realism, ${BLAND}` },
  enhance: { prompt: 'breathtaking {prompt}, award-winning, professional, highly detailed', negative: `ugly, deformed, noisy, distorted, grainy, ${BLAND}` },
  'fantasy-art': { prompt: 'ethereal fantasy concept art of {prompt}, magnificent, celestial, painterly, epic, majestic, magical, fantasy art', negative: `photographic, realistic, realism, 35mm film, dslr, ${BLAND}` },
  isometric: { prompt: 'isometric style {prompt}, vibrant, beautiful, crisp, detailed, ultra detailed, intricate', negative: `deformed, mutated, ugly, disfigured, realism, photorealistic, ${BLAND}` },
  'line-art': { prompt: 'line art drawing of {prompt}, professional, sleek, modern, minimalist, graphic, line art, vector graphics', negative: `anime, photorealistic, 35mm film, deformed, realism, ${BLAND}` },
  'low-poly': { prompt: 'low-poly style {prompt}, low-poly game art, polygon mesh, jagged, blocky, wireframe edges, centered composition', negative: `noisy, sloppy, messy, grainy, ${BLAND}` },
  'modeling-compound': { prompt: 'play-doh style {prompt}, sculpture, clay art, centered composition, claymation', negative: `sloppy, messy, grainy, photorealistic, ${BLAND}` },
  'neon-punk': { prompt: 'neonpunk style {prompt}, cyberpunk, vaporwave, neon, vibes, vibrant, stunningly beautiful, crisp, detailed, sleek, ultramodern, magenta highlights, dark purple shadows', negative: `painting, drawing, illustration, glitch, deformed, ${BLAND}` },
  origami: { prompt: 'origami style {prompt}, paper art, pleated paper, folded, origami art, pleats, cut and fold, centered composition', negative: `noisy, sloppy, messy, grainy, ${BLAND}` },
  photographic: { prompt: 'cinematic photo of {prompt}, 35mm photograph, film, bokeh, professional, 4k, highly detailed', negative: `drawing, painting, crayon, sketch, graphite, impressionist, cartoon, anime, ${BLAND}` },
  'pixel-art': { prompt: 'pixel-art {prompt}, low-res, blocky, pixel art style, 8-bit graphics', negative: `sloppy, messy, photographic, realistic, ${BLAND}` },
  'tile-texture': { prompt: 'seamless tileable texture of {prompt}, repeating pattern, flat even lighting, top-down view', negative: `border, frame, vignette, perspective, shadows, ${BLAND}`, tiling: true },
} as const satisfies Record<string, StylePreset>;

/** Leonardo's presetStyle values. NONE (and LEONARDO, Leonardo's house style without Alchemy) leave the prompt as it is. */
export const LEONARDO_STYLES = {
  ANIME: STABILITY_STYLES.anime,
  BOKEH: { prompt: '{prompt}, bokeh, shallow depth of field, soft background blur, photograph', negative: `flat, everything in focus, ${BLAND}` },
  CINEMATIC: STABILITY_STYLES.cinematic,
  CINEMATIC_CLOSEUP: { prompt: 'cinematic close-up of {prompt}, dramatic lighting, shallow depth of field, film still, highly detailed', negative: `wide shot, cartoon, ${BLAND}` },
  CREATIVE: { prompt: 'imaginative artwork of {prompt}, creative composition, rich colors, highly detailed', negative: BLAND },
  DYNAMIC: { prompt: '{prompt}, dynamic composition, vivid colors, dramatic lighting, highly detailed', negative: `dull, flat, ${BLAND}` },
  ENVIRONMENT: { prompt: 'environment art of {prompt}, wide establishing shot, atmospheric, detailed landscape, concept art', negative: `close-up, portrait, ${BLAND}` },
  FASHION: { prompt: 'fashion photography of {prompt}, editorial, studio lighting, stylish, high fashion', negative: `amateur, cartoon, ${BLAND}` },
  FILM: STABILITY_STYLES['analog-film'],
  FOOD: { prompt: 'food photography of {prompt}, appetizing, styled plating, soft natural light, shallow depth of field', negative: `unappetizing, cartoon, ${BLAND}` },
  GENERAL: { prompt: '{prompt}, high quality, detailed', negative: BLAND },
  HDR: { prompt: 'HDR photo of {prompt}, high dynamic range, vivid, rich detail in shadows and highlights', negative: `flat, washed out, ${BLAND}` },
  ILLUSTRATION: STABILITY_STYLES['digital-art'],
  LEONARDO: { prompt: '{prompt}', negative: '' },
  LONG_EXPOSURE: { prompt: 'long exposure photograph of {prompt}, light trails, motion blur, smooth water, night', negative: `frozen motion, cartoon, ${BLAND}` },
  MACRO: { prompt: 'macro photograph of {prompt}, extreme close-up, fine detail, shallow depth of field', negative: `wide shot, cartoon, ${BLAND}` },
  MINIMALISTIC: { prompt: 'minimalist {prompt}, simple shapes, clean composition, negative space, muted palette', negative: `cluttered, busy, ornate, ${BLAND}` },
  MONOCHROME: { prompt: 'black and white photograph of {prompt}, monochrome, high contrast, fine grain', negative: `color, colorful, ${BLAND}` },
  MOODY: { prompt: 'moody {prompt}, dark atmosphere, low key lighting, dramatic shadows, muted colors', negative: `bright, cheerful, oversaturated, ${BLAND}` },
  NONE: { prompt: '{prompt}', negative: '' },
  NEUTRAL: { prompt: '{prompt}, natural colors, balanced lighting, realistic', negative: `oversaturated, stylized, ${BLAND}` },
  PHOTOGRAPHY: STABILITY_STYLES.photographic,
  PORTRAIT: { prompt: 'portrait photograph of {prompt}, detailed face, soft studio lighting, 85mm lens, shallow depth of field', negative: `deformed face, cartoon, ${BLAND}` },
  RAYTRACED: { prompt: 'ray-traced render of {prompt}, global illumination, realistic reflections, octane render, highly detailed', negative: `flat shading, cartoon, ${BLAND}` },
  RENDER_3D: STABILITY_STYLES['3d-model'],
  RETRO: { prompt: 'retro style {prompt}, vintage, 1970s aesthetic, faded colors, nostalgic', negative: `modern, futuristic, ${BLAND}` },
  SKETCH_BW: { prompt: 'black and white pencil sketch of {prompt}, graphite, hand-drawn, cross-hatching', negative: `color, photograph, ${BLAND}` },
  SKETCH_COLOR: { prompt: 'colored pencil sketch of {prompt}, hand-drawn, vibrant colors, sketchbook', negative: `photograph, 3d render, ${BLAND}` },
  STOCK_PHOTO: { prompt: 'stock photo of {prompt}, professional, clean, well lit, commercial photography', negative: `amateur, cartoon, ${BLAND}` },
  VIBRANT: { prompt: '{prompt}, vibrant colors, saturated, bold, striking, highly detailed', negative: `dull, muted, desaturated, ${BLAND}` },
  UNPROCESSED: { prompt: 'raw photo of {prompt}, unedited, natural, candid', negative: `oversaturated, heavily edited, cartoon, ${BLAND}` },
} as const satisfies Record<string, StylePreset>;

export type StabilityStyle = keyof typeof STABILITY_STYLES;
export type LeonardoStyle = keyof typeof LEONARDO_STYLES;

export const STABILITY_STYLE_NAMES = Object.keys(STABILITY_STYLES) as [StabilityStyle, ...StabilityStyle[]];
export const LEONARDO_STYLE_NAMES = Object.keys(LEONARDO_STYLES) as [LeonardoStyle, ...LeonardoStyle[]];

/** The prompt and negative prompt with a preset applied (none: unchanged). */
export function applyStyle(preset: StylePreset | undefined, prompt: string, negative: string): { prompt: string; negativePrompt: string; tiling: boolean } {
  if (!preset) return { prompt, negativePrompt: negative, tiling: false };
  const styled = preset.prompt.replace('{prompt}', prompt);
  const neg = [negative.trim(), preset.negative].filter(Boolean).join(', ');
  return { prompt: styled, negativePrompt: neg, tiling: 'tiling' in preset && preset.tiling === true };
}
