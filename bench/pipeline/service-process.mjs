// One Hoist worker service of bench:pipeline, booted through its own production entry point
// (services/<name>/dist/main.js: config, logger, telemetry, signal handling, health/metrics server,
// orphan sweeps, cancel subscriber, every listener) with only the build (builder) or the rollout
// (deployer) replaced, through the services' override modules. The replacement stamps when it is
// entered and left; stamps go to the parent over IPC, batched.
//
//   BENCH_SERVICE  builder | deployer | notifier
//   BENCH_BUILD_MS how long the replaced build takes (0: returns at once)
//   HOIST_*        the service's own configuration, as in production
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..", "..");
const service = process.env.BENCH_SERVICE;
if (!["builder", "deployer", "notifier"].includes(service ?? ""))
  throw new Error(`BENCH_SERVICE must be builder, deployer or notifier, not ${service}`);
const buildMs = Number(process.env.BENCH_BUILD_MS ?? 0);
const dist = (file) => pathToFileURL(join(root, "services", service, "dist", file)).href;

const send = (m) => new Promise((r) => (process.send ? process.send(m, () => r()) : r()));
let rows = [];
const stamp = (name, id) => rows.push([name, id, Date.now()]);
const flush = async () => {
  if (rows.length === 0) return;
  const batch = rows;
  rows = [];
  await send({ t: "stamps", rows: batch });
};
// Batched, so that reporting costs the measured process little.
const ticker = setInterval(() => void flush(), 200);
ticker.unref();

if (service === "builder") {
  const { overrideBuilder } = await import(dist("overrides.js"));
  overrideBuilder({
    runPipeline: async (app, build) => {
      stamp("buildStart", build.id);
      if (buildMs > 0) await new Promise((r) => setTimeout(r, buildMs));
      stamp("buildEnd", build.id);
      return [{ service: "web", tag: `127.0.0.1:5000/bench/${app.name}:web.${build.number}` }];
    },
  });
} else if (service === "deployer") {
  const { overrideDeployer } = await import(dist("overrides.js"));
  overrideDeployer({
    targetFor: () => ({
      deploy: async ({ release }) => {
        stamp("deployStart", release.buildId);
        stamp("deployEnd", release.buildId);
        return { ok: true };
      },
    }),
  });
}

// The service's main module: it resolves once the service logged "ready".
await import(dist("main.js"));
const cpuAtReady = process.cpuUsage();

process.on("message", async (m) => {
  // Asked before the parent's SIGTERM: the stamps so far and the CPU spent since ready (start-up,
  // loading and transpiling are not work per push). The service then shuts down its own way.
  if (m?.t !== "report") return;
  await flush();
  const cpu = process.cpuUsage(cpuAtReady);
  await send({ t: "report", cpuMs: (cpu.user + cpu.system) / 1000 });
});
await send({ t: "ready" });
