/**
 * Every record key, under `${prefix}:rec`. With a `{braces}` prefix all keys share one Redis
 * Cluster slot, which the multi-key scripts below need.
 */
export function recordKeys(prefix: string) {
  const p = `${prefix}:rec`;
  return {
    apps: `${p}:apps`,
    app: (name: string) => `${p}:app:${name}`,
    appBuilds: (name: string) => `${p}:app:${name}:builds`,
    appReleases: (name: string) => `${p}:app:${name}:releases`,
    buildSeq: (name: string) => `${p}:app:${name}:seq:build`,
    releaseSeq: (name: string) => `${p}:app:${name}:seq:release`,
    build: (id: string) => `${p}:build:${id}`,
    /** Builds accepted (record stored) by time, until a sweep finds their job stored: see BuildRepo.orphans. */
    acceptedBuilds: `${p}:builds:accepted`,
    release: (id: string) => `${p}:release:${id}`,
    gitlabConnections: `${p}:gitlab`,
    gitlabConnection: (id: string) => `${p}:gitlab:${id}`,
    hook: (hookId: string) => `${p}:hook:${hookId}`,
  };
}
export type RecordKeys = ReturnType<typeof recordKeys>;
