/**
 * PNG text chunks: written right after IHDR, read back from any PNG. sharp (libvips) has no way to
 * write a free-form text chunk, so the chunk is spliced into the encoded bytes here. Text that
 * Latin-1 can spell goes into a tEXt chunk (what A1111 writes and what readers look for first);
 * anything else into an uncompressed iTXt chunk (UTF-8), as Pillow does.
 */

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, the one PNG uses). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

// eslint-disable-next-line no-control-regex
const LATIN1 = /^[\u0000-\u00ff]*$/;

/** One text chunk: tEXt when Latin-1 can spell `text`, else iTXt (UTF-8, uncompressed). */
export function textChunk(keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || /^ | $|  /.test(keyword)) throw new RangeError(`not a PNG text keyword: ${JSON.stringify(keyword)}`);
  const key = Buffer.from(keyword, 'latin1');
  if (LATIN1.test(text)) return chunk('tEXt', Buffer.concat([key, Buffer.from([0]), Buffer.from(text, 'latin1')]));
  // keyword NUL, compression flag 0, method 0, language tag "" NUL, translated keyword "" NUL, UTF-8 text
  return chunk('iTXt', Buffer.concat([key, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

function isPng(png: Uint8Array): boolean {
  return png.length >= 33 && Buffer.from(png.buffer, png.byteOffset, 8).equals(SIGNATURE);
}

/** `png` with a text chunk per entry of `text`, inserted after IHDR (in the order given). */
export function withPngText(png: Buffer, text: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(text);
  if (!entries.length) return png;
  if (!isPng(png) || png.toString('latin1', 12, 16) !== 'IHDR') throw new RangeError('not a PNG (no signature and IHDR)');
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), ...entries.map(([k, v]) => textChunk(k, v)), png.subarray(ihdrEnd)]);
}

/** The tEXt and iTXt entries of a PNG, keyword → text (the first of each keyword); compressed ones are skipped. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!isPng(buf)) throw new RangeError('not a PNG');
  const out: Record<string, string> = {};
  for (let at = 8; at + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    const nul = data.indexOf(0);
    if (nul > 0) {
      const keyword = data.toString('latin1', 0, nul);
      if (type === 'tEXt' && !(keyword in out)) out[keyword] = data.toString('latin1', nul + 1);
      if (type === 'iTXt' && !(keyword in out) && data[nul + 1] === 0) {
        const lang = data.indexOf(0, nul + 3);
        const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
        if (translated >= 0) out[keyword] = data.toString('utf8', translated + 1);
      }
    }
    if (type === 'IEND') break;
    at += 12 + len;
  }
  return out;
}
