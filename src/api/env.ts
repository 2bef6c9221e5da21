/** What every route handler can reach: the services (through the context) and per-request values. */
import type { Accounts, Auth } from '../core/accounts.ts';
import type { Credits } from '../core/credits.ts';
import type { Generations } from '../core/generations.ts';
import type { ImageAccess } from '../core/image-access.ts';
import type { Idempotency } from '../core/idempotency.ts';
import type { ImageInputs } from '../core/images.ts';
import type { ModelCatalog } from '../core/models.ts';
import type { LoraCatalog } from '../core/loras.ts';
import type { Outputs } from '../core/outputs.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import type { Upscales } from '../core/upscales.ts';
import type { Usage } from '../core/usage.ts';
import type { UploadTokens } from '../core/upload-tokens.ts';
import type { Dialect } from '../config/config.ts';
import type { BodyLimits } from './body-limits.ts';
import type { EventBus } from '../queue/types.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { ReadinessCheck } from './ops.ts';

export interface ApiServices {
  accounts: Accounts;
  credits: Credits;
  generations: Generations;
  upscales: Upscales;
  catalog: ModelCatalog;
  /** Installed LoRA adapters (GET /v1/loras, Leonardo's elements); absent: none offered. */
  loras?: LoraCatalog;
  images: ImageInputs;
  imageAccess: ImageAccess;
  outputs: Outputs;
  usage: Usage;
  store: ObjectStore;
  events: EventBus;
  rateLimiter: RateLimiter;
  /** Idempotency-Key: saved answers of create requests, per user and key. */
  idempotency: Idempotency;
  /** Signed tokens for key-less uploads (Leonardo's presigned init images). */
  uploadTokens: UploadTokens;
}

export interface ApiOptions {
  /** Base of the URLs handed to clients; empty: the origin of each request. */
  publicUrl: string;
  version: string;
  log: (message: string) => void;
  /** The API dialects served; default every one. */
  dialects?: readonly Dialect[];
  /** Leonardo model ids and sd_version values → Darkroom model ids. */
  leonardoModels?: Readonly<Record<string, string>>;
  /** Generations one user may have in flight (Leonardo's apiConcurrencySlots). */
  maxInFlight?: number;
  /** Body limits (body-limits.ts); unset ones take their defaults. */
  limits?: Partial<BodyLimits>;
  /** What /readyz asks (e.g. `databaseCheck(db)`); none: /readyz answers 200 with no checks. */
  readiness?: readonly ReadinessCheck[];
  /** Where the HTTP metrics go and what /metrics serves; default the process's (`processMetrics()`). */
  metrics?: Metrics;
  /** Request log lines and `c.get('logger')`; default a JSON logger writing through `log`. */
  logger?: Logger;
}

export type Env = {
  Variables: {
    auth: Auth;
    requestId: string;
    /** The app's logger; `requestLog(c)` (ops.ts) gives one with this request's `requestId` on every line. */
    logger: Logger;
    /** Settings to echo in an error answer (Stablecog sends them once validation has passed). */
    errorSettings?: unknown;
  };
};
