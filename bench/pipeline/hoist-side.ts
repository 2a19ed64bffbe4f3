// Hoist's side of bench:pipeline: the API process (GitLab Push Hooks in), and the builder,
// deployer and notifier each booted through its own main.js (service-process.mjs) with only the
// build and the rollout injected.
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import type { Records, ServiceUser } from "@hoist/shared";
import { releaseIdFor } from "../../services/builder/src/jobs/build-job.js";
import { freePort } from "../support/http.js";
import { pushHook } from "../support/push-hook.js";
import { type Forked, forkReporting, post } from "./processes.js";
import type { StampRow } from "./reference-process.js";
import { emptyStamps, type Stamps } from "./stats.js";

const serviceProcess = resolve(import.meta.dirname, "service-process.mjs");

/** One side of the comparison: its processes are up for the whole run; traffic comes in slices. */
export interface Side {
  name: string;
  stamps: Stamps;
  /** Pushes that ended: live, or (Hoist) superseded by a newer release of the app. */
  ended: Set<string>;
  /** pids whose CPU counts for this side */
  pids: () => number[];
  push: (i: number) => Promise<void>;
  /** Where the pushes that did not end are stuck. */
  explain: (ids: string[]) => Promise<string>;
  stop: () => Promise<void>;
}

export interface HoistApps {
  records: Records;
  apps: { name: string; hookUrl: string; token: string }[];
}

/** What a Hoist Slack message said about a push. */
export interface Outcome {
  app: string;
  release: number;
  live: boolean;
}

export const recordStamps = (stamps: Stamps) => (rows: StampRow[]) => {
  for (const [name, id, at] of rows) stamps[name].set(id, at);
};

/** Boots one Hoist worker service as production does (health listener on loopback included). */
export async function startService(
  service: "builder" | "deployer" | "notifier",
  opts: {
    env: Record<string, string>;
    redisUrls: Record<ServiceUser, string>;
    execArgv: string[];
    logFile: string;
    stamps: Stamps;
    buildMs?: number;
  },
): Promise<Forked> {
  const healthPort = await freePort();
  const forked = await forkReporting(`hoist-${service}`, serviceProcess, {
    execArgv: opts.execArgv,
    env: {
      ...opts.env,
      REDIS_URL: opts.redisUrls[service],
      BENCH_SERVICE: service,
      BENCH_BUILD_MS: String(opts.buildMs ?? 0),
      HOIST_HEALTH_PORT: String(healthPort),
      HOIST_HEALTH_HOST: "127.0.0.1",
    },
    logFile: opts.logFile,
    onStamps: recordStamps(opts.stamps),
  });
  // Every listener production runs must be up: the health endpoint answers, and so does /metrics.
  for (const path of ["/healthz", "/metrics"]) {
    const res = await fetch(`http://127.0.0.1:${healthPort}${path}`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${forked.name} answered ${res.status} on ${path}; see ${opts.logFile}`);
  }
  return forked;
}

export async function hoistSide(
  a: HoistApps,
  opts: {
    env: Record<string, string>;
    redisUrls: Record<ServiceUser, string>;
    execArgv: string[];
    dir: string;
    apiPid: number | undefined;
    concurrency: Record<string, string>;
  },
): Promise<{ side: Side; outcomes: Map<string, Outcome>; onSlack: (text: string, at: number) => void }> {
  const stamps = emptyStamps();
  const ended = new Set<string>();
  const outcomes = new Map<string, Outcome>();
  const bySha = new Map<string, string>();
  const workers = await Promise.all(
    (["builder", "deployer", "notifier"] as const).map((s) =>
      startService(s, {
        env: { ...opts.env, HOIST_CONCURRENCY: opts.concurrency[s] as string },
        redisUrls: opts.redisUrls,
        execArgv: opts.execArgv,
        logFile: join(opts.dir, `hoist-${s}.log`),
        stamps,
      }),
    ),
  );
  // A Slack message can reach this process before the webhook's 202 does (a busy client): it is
  // kept by commit until the answer names the build.
  const early = new Map<string, { at: number; outcome: Outcome }>();
  const end = (id: string, at: number, outcome: Outcome) => {
    outcomes.set(id, outcome);
    if (outcome.live) stamps.liveAt.set(id, at);
    ended.add(id);
  };
  const onSlack = (text: string, at: number) => {
    const m = /^(\S+) ([0-9a-f]{8})(?: is live|: release failed) \(release #(\d+)\)/.exec(text);
    if (!m) return;
    const outcome = { app: m[1] as string, release: Number(m[3]), live: text.includes(" is live") };
    const id = bySha.get(m[2] as string);
    if (id) end(id, at, outcome);
    else early.set(m[2] as string, { at, outcome });
  };
  const side: Side = {
    name: "hoist",
    stamps,
    ended,
    pids: () => [opts.apiPid, ...workers.map((w) => w.child.pid)].filter((p): p is number => p !== undefined),
    push: async (i) => {
      const app = a.apps[i % a.apps.length] as HoistApps["apps"][number];
      const sha = randomBytes(20).toString("hex");
      const hook = pushHook({ token: app.token, branch: `bench/${i}`, sha });
      const sent = Date.now();
      const res = await post(app.hookUrl, hook.headers, hook.body);
      const accepted = Date.now();
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${res.body}`);
      const buildId = (JSON.parse(res.body) as { buildId: string }).buildId;
      bySha.set(sha.slice(0, 8), buildId);
      stamps.sentAt.set(buildId, sent);
      stamps.acceptedAt.set(buildId, accepted);
      const e = early.get(sha.slice(0, 8));
      if (e) end(buildId, e.at, e.outcome);
    },
    explain: async (ids) => {
      const rows = await Promise.all(
        ids.map(async (id) => {
          const build = await a.records.builds.get(id);
          const release = await a.records.releases.get(build?.releaseId ?? releaseIdFor(id));
          return `${id}: build ${build?.status ?? "missing"}${build?.reason ? ` (${build.reason})` : ""}, release ${release ? `${release.status}${release.reason ? ` (${release.reason})` : ""}` : "none"}`;
        }),
      );
      return rows.join("\n");
    },
    stop: async () => {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
  return { side, outcomes, onSlack };
}
