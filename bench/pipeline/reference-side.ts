// The reference side of bench:pipeline: its HTTP endpoint and its three stages, each in a process
// of its own (reference-process.ts), as Hoist's services are.
import { randomUUID } from "node:crypto";
import { join, resolve } from "node:path";
import type { Side } from "./hoist-side.js";
import { recordStamps } from "./hoist-side.js";
import { forkReporting, post } from "./processes.js";
import type { RefRole } from "./reference-process.js";
import { emptyStamps } from "./stats.js";

const referenceProcess = resolve(import.meta.dirname, "reference-process.ts");

export async function referenceSide(opts: {
  env: Record<string, string>;
  execArgv: string[];
  dir: string;
  /** Each stage runs as many jobs at once as Hoist's service for it. */
  concurrency: Record<RefRole, string>;
}): Promise<{ side: Side; onSlack: (text: string, at: number) => void }> {
  const stamps = emptyStamps();
  const ended = new Set<string>();
  const procs = await Promise.all(
    (["ref-http", "ref-build", "ref-deploy", "ref-notify"] as const).map((role) =>
      forkReporting(role, referenceProcess, {
        execArgv: ["--import", "tsx", ...opts.execArgv],
        env: { ...opts.env, BENCH_ROLE: role, BENCH_CONCURRENCY: opts.concurrency[role] },
        logFile: join(opts.dir, `${role}.log`),
        onStamps: recordStamps(stamps),
      }),
    ),
  );
  const url = procs.find((x) => x.url)?.url as string;
  const onSlack = (text: string, at: number) => {
    const id = /^(\S+) is live/.exec(text)?.[1];
    if (!id) return;
    stamps.liveAt.set(id, at);
    ended.add(id);
  };
  const side: Side = {
    name: "reference",
    stamps,
    ended,
    pids: () => procs.map((p) => p.child.pid).filter((p): p is number => p !== undefined),
    push: async () => {
      const id = randomUUID();
      const sent = Date.now();
      stamps.sentAt.set(id, sent);
      const res = await post(url, { "content-type": "application/json" }, JSON.stringify({ id }));
      if (res.status !== 202) throw new Error(`reference answered ${res.status}`);
      stamps.acceptedAt.set(id, Date.now());
    },
    explain: async (ids) => ids.map((id) => `${id}: no "live" message`).join("\n"),
    stop: async () => {
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
  return { side, onSlack };
}
