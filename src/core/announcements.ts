/**
 * What the workers serve, told through the database: each worker process renews one row (its
 * models and upscalers) every few seconds; API processes list what live workers announce, so a
 * model is offered while at least one worker serves it and drops out when the last one stops.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import type { ListedModel } from '../engine/models/registry.ts';
import type { UpscalerInfo } from '../engine/upscale/types.ts';
import type { ModelSource } from './models.ts';
import type { UpscalerList } from './upscales.ts';

export const HEARTBEAT_MS = 5000;
/** A worker silent this long is taken for gone. */
const ALIVE_MS = 3 * HEARTBEAT_MS;

function isoAgo(ms: number): string {
  return new Date(Date.now() - ms).toISOString().replace('Z', '000Z');
}

/** The worker's side: announce now, then keep the announcement fresh until stop(). */
export class Announcer {
  readonly id = randomUUID();
  private timer?: NodeJS.Timeout;
  private readonly startedAt = timestamp();

  constructor(
    private readonly db: Database,
    private readonly serves: { models: () => Promise<ListedModel[]>; upscalers: UpscalerList },
    private readonly log?: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.announce();
    this.timer = setInterval(() => {
      this.announce().catch((err: unknown) => this.log?.(`could not announce this worker: ${err instanceof Error ? err.message : String(err)}`));
    }, HEARTBEAT_MS);
    this.timer.unref();
  }

  private async announce(): Promise<void> {
    const models = JSON.stringify((await this.serves.models()).filter((m) => m.info));
    const upscalers = JSON.stringify((await this.serves.upscalers.list()).map((u) => u.info));
    const now = timestamp();
    await this.db.kysely
      .insertInto('workers')
      .values({ id: this.id, host: hostname(), models, upscalers, started_at: this.startedAt, heartbeat_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ models, upscalers, heartbeat_at: now }))
      .execute();
  }

  /** Leaves the list at once (a worker that dies leaves it when its heartbeat goes stale). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.db.kysely.deleteFrom('workers').where('id', '=', this.id).execute();
  }
}

/** The API side: the models and upscalers of every live worker, each listed once (the oldest worker's first). */
export class Announced {
  readonly models: ModelSource = { list: () => this.listModels() };
  readonly upscalers: UpscalerList = { list: () => this.listUpscalers() };

  constructor(private readonly db: Database) {}

  private live() {
    return this.db.kysely.selectFrom('workers').select(['models', 'upscalers']).where('heartbeat_at', '>', isoAgo(ALIVE_MS)).orderBy('started_at').execute();
  }

  private async listModels(): Promise<ListedModel[]> {
    const byId = new Map<string, ListedModel>();
    for (const row of await this.live()) {
      for (const m of JSON.parse(row.models) as ListedModel[]) if (m.info && !byId.has(m.info.manifest.id)) byId.set(m.info.manifest.id, m);
    }
    return [...byId.values()];
  }

  private async listUpscalers(): Promise<{ info: UpscalerInfo }[]> {
    const byId = new Map<string, UpscalerInfo>();
    for (const row of await this.live()) for (const u of JSON.parse(row.upscalers) as UpscalerInfo[]) if (!byId.has(u.id)) byId.set(u.id, u);
    return [...byId.values()].map((info) => ({ info }));
  }
}
