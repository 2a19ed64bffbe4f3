// pnpm bench:swap — what a zero-downtime swap through Caddy costs the clients of an app. The same load
// loop (BENCH_RATE req/s, one in ten taking 2 s in the app) runs twice against one app on podman:
// 1. direct: on a container's own port, no Caddy, no deploys, for BENCH_DIRECT_SECONDS;
// 2. through Caddy on the service's port during BENCH_DEPLOYS consecutive deploys of alternating
//    releases, each the local target's real swap (start beside, health-check, one upstream switch,
//    drain, remove the old).
// Prints one line: bench swap: failed <n> of <total>; p99 during deploys <ms> ms; direct p99 <ms> ms; ratio <x>
// p99 is over the fast requests: the slow ones take a fixed 2 s in the app on both sides. Figures:
// docs/benchmarks.md. Needs the env of scripts/services-up.sh (DOCKER_HOST) and Debian's caddy.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, createLogger, type Release } from "@hoist/shared";
import { caddyEdgeProvider } from "../../services/deployer/src/adapters/caddy/provider.js";
import { createDocker } from "../../services/deployer/src/adapters/clients.js";
import { LABELS, LocalTarget } from "../../services/deployer/src/adapters/local-target.js";
import { type LoadResult, loadLoop, removeCaddyDir, startCaddy } from "../../test/support/caddy.js";
import { removeLocalApp } from "../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../test/support/deploy/http-app.js";
import { freePort } from "../../test/support/net.js";

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a number > 0, not ${process.env[name]}`);
  return v;
};
const RATE = num("BENCH_RATE", 100);
const DEPLOYS = num("BENCH_DEPLOYS", 20);
const DIRECT_SECONDS = num("BENCH_DIRECT_SECONDS", 20);
const DRAIN_S = num("BENCH_DRAIN_S", 10);
if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: source the env of scripts/services-up.sh first");

const docker = createDocker();
const log = createLogger({ service: "bench-swap", level: process.env.BENCH_LOG ?? "silent" });
const app = `benchswap-${process.pid}`;
const texts = ["bench release 1", "bench release 2"];
const now = new Date().toISOString();

function p99(r: LoadResult): number {
  const fast = r.answers
    .filter((a) => !a.path.startsWith("/cgi-bin/slow"))
    .map((a) => a.end - a.start)
    .sort((a, b) => a - b);
  return fast[Math.min(fast.length - 1, Math.floor(fast.length * 0.99))] ?? Number.NaN;
}

const load = (url: string) =>
  loadLoop(url, { perSecond: RATE, slowEvery: 10, slowMs: 2000, paths: { fast: (i) => `/?i=${i}`, slow: "/cgi-bin/slow" } });

const caddy = await startCaddy({ dir: mkdtempSync(join(tmpdir(), "hoist-bench-swap-")) });
const edges = caddyEdgeProvider({ adminUrl: caddy.adminUrl, log });
const target = new LocalTarget(docker, { stopTimeoutS: 5, edges, drainS: DRAIN_S });
try {
  const tags: string[] = [];
  for (const [i, text] of texts.entries()) tags.push(await buildHttpAppImage(docker, builderTag("benchswap", "web", i + 1), text));
  const port = await freePort();
  const record: App = {
    name: app,
    branch: "main",
    repo: { sshUrl: "ssh://git@127.0.0.1/bench.git" },
    target: { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 30 } } },
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    createdAt: now,
    updatedAt: now,
  };
  const release = (n: number): Release => ({
    id: `rel_bench${String(n).padStart(4, "0")}`,
    app,
    environment: "production",
    number: n,
    buildId: `bld_bench${String(n).padStart(4, "0")}`,
    images: [{ service: "web", tag: tags[n % 2] as string }],
    status: "deploying",
    createdAt: now,
  });
  const deploy = async (n: number) => {
    const out = await target.deploy({ app: record, release: release(n), env: {}, step: async () => {} });
    if (!out.ok) throw new Error(`deploy ${n} failed: ${out.reason}`);
  };

  await deploy(1);
  const [container] = await docker.listContainers({ filters: { label: [`${LABELS.app}=${app}`] } });
  const own = Number(container?.Labels[LABELS.port]);
  process.stderr.write(`direct: ${DIRECT_SECONDS} s on the container's own port ${own}, no deploys\n`);
  const direct = load(`http://127.0.0.1:${own}`);
  await new Promise((r) => setTimeout(r, DIRECT_SECONDS * 1000));
  const directResult = await direct.stop();

  process.stderr.write(`through Caddy on :${port} during ${DEPLOYS} deploys\n`);
  const swapping = load(`http://127.0.0.1:${port}`);
  const t0 = performance.now();
  for (let n = 2; n <= DEPLOYS + 1; n++) await deploy(n);
  const deploysMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2500));
  const swapResult = await swapping.stop();

  const failed = swapResult.failed.length;
  const during = p99(swapResult);
  const base = p99(directResult);
  process.stderr.write(
    `${DEPLOYS} deploys in ${(deploysMs / 1000).toFixed(1)} s (${(deploysMs / DEPLOYS).toFixed(0)} ms each); ` +
      `client retries of a kept-alive connection Caddy closed: ${swapResult.retried} (direct: ${directResult.retried}); ` +
      `direct failed ${directResult.failed.length} of ${directResult.total}\n`,
  );
  console.log(
    `bench swap: failed ${failed} of ${swapResult.total}; p99 during deploys ${during.toFixed(1)} ms; direct p99 ${base.toFixed(1)} ms; ratio ${(during / base).toFixed(2)}`,
  );
} finally {
  await removeLocalApp(docker, app);
  await edges.close();
  await caddy.stop();
  removeCaddyDir(caddy.dir);
}
