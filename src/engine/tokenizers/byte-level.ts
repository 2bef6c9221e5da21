/**
 * GPT-2's reversible byte ↔ unicode table (`bytes_to_unicode` in OpenAI's CLIP and GPT-2 code,
 * `ByteLevel` in Hugging Face tokenizers). Every byte maps to one printable character, so BPE never
 * sees whitespace or control characters: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to
 * themselves; the other 68 bytes map, in byte order, to U+0100, U+0101, … (space 0x20 → 'Ġ', U+0120).
 */

let encoder: string[] | undefined;
let decoder: Map<string, number> | undefined;

/** Character of each byte, indexed by byte value (0..255). */
export function bytesToUnicode(): readonly string[] {
  if (encoder === undefined) {
    const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const table: string[] = new Array<string>(256);
    let n = 0;
    for (let b = 0; b < 256; b++) {
      table[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
    }
    encoder = table;
  }
  return encoder;
}

/** The inverse table: character → byte value. */
export function unicodeToBytes(): ReadonlyMap<string, number> {
  if (decoder === undefined) {
    decoder = new Map(bytesToUnicode().map((ch, b) => [ch, b] as [string, number]));
  }
  return decoder;
}

/**
 * The base alphabet in CLIP's vocabulary order: printable bytes first (so '!' is id 0), then the
 * remapped ones. CLIP's vocab.json starts with these 256 symbols, then the same 256 with `</w>`.
 */
export function byteLevelAlphabet(): string[] {
  const table = bytesToUnicode();
  const printable: string[] = [];
  const remapped: string[] = [];
  for (let b = 0; b < 256; b++) {
    const ch = table[b]!;
    (ch.charCodeAt(0) === b ? printable : remapped).push(ch);
  }
  return [...printable, ...remapped];
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of `text`, each mapped to its byte-level character. */
export function byteEncode(text: string): string {
  const table = bytesToUnicode();
  let out = '';
  for (const b of utf8.encode(text)) out += table[b];
  return out;
}

/** Inverse of byteEncode; characters outside the table are dropped, invalid UTF-8 becomes U+FFFD. */
export function byteDecode(text: string): string {
  const table = unicodeToBytes();
  const bytes: number[] = [];
  for (const ch of text) {
    const b = table.get(ch);
    if (b !== undefined) bytes.push(b);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
}
