/**
 * The metadata schema as Kysely sees it: one set of tables for SQLite (embedded) and Postgres
 * (scaled out). Types are chosen to read back the same on both: ids are UUID strings, timestamps
 * are ISO-8601 UTC strings with microseconds (they sort as text), booleans are 0/1 integers, and
 * JSON is text.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** A nullable column that may be left out of an insert (it starts NULL). */
type Optional<T> = ColumnType<T | null, T | null | undefined, T | null>;

export type Role = 'admin' | 'user';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type IdempotencyState = 'running' | 'done';
export type LedgerReason = 'initial' | 'grant' | 'generation' | 'upscale' | 'refund';

export interface UsersTable {
  id: string;
  name: string;
  role: Role;
  /** Cache of SUM(credit_ledger.delta), updated in the same transaction as each ledger row; never negative. */
  credits: Generated<number>;
  created_at: string;
  updated_at: string;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 hex of the whole secret; the secret itself is shown once and never stored. */
  hash: string;
  /** First 3 + "..." + last 4 characters, to tell keys apart in lists. */
  short_string: string;
  uses: Generated<number>;
  credits_spent: Generated<number>;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** Leonardo-style webhook: where to POST when a generation made with this key completes. */
  webhook_url: Optional<string>;
  /** Sent as `Authorization: Bearer <this>` with each webhook call (the receiver's own secret). */
  webhook_api_key: Optional<string>;
}

export interface CreditLedgerTable {
  id: string;
  user_id: string;
  /** Positive for grants and refunds, negative for debits. */
  delta: number;
  reason: LedgerReason;
  generation_id: string | null;
  upscale_id: string | null;
  api_key_id: string | null;
  note: string | null;
  created_at: string;
}

export interface GenerationsTable {
  id: string;
  user_id: string;
  api_key_id: string | null;
  status: JobStatus;
  /** The model's manifest id. */
  model: string;
  scheduler: string;
  prompt: string;
  negative_prompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  num_outputs: number;
  init_image_url: string | null;
  prompt_strength: number | null;
  /** Every setting as resolved (defaults filled), JSON. */
  settings: string;
  cost: number;
  /** 'api', 'web', 'cli'. */
  source: string;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Set when its owner deleted it: it leaves every listing (its ledger rows stay). */
  deleted_at: Optional<string>;
  /** Claims so far (a job whose worker died is claimed again once, then failed). */
  attempts: Generated<number>;
  /** While running: the time its worker must renew the lease by, or the job counts as abandoned. */
  lease_until: Optional<string>;
  /** When it is failed and refunded (TIMEOUT) if it has not ended. */
  deadline_at: Optional<string>;
  /** The id of the HTTP request that made it (logs follow it into the worker). */
  request_id: Optional<string>;
  /** A variation (Leonardo's unzoom, universal upscaler): the output it was made from. */
  variation_of: Optional<string>;
  /** A variation: which one (Leonardo's transformType, or Darkroom's name where Leonardo has none). */
  transform_type: Optional<string>;
}

export interface GenerationOutputsTable {
  id: string;
  generation_id: string;
  user_id: string;
  /** Index in the batch (output k used seed + k). */
  idx: number;
  seed: number;
  image_key: string;
  width: number;
  height: number;
  is_public: Generated<number>;
  upscaled_image_key: string | null;
  created_at: string;
  updated_at: string;
  /** Set when its owner deleted it: its images are gone and it leaves every listing. */
  deleted_at: Optional<string>;
  /** 1 when the model's safety checker flagged it (its image is black). */
  nsfw: Generated<number>;
}

export interface UploadsTable {
  id: string;
  user_id: string;
  object_key: string;
  content_type: string;
  bytes: number;
  width: number;
  height: number;
  created_at: string;
}

export interface UpscalesTable {
  id: string;
  user_id: string;
  api_key_id: string | null;
  status: JobStatus;
  model: string;
  /** What the caller gave: an output id or an image URL. */
  input: string;
  output_id: string | null;
  /** Object key of the image to upscale (the output's image, an upload, or a fetched URL under inits/). */
  source_key: string;
  image_key: string | null;
  width: number | null;
  height: number | null;
  scale: number;
  cost: number;
  source: string;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Claims so far (a job whose worker died is claimed again once, then failed). */
  attempts: Generated<number>;
  /** While running: the time its worker must renew the lease by, or the job counts as abandoned. */
  lease_until: Optional<string>;
  /** When it is failed and refunded (TIMEOUT) if it has not ended. */
  deadline_at: Optional<string>;
  /** The id of the HTTP request that made it (logs follow it into the worker). */
  request_id: Optional<string>;
}

/** A webhook to send for a finished generation: written with the job's end, sent (and retried) by an API process. */
export interface WebhookOutboxTable {
  id: string;
  generation_id: string;
  attempts: Generated<number>;
  next_attempt_at: string;
  delivered_at: Optional<string>;
  gave_up_at: Optional<string>;
  last_error: Optional<string>;
  created_at: string;
}

/**
 * One `Idempotency-Key` of one user: inserted (running) before the request runs, its answer saved
 * (done) when it ends, kept until expires_at. owner and locked_at are the running request's claim,
 * renewed while it runs; a claim left stale (its process died) may be taken over.
 */
export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  /** SHA-256 hex of method, path, Accept, media type and body. */
  fingerprint: string;
  state: IdempotencyState;
  owner: string;
  locked_at: string;
  /** The saved answer (state done): HTTP status, headers as JSON [[name, value], ...], body as base64. */
  status: Optional<number>;
  headers: Optional<string>;
  body: Optional<string>;
  created_at: string;
  expires_at: string;
}

/** A live worker process and what it serves (JSON lists), kept while its heartbeat is renewed. */
export interface WorkersTable {
  id: string;
  host: string;
  /** The engine's listed models (ListedModel[] as JSON). */
  models: string;
  /** Its upscalers (UpscalerInfo[] as JSON), the first being its default. */
  upscalers: string;
  started_at: string;
  heartbeat_at: string;
}

/** Server-wide values shared by every process (the image-URL signing secret, ...). */
export interface ServerSettingsTable {
  key: string;
  value: string;
}

export interface DB {
  users: UsersTable;
  api_keys: ApiKeysTable;
  credit_ledger: CreditLedgerTable;
  generations: GenerationsTable;
  generation_outputs: GenerationOutputsTable;
  uploads: UploadsTable;
  upscales: UpscalesTable;
  server_settings: ServerSettingsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_outbox: WebhookOutboxTable;
  workers: WorkersTable;
}

export type User = Selectable<UsersTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type LedgerEntry = Selectable<CreditLedgerTable>;
export type Generation = Selectable<GenerationsTable>;
export type NewGeneration = Insertable<GenerationsTable>;
export type GenerationUpdate = Updateable<GenerationsTable>;
export type GenerationOutput = Selectable<GenerationOutputsTable>;
export type NewGenerationOutput = Insertable<GenerationOutputsTable>;
export type Upload = Selectable<UploadsTable>;
export type Upscale = Selectable<UpscalesTable>;
export type NewUpscale = Insertable<UpscalesTable>;
export type IdempotencyKey = Selectable<IdempotencyKeysTable>;
