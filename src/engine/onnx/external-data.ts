/**
 * ONNX's external-data format read and written one tensor at a time: a UNet's weights (3.4 GB in
 * float32 at SD 1.5 size, 10 GB at SDXL's) need not fit in memory at once, nor in one Buffer.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLocation, type TensorProto } from './proto.ts';

export interface ExternalRef {
  location: string;
  offset: number;
  length?: number;
}

export function isExternal(t: TensorProto): boolean {
  return t.data_location === DataLocation.EXTERNAL;
}

/** Where a tensor's bytes are, checked to stay inside the model's folder. */
export function externalRef(t: TensorProto, modelPath: string): ExternalRef {
  const info = Object.fromEntries((t.external_data ?? []).map((e) => [e.key, e.value]));
  const location = info.location;
  if (!location || location.includes('..') || location.startsWith('/')) {
    throw new Error(`${modelPath}: tensor ${t.name} has a bad external data location "${location}"`);
  }
  return { location, offset: Number(info.offset ?? 0), ...(info.length !== undefined ? { length: Number(info.length) } : {}) };
}

export function externalEntries(ref: ExternalRef & { length: number }): TensorProto['external_data'] {
  return [
    { key: 'location', value: ref.location },
    { key: 'offset', value: String(ref.offset) },
    { key: 'length', value: String(ref.length) },
  ];
}

/** Reads external tensors of the model at `modelPath`, keeping each data file open until `close`. */
export class ExternalDataReader {
  private readonly files = new Map<string, Promise<FileHandle>>();

  constructor(
    private readonly modelPath: string,
    private readonly dir: string,
  ) {}

  async read(t: TensorProto): Promise<Uint8Array> {
    const ref = externalRef(t, this.modelPath);
    let file = this.files.get(ref.location);
    if (!file) this.files.set(ref.location, (file = open(join(this.dir, ref.location), 'r')));
    const handle = await file;
    const size = (await handle.stat()).size;
    const length = ref.length ?? size - ref.offset;
    if (ref.offset + length > size) throw new Error(`${this.modelPath}: tensor ${t.name} runs past the end of ${ref.location}`);
    const bytes = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(bytes, done, length - done, ref.offset + done);
      if (bytesRead === 0) throw new Error(`${this.modelPath}: ${ref.location} ended early`);
      done += bytesRead;
    }
    return bytes;
  }

  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map(async (f) => (await f.catch(() => undefined))?.close()));
    this.files.clear();
  }
}

/** Alignment of each tensor in a data file written here (ONNX aligns big tensors; 64 suits every dtype). */
const ALIGN = 64;

/** Appends tensors to a new data file. */
export class ExternalDataWriter {
  private offset = 0;

  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<ExternalDataWriter> {
    return new ExternalDataWriter(await open(path, 'w'));
  }

  /** Writes `bytes` and returns the offset they start at. */
  async append(bytes: Uint8Array): Promise<number> {
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (pad) await this.handle.write(new Uint8Array(pad), 0, pad, this.offset);
    this.offset += pad;
    const start = this.offset;
    for (let done = 0; done < bytes.byteLength; ) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, start + done);
      done += bytesWritten;
    }
    this.offset += bytes.byteLength;
    return start;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
