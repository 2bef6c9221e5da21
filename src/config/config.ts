/**
 * Darkroom's configuration: every setting is a DARKROOM_* environment variable and the same-named
 * CLI flag (--data-dir for DARKROOM_DATA_DIR), parsed once at start into a typed object. A bad value
 * stops start-up with one message listing every bad value.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../engine/runtime/execution-provider.ts';
import { parseAllowList } from '../core/url-guard.ts';
import { DEFAULT_PROMPT_SYNTAX, PROMPT_SYNTAXES, type PromptSyntax } from '../engine/prompts/weighting.ts';
import { NOISE_KINDS, type NoiseKind } from '../engine/random.ts';
import { DEFAULT_FUSIONS, FUSIONS, type FusionName } from '../engine/models/fuse-names.ts';
import { DEVICE_LOOP_SETTINGS, type DeviceLoopSetting } from '../engine/pipelines/device-loop-setting.ts';

/** Models shipped in the repository (the demo model), searched after the user's models directory. */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  modelsDir: string;
  /** Installed LoRA adapters (`<name>.safetensors`); default the models directory's sibling `loras`. */
  lorasDir: string;
  defaultModel: string;
  executionProvider: ExecutionProvider;
  /** Threads per ONNX operator on CPU; 0 lets ONNX Runtime decide. */
  threads: number;
  /** Load UNets and VAEs with attention fused into MultiHeadAttention (cached next to each model). */
  optimizeModels: boolean;
  /** The graph fusions optimising applies (`all`, `none` or names); those without a kernel on the provider are left out. */
  fusions: FusionName[];
  /** Load float32 models converted to float16 (cached next to each model). */
  fp16: boolean;
  /** Run the denoising loop as one ONNX graph per few steps (on), step by step in JS (off), or auto: on with a GPU provider. */
  deviceLoop: DeviceLoopSetting;
  /** Load the default model at start, so the first request does not wait for it. */
  preload: boolean;
  /** Run a model folder's own safety checker (safety_checker/model.onnx) on its outputs. */
  safetyChecker: boolean;
  /** `sqlite:<file>` (embedded, the default) or `postgres://...`. */
  databaseUrl: string;
  /** `redis://[user:password@]host[:port][/db]` (or `rediss://`): the job queue, event bus and rate limit go through Redis (BullMQ); empty: in this process. */
  redisUrl: string;
  /** Base of the image URLs handed to clients; empty means the origin each request came to. */
  publicUrl: string;
  /** Seconds a synchronous generation or upscale request waits for its images. */
  generationTimeout: number;
  /** Seconds an Idempotency-Key and its answer are kept from the key's first use (expired keys are purged lazily). */
  idempotencyTtl: number;
  /** Generations one user may have in flight at once. */
  maxInFlight: number;
  /** Requests of one user that may wait for an in-flight slot; one more gets queue_limit_reached. */
  maxQueued: number;
  /** Requests per second per API key; 0 turns rate limiting off. */
  rateLimit: number;
  /** Credits a new account starts with (the first-start admin included). */
  initialCredits: number;
  /** Seconds a stopping process lets running jobs finish before it cuts them off (then they are requeued or refunded). */
  shutdownGrace: number;
  /** Seconds a worker's claim on a running job lasts unrenewed: how soon the job of a worker that died is retried. */
  jobLease: number;
  /** Port of a worker process's /healthz, /readyz and /metrics (`darkroom worker`); 0 picks a free one. */
  healthPort: number;
  /** Jobs the in-process worker runs at once. */
  workerConcurrency: number;
  /** Most compatible generation jobs run as one denoising batch (dynamic batching); 1 turns it off. */
  batchMax: number;
  /** Milliseconds a job waits for compatible jobs to batch with. */
  batchWindowMs: number;
  /** Whether new outputs are viewable by anyone with their URL (else by their owner and signed URLs). */
  outputsPublic: boolean;
  /** Seconds a signed image URL handed out in an answer stays valid. */
  signedUrlTtl: number;
  /** Write the generation settings into PNG outputs (A1111's `parameters` text chunk). */
  pngMetadata: boolean;
  /** Every this many denoising steps, a generation's SSE stream gets a small preview of its first image; 0: none. */
  previewEvery: number;
  /** How prompts are read when a request does not say: A1111's weights, escapes and BREAK, or literally. */
  promptSyntax: PromptSyntax;
  /** Noise of requests that do not choose: Darkroom's own generator, or PyTorch's CPU one (diffusers' pictures of a seed). */
  noise: NoiseKind;
  /** The API dialects served (each one on or off). */
  dialects: Dialect[];
  /** Hosts, IPs or CIDR ranges that client-named URLs (init images, webhooks) may reach although private. */
  urlAllowlist: string[];
  /** Leonardo model ids and sd_version values → Darkroom model ids (unlisted ones: the default model). */
  leonardoModels: Record<string, string>;
  /** Most bytes of a JSON request body; more is refused (413) unread. */
  maxJsonBytes: number;
  /** Most bytes of a multipart request body (uploads); more is refused (413) unread. */
  maxUploadBytes: number;
  /** Most pixels (width × height) of an incoming image, read from its header before anything decodes it (400 beyond). */
  maxImagePixels: number;
  /** S3 bucket for images (outputs, uploads, init images); empty: the local disk under dataDir. */
  s3Bucket: string;
  /** An S3-compatible endpoint (MinIO, radosgw, R2...); empty: AWS's own. */
  s3Endpoint: string;
  /** The bucket's region; empty: the AWS SDK's (AWS_REGION), else us-east-1. */
  s3Region: string;
  /** Path-style bucket URLs (endpoint/bucket/key), which most self-hosted S3 servers want. */
  s3ForcePathStyle: boolean;
  /** Base URL that public objects may be served from (`<url>/<key>`); empty: through the API. */
  s3PublicUrl: string;
  /** Least severe log line written (pino levels; `silent` writes none). */
  logLevel: LogLevel;
  /** `json` (one object a line, for collectors) or `pretty` (one readable line, for a terminal). */
  logFormat: LogFormat;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const DIALECTS = ['stablecog', 'stability', 'leonardo', 'openai'] as const;
export type Dialect = (typeof DIALECTS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Source = Record<string, string | undefined>;

interface Setting<T> {
  env: string;
  /** Other environment variables honoured when the DARKROOM_ one is unset (platform conventions). */
  aliases?: string[];
  parse: (raw: string) => T;
  fallback: (partial: Partial<Config>) => T;
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) throw new Error(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** Seconds, written as a number of seconds or with a unit: 90s, 30m, 24h, 7d. */
function duration(min: number, max: number) {
  const units: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };
  return (raw: string): number => {
    const m = /^(\d+)\s*([smhd]?)$/i.exec(raw.trim());
    const n = m ? Number(m[1]) * units[m[2]!.toLowerCase()]! : NaN;
    if (!(n >= min && n <= max)) throw new Error(`must be a duration from ${min} s to ${max / 86400} d: seconds, or a number with s, m, h or d (24h)`);
    return n;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    if (!values.includes(raw as T)) throw new Error(`must be one of ${values.join(', ')}`);
    return raw as T;
  };
}

function boolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error('must be true or false');
}

function httpUrl(raw: string): string {
  if (raw.trim() === '') return '';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error('must be an http(s) URL such as https://images.example.com');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('must be an http(s) URL such as https://images.example.com');
  return raw.replace(/\/+$/, '');
}

function redisUrl(raw: string): string {
  const v = raw.trim();
  if (v === '') return '';
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    // reported below
  }
  if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) throw new Error('must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS)');
  return v;
}

function databaseUrl(raw: string): string {
  const v = text(raw);
  if (/^postgres(ql)?:\/\//.test(v) || v.startsWith('sqlite:')) return v;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) throw new Error('must be sqlite:<file> or postgres://user:password@host/database');
  return `sqlite:${resolve(v)}`;
}

function dialectList(raw: string): Dialect[] {
  const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = items.filter((d) => !(DIALECTS as readonly string[]).includes(d));
  if (bad.length) throw new Error(`unknown dialect(s) ${bad.join(', ')}; a comma-separated list of ${DIALECTS.join(', ')} (or "none")`);
  return [...new Set(items)] as Dialect[];
}

function fusionList(raw: string): FusionName[] {
  const v = raw.trim().toLowerCase();
  if (v === 'all') return [...FUSIONS];
  if (v === 'none') return [];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((f) => !(FUSIONS as readonly string[]).includes(f));
  if (bad.length || !items.length) throw new Error(`${bad.length ? `unknown fusion(s) ${bad.join(', ')}; ` : ''}all, none, or a comma-separated list of ${FUSIONS.join(', ')}`);
  return FUSIONS.filter((f) => items.includes(f));
}

function allowList(raw: string): string[] {
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  parseAllowList(items); // throws on a bad entry
  return items;
}

function modelMap(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(\S+)$/.exec(item);
    if (!m) throw new Error(`"${item}" is not <leonardo model id or sd_version>=<darkroom model id>`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** S3 bucket naming rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit; empty is none. */
function s3BucketName(raw: string): string {
  const v = raw.trim();
  if (v !== '' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v)) throw new Error('must be an S3 bucket name (3-63 characters: a-z, 0-9, ".", "-")');
  return v;
}

/** S3 settings that mean nothing without DARKROOM_S3_BUCKET. */
const S3_DEPENDENT = ['s3Endpoint', 's3Region', 's3ForcePathStyle', 's3PublicUrl'] as const;

function text(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

const SETTINGS: { [K in keyof Config]: Setting<Config[K]> } = {
  port: { env: 'DARKROOM_PORT', aliases: ['PORT'], parse: integer(0, 65535), fallback: () => 8080 },
  host: { env: 'DARKROOM_HOST', parse: text, fallback: () => '0.0.0.0' },
  dataDir: { env: 'DARKROOM_DATA_DIR', parse: (r) => resolve(text(r)), fallback: () => resolve('data') },
  modelsDir: { env: 'DARKROOM_MODELS_DIR', parse: (r) => resolve(text(r)), fallback: (c) => join(c.dataDir!, 'models') },
  lorasDir: { env: 'DARKROOM_LORAS_DIR', parse: (r) => resolve(text(r)), fallback: (c) => join(dirname(c.modelsDir!), 'loras') },
  defaultModel: { env: 'DARKROOM_DEFAULT_MODEL', parse: text, fallback: () => 'darkroom-demo' },
  executionProvider: { env: 'DARKROOM_EXECUTION_PROVIDER', parse: oneOf(EXECUTION_PROVIDERS), fallback: () => 'cpu' },
  threads: { env: 'DARKROOM_THREADS', parse: integer(0, 1024), fallback: () => 0 },
  // Fused attention is what keeps a GPU from materialising every attention's score matrix; on a CPU
  // the plain graph is fine, and writing next to the models is left to `darkroom models optimize`.
  optimizeModels: { env: 'DARKROOM_OPTIMIZE_MODELS', parse: boolean, fallback: (c) => c.executionProvider === 'cuda' },
  // ONNX Runtime's other Stable Diffusion fusions are not on by default until a GPU run shows them faster
  // (docs/benchmarks.md, "UNet fusions"); the CUDA-only ones are skipped on other providers.
  fusions: { env: 'DARKROOM_FUSIONS', parse: fusionList, fallback: () => [...DEFAULT_FUSIONS] },
  // Half precision is what a GPU's tensor cores run and halves the weights read per step; a CPU
  // has no float16 kernels for most operators (ONNX Runtime casts back to float32 around them).
  fp16: { env: 'DARKROOM_FP16', parse: boolean, fallback: (c) => c.executionProvider === 'cuda' },
  // Per-step values crossing to the host and back are what the loop graph saves; a CPU has no bus to cross.
  deviceLoop: { env: 'DARKROOM_DEVICE_LOOP', parse: (r) => oneOf(DEVICE_LOOP_SETTINGS)(r.trim().toLowerCase()), fallback: () => 'off' },
  preload: { env: 'DARKROOM_PRELOAD', parse: boolean, fallback: () => true },
  safetyChecker: { env: 'DARKROOM_SAFETY_CHECKER', parse: boolean, fallback: () => true },
  databaseUrl: { env: 'DARKROOM_DATABASE_URL', parse: databaseUrl, fallback: (c) => `sqlite:${join(c.dataDir!, 'darkroom.db')}` },
  redisUrl: { env: 'DARKROOM_REDIS_URL', parse: redisUrl, fallback: () => '' },
  publicUrl: { env: 'DARKROOM_PUBLIC_URL', parse: httpUrl, fallback: () => '' },
  generationTimeout: { env: 'DARKROOM_GENERATION_TIMEOUT', parse: integer(1, 86400), fallback: () => 240 },
  idempotencyTtl: { env: 'DARKROOM_IDEMPOTENCY_TTL', parse: duration(1, 365 * 86400), fallback: () => 86400 },
  maxInFlight: { env: 'DARKROOM_MAX_IN_FLIGHT', parse: integer(1, 1000), fallback: () => 2 },
  maxQueued: { env: 'DARKROOM_MAX_QUEUED', parse: integer(0, 100000), fallback: () => 50 },
  rateLimit: { env: 'DARKROOM_RATE_LIMIT', parse: integer(0, 1000000), fallback: () => 10 },
  initialCredits: { env: 'DARKROOM_INITIAL_CREDITS', parse: integer(0, 1000000000), fallback: () => 100 },
  shutdownGrace: { env: 'DARKROOM_SHUTDOWN_GRACE', parse: integer(0, 3600), fallback: () => 30 },
  jobLease: { env: 'DARKROOM_JOB_LEASE', parse: integer(1, 3600), fallback: () => 30 },
  healthPort: { env: 'DARKROOM_HEALTH_PORT', parse: integer(0, 65535), fallback: () => 8081 },
  workerConcurrency: { env: 'DARKROOM_WORKER_CONCURRENCY', parse: integer(1, 64), fallback: () => 1 },
  // A CPU gains nothing from batching (it is already busy with one image); a GPU gains much.
  batchMax: { env: 'DARKROOM_BATCH_MAX', parse: integer(1, 64), fallback: (c) => (c.executionProvider === 'cpu' ? 1 : 8) },
  batchWindowMs: { env: 'DARKROOM_BATCH_WINDOW_MS', parse: integer(0, 10000), fallback: () => 25 },
  outputsPublic: { env: 'DARKROOM_OUTPUTS_PUBLIC', parse: boolean, fallback: () => false },
  signedUrlTtl: { env: 'DARKROOM_SIGNED_URL_TTL', parse: integer(1, 604800), fallback: () => 3600 },
  pngMetadata: { env: 'DARKROOM_PNG_METADATA', parse: boolean, fallback: () => true },
  // Each preview costs a VAE decode of one image: at 25 steps, 4 of them beside the 25 UNet steps.
  previewEvery: { env: 'DARKROOM_PREVIEW_EVERY', parse: integer(0, 1000), fallback: () => 5 },
  promptSyntax: { env: 'DARKROOM_PROMPT_SYNTAX', parse: (r) => oneOf(PROMPT_SYNTAXES)(r.trim().toLowerCase()), fallback: () => DEFAULT_PROMPT_SYNTAX },
  noise: { env: 'DARKROOM_NOISE', parse: (r) => oneOf(NOISE_KINDS)(r.trim().toLowerCase()), fallback: () => 'darkroom' },
  dialects: { env: 'DARKROOM_DIALECTS', parse: (r) => (r.trim().toLowerCase() === 'none' ? [] : dialectList(r)), fallback: () => [...DIALECTS] },
  urlAllowlist: { env: 'DARKROOM_URL_ALLOWLIST', parse: allowList, fallback: () => [] },
  leonardoModels: { env: 'DARKROOM_LEONARDO_MODELS', parse: modelMap, fallback: () => ({}) },
  maxJsonBytes: { env: 'DARKROOM_MAX_JSON_BYTES', parse: integer(1024, 1024 * 1024 * 1024), fallback: () => 1024 * 1024 },
  maxUploadBytes: { env: 'DARKROOM_MAX_UPLOAD_BYTES', parse: integer(1024, 1024 * 1024 * 1024), fallback: () => 25 * 1024 * 1024 },
  maxImagePixels: { env: 'DARKROOM_MAX_IMAGE_PIXELS', parse: integer(64 * 64, 16384 * 16384), fallback: () => 4096 * 4096 },
  s3Bucket: { env: 'DARKROOM_S3_BUCKET', parse: s3BucketName, fallback: () => '' },
  s3Endpoint: { env: 'DARKROOM_S3_ENDPOINT', parse: httpUrl, fallback: () => '' },
  s3Region: { env: 'DARKROOM_S3_REGION', parse: (r) => r.trim(), fallback: () => '' },
  s3ForcePathStyle: { env: 'DARKROOM_S3_FORCE_PATH_STYLE', parse: boolean, fallback: () => false },
  s3PublicUrl: { env: 'DARKROOM_S3_PUBLIC_URL', parse: httpUrl, fallback: () => '' },
  logLevel: { env: 'DARKROOM_LOG_LEVEL', parse: (r) => oneOf(LOG_LEVELS)(r.trim().toLowerCase()), fallback: () => 'info' },
  logFormat: { env: 'DARKROOM_LOG_FORMAT', parse: (r) => oneOf(LOG_FORMATS)(r.trim().toLowerCase()), fallback: () => 'json' },
};

/** The CLI flag of a setting: DARKROOM_DATA_DIR → --data-dir. */
export function flagName(env: string): string {
  return '--' + env.replace(/^DARKROOM_/, '').toLowerCase().replace(/_/g, '-');
}

/**
 * @param env process.env or a test's object
 * @param flags values given as CLI flags, keyed by environment variable name (they win over env)
 */
export function loadConfig(env: Source = process.env, flags: Source = {}): Config {
  const problems: string[] = [];
  const config: Partial<Config> = {};
  // Declaration order matters: later fallbacks (modelsDir) read earlier values (dataDir).
  for (const key of Object.keys(SETTINGS) as (keyof Config)[]) {
    const s = SETTINGS[key] as Setting<unknown>;
    const fromFlag = flags[s.env];
    const fromEnv = env[s.env] ?? s.aliases?.map((a) => env[a]).find((v) => v !== undefined);
    const raw = fromFlag ?? fromEnv;
    const origin = fromFlag !== undefined ? flagName(s.env) : s.env;
    try {
      (config as Record<string, unknown>)[key] = raw === undefined ? s.fallback(config) : s.parse(raw);
    } catch (err) {
      problems.push(`${origin}=${JSON.stringify(raw)}: ${(err as Error).message}`);
    }
  }
  // S3 settings without a bucket would silently keep images on the local disk.
  const s3Given = S3_DEPENDENT.map((k) => SETTINGS[k].env).filter((e) => (flags[e] ?? env[e] ?? '').trim() !== '');
  if (!config.s3Bucket && s3Given.length && !problems.some((p) => p.startsWith('DARKROOM_S3_BUCKET=') || p.startsWith(`${flagName('DARKROOM_S3_BUCKET')}=`))) {
    problems.push(`DARKROOM_S3_BUCKET: must be set when ${s3Given.join(', ')} ${s3Given.length > 1 ? 'are' : 'is'} (images go to S3 only with a bucket; unset those to keep them on the local disk)`);
  }
  if (problems.length) throw new ConfigError(problems);
  return config as Config;
}

export function settingEnvNames(): string[] {
  return Object.values(SETTINGS).map((s) => s.env);
}
