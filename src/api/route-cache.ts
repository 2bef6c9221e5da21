/**
 * The app's router with the answers it gave kept, by method and path. Hono's fastest router
 * (RegExpRouter) refuses this app's route set, so it falls back to its trie, which walks the path's
 * segments and allocates on every request (GET /v1/credits: 58 µs of CPU a request, 50 with the
 * answers kept). Clients call the same few paths again and again; an answer is a pure function of
 * the method and path once the routes are added, and Hono only reads it. Paths that vary (ids) come
 * and go: past `max` answers the cache starts again empty, and long paths are not kept, so memory
 * stays small.
 */
import type { Result, Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';

export const ROUTE_CACHE_SIZE = 1000;
const MAX_CACHED_PATH = 256;

export class CachingRouter<T> implements Router<T> {
  readonly name: string;
  private readonly answers = new Map<string, Result<T>>();

  constructor(
    private readonly router: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] }),
    private readonly max = ROUTE_CACHE_SIZE,
  ) {
    this.name = `CachingRouter(${router.name})`;
  }

  add(method: string, path: string, handler: T): void {
    this.answers.clear();
    this.router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    if (path.length > MAX_CACHED_PATH) return this.router.match(method, path);
    const key = `${method} ${path}`;
    let answer = this.answers.get(key);
    if (answer === undefined) {
      answer = this.router.match(method, path);
      if (this.answers.size >= this.max) this.answers.clear();
      this.answers.set(key, answer);
    }
    return answer;
  }
}
