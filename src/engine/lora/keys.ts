/**
 * LoRA tensor names in the two layouts adapters come in, reduced to (component, module, part):
 *
 * - kohya / A1111 / Civitai: `lora_unet_<module>.lora_down.weight`, `.lora_up.weight`, `.alpha`, with
 *   `lora_te_` (`lora_te1_`, `lora_te2_` for SDXL's two encoders) for the text encoder; the module path
 *   has its dots turned to underscores (`down_blocks_0_attentions_0_..._attn1_to_q`).
 * - diffusers / PEFT: `unet.<module>.lora_A.weight` and `.lora_B.weight` (older diffusers: `.lora.down`
 *   / `.lora.up`, or attention processors' `processor.to_q_lora.down`), `text_encoder.` and
 *   `text_encoder_2.`; the module path keeps its dots.
 *
 * Other LyCORIS kinds (LoHa, LoKr, DoRA...) are not a plain up·down product and are refused by name.
 */
import type { OnnxComponent } from '../models/optimized.ts';

export type LoraComponent = Extract<OnnxComponent, 'unet' | 'textEncoder' | 'textEncoder2'>;

export interface LoraModule {
  component: LoraComponent;
  /** The module path: dotted (diffusers) or with underscores for dots (kohya, `underscored`). */
  module: string;
  underscored: boolean;
  /** Tensor names of the two factors and the optional alpha. */
  down?: string;
  up?: string;
  alpha?: string;
}

const KOHYA_PREFIX: Record<string, LoraComponent> = { lora_unet_: 'unet', lora_te_: 'textEncoder', lora_te1_: 'textEncoder', lora_te2_: 'textEncoder2' };
const DIFFUSERS_PREFIX: Record<string, LoraComponent> = { 'unet.': 'unet', 'text_encoder.': 'textEncoder', 'text_encoder_2.': 'textEncoder2' };
const KOHYA_PART = /^(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/;
const DIFFUSERS_PART = /^(.+?)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|alpha)$/;
/** Tensor names of adapter kinds that are not plain LoRA. */
const OTHER_KINDS = /\.(hada_w[12]_[ab]|hada_t[12]|lokr_w[12](_[ab])?|lokr_t2|dora_scale|oft_blocks|diff|diff_b|bias_indices|w_norm|b_norm)$|\.(lora_mid|lora_magnitude_vector)\b/;

/** What a tensor name that no layout explains reads as, for the error message. */
export class LoraKeyError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'LoraKeyError';
  }
}

function part(name: string): 'down' | 'up' | 'alpha' {
  if (name === 'alpha') return 'alpha';
  return name === 'lora_down.weight' || name === 'lora_A.weight' || name === 'lora.down.weight' ? 'down' : 'up';
}

/** The modules an adapter's tensor names describe. Throws LoraKeyError on a name of no known layout. */
export function parseLoraKeys(names: Iterable<string>): LoraModule[] {
  const modules = new Map<string, LoraModule>();
  for (const key of names) {
    if (OTHER_KINDS.test(key)) throw new LoraKeyError(key, `"${key}" belongs to a LyCORIS adapter kind other than LoRA/LoCon (LoHa, LoKr, DoRA...), which Darkroom does not merge`);
    let component: LoraComponent | undefined;
    let rest = '';
    let underscored = false;
    let match: RegExpExecArray | null = null;
    const kohya = Object.keys(KOHYA_PREFIX).find((p) => key.startsWith(p));
    const diffusers = Object.keys(DIFFUSERS_PREFIX).sort((a, b) => b.length - a.length).find((p) => key.startsWith(p));
    if (kohya && (match = KOHYA_PART.exec(key.slice(kohya.length)))) {
      component = KOHYA_PREFIX[kohya];
      underscored = true;
      rest = match[1]!;
    } else if (diffusers && (match = DIFFUSERS_PART.exec(key.slice(diffusers.length)))) {
      component = DIFFUSERS_PREFIX[diffusers];
      // Attention processors of older diffusers: attn1.processor.to_q_lora → attn1.to_q (to_out_lora → to_out.0).
      rest = match[1]!.replace(/\.processor\.(to_[qkv])_lora$/, '.$1').replace(/\.processor\.to_out_lora$/, '.to_out.0');
    }
    if (!component || !match) throw new LoraKeyError(key, `"${key}" is not a LoRA tensor name Darkroom knows (kohya lora_unet_/lora_te_..., or diffusers unet./text_encoder. ... lora_A/lora_B)`);
    const id = `${component}:${rest}`;
    const mod = modules.get(id) ?? { component, module: rest, underscored };
    mod[part(match[2]!)] = key;
    modules.set(id, mod);
  }
  const out = [...modules.values()];
  for (const m of out) {
    if (!m.down || !m.up) throw new LoraKeyError(m.down ?? m.up ?? m.alpha ?? m.module, `module "${m.module}" has ${m.down ? 'no up (lora_up/lora_B)' : 'no down (lora_down/lora_A)'} weight`);
  }
  return out;
}
