import type { App, Records } from "@hoist/shared";

/** How long a webhook may act on an app read from Redis: token rotations and deletes elsewhere apply within this. */
const APP_CACHE_MS = 1_000;

/**
 * Apps by webhook id for the webhook hot path: every delivery otherwise costs two Redis round
 * trips and a schema parse before it is even authenticated. Writes through this API process
 * invalidate at once; writes by another API process apply within APP_CACHE_MS.
 */
export class AppCache {
  private readonly entries = new Map<string, { app: App | undefined; at: number }>();

  constructor(
    private readonly records: Records,
    private readonly ttlMs = APP_CACHE_MS,
  ) {}

  async byHookId(hookId: string): Promise<App | undefined> {
    const hit = this.entries.get(hookId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.app;
    const app = await this.records.apps.byHookId(hookId);
    if (this.entries.size >= 10_000) this.entries.clear();
    this.entries.set(hookId, { app, at: Date.now() });
    return app;
  }

  /** Call after changing or deleting an app. */
  invalidate(app: Pick<App, "hookId"> | undefined): void {
    if (app?.hookId) this.entries.delete(app.hookId);
  }
}
