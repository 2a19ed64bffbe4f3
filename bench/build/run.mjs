// pnpm bench:build — the same two-service compose project, at the same commit, built and pushed
// by Hoist's builder (a real builder process taking a real build job) and, in the same run, by
// hand: `git fetch` + `podman build` + `podman push`. Rounds alternate; medians are compared.
//
//   BENCH_ROUNDS (default 5) timed rounds per side, after one untimed warm-up round each.
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..", "..");
const shared = await import(join(root, "packages/shared/dist/index.js"));
const { Redis } = await import(join(root, "packages/shared/node_modules/ioredis/built/index.js"));
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const say = (msg) => process.stdout.write(`${msg}\n`);

// ---- real components on loopback (the same script the tests use) ----
const svcDir = mkdtempSync(join(tmpdir(), "hoist-bench-build-"));
const envText = execFileSync("bash", [join(root, "scripts/services-up.sh")], {
  env: { ...process.env, W: svcDir, SERVICES: "redis podman registry sshd" },
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
const env = {};
for (const m of envText.matchAll(/^export (\w+)="(.*)"$/gm)) env[m[1]] = m[2];
const podmanEnv = {
  ...process.env,
  CONTAINERS_CONF: env.CONTAINERS_CONF,
  CONTAINERS_STORAGE_CONF: env.CONTAINERS_STORAGE_CONF,
  CONTAINERS_REGISTRIES_CONF: env.CONTAINERS_REGISTRIES_CONF,
};
const work = mkdtempSync(join(tmpdir(), "hoist-bench-work-"));
let builder;
const cleanup = () => {
  builder?.kill("SIGKILL");
  try {
    execFileSync("bash", [join(root, "scripts/services-down.sh")], { env: { ...process.env, W: svcDir }, stdio: "ignore" });
  } catch {}
  rmSync(work, { recursive: true, force: true });
  rmSync(svcDir, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

try {
  // ---- base image: busybox FROM scratch (no Docker Hub here) ----
  const baseDir = join(work, "base");
  mkdirSync(baseDir);
  copyFileSync("/bin/busybox", join(baseDir, "busybox"));
  writeFileSync(
    join(baseDir, "Dockerfile"),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\n',
  );
  await run("podman", ["build", "-q", "-t", "docker.io/library/busybox:latest", baseDir], { env: podmanEnv });

  // ---- the project: a bare repo on the sshd, two services, ~2 MB of sources ----
  const bare = join(work, "app.git");
  const src = join(work, "src");
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare]);
  execFileSync("git", ["-C", bare, "config", "uploadpack.allowReachableSHA1InWant", "true"]);
  execFileSync("git", ["init", "-q", "-b", "main", src]);
  const files = {
    "docker-compose.yml":
      "services:\n  web:\n    build: ./web\n  worker:\n    build:\n      context: ./worker\n      args:\n        MODE: batch\n",
    "web/Dockerfile": 'FROM busybox\nCOPY . /app\nRUN find /app -type f | wc -l > /app/.count\nCMD ["cat", "/app/.count"]\n',
    "web/.dockerignore": "*.md\n",
    "worker/Dockerfile": 'FROM busybox\nARG MODE\nCOPY jobs /jobs\nRUN echo "$MODE" > /mode\nCMD ["cat", "/mode"]\n',
  };
  for (let i = 0; i < 400; i++) files[`web/static/asset-${i}.js`] = randomBytes(2500).toString("base64");
  for (let i = 0; i < 100; i++) files[`worker/jobs/job-${i}.sh`] = `echo job ${i}\n${randomBytes(1500).toString("hex")}\n`;
  files["web/README.md"] = "ignored\n";
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(src, p)), { recursive: true });
    writeFileSync(join(src, p), c);
  }
  const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@x", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@x" };
  execFileSync("git", ["-C", src, "add", "-A"], { env: gitEnv });
  execFileSync("git", ["-C", src, "commit", "-qm", "bench"], { env: gitEnv });
  execFileSync("git", ["-C", src, "push", "-q", bare, "HEAD:refs/heads/main"], { env: gitEnv });
  const sha = execFileSync("git", ["-C", src, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
  const sshUrl = `ssh://root@127.0.0.1:${env.HOIST_TEST_SSH_PORT}${bare}`;

  // ---- one deploy key for both sides ----
  const keyDir = join(work, "key");
  mkdirSync(keyDir, { mode: 0o700 });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]);
  const publicKey = readFileSync(join(keyDir, "id.pub"), "utf8").trim();
  appendFileSync(env.HOIST_TEST_SSH_AUTHORIZED_KEYS, `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${publicKey}\n`);
  const [hkType, hkKey] = readFileSync(env.HOIST_TEST_SSH_HOST_KEY, "utf8").trim().split(/\s+/);
  const hostKeyLine = `[127.0.0.1]:${env.HOIST_TEST_SSH_PORT} ${hkType} ${hkKey}`;
  writeFileSync(join(keyDir, "known_hosts"), `${hostKeyLine}\n`);

  // ---- Hoist: records, a builder process, build jobs ----
  const prefix = "bench";
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const blocking = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const masterKey = randomBytes(32);
  writeFileSync(join(keyDir, "master.key"), masterKey.toString("base64"), { mode: 0o600 });
  const records = new shared.Records(redis, prefix);
  const queues = new shared.JobQueues(redis, prefix);
  const box = new shared.LocalSecretBox(masterKey);
  const app = "bench-app";
  await records.apps.create({
    name: app,
    branch: "main",
    repo: { sshUrl },
    target: { kind: "local", services: {} },
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    hostKeys: [hostKeyLine],
    deployKey: { publicKey, privateKey: await box.seal(readFileSync(join(keyDir, "id"), "utf8"), shared.secretContexts.deployKey(app)) },
  });
  builder = spawn(process.execPath, [join(root, "services/builder/dist/main.js")], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? "/tmp",
      ...podmanEnv,
      REDIS_URL: env.REDIS_URL,
      DOCKER_HOST: env.DOCKER_HOST,
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_REGISTRY: env.HOIST_TEST_REGISTRY,
      HOIST_REGISTRY_INSECURE: "true",
      HOIST_MASTER_KEY_FILE: join(keyDir, "master.key"),
      HOIST_WORK_DIR: join(work, "hoist-work"),
      HOIST_LOG_LEVEL: "info",
      HOIST_CONCURRENCY: "1",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolveReady, rejectReady) => {
    let buf = "";
    builder.stdout.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"msg":"ready"')) resolveReady();
        if (/"level":(40|50|60)/.test(line)) process.stderr.write(`builder: ${line}\n`);
      }
    });
    builder.once("exit", (code) => rejectReady(new Error(`the builder exited (${code}) before it was ready`)));
  });

  async function hoistRound() {
    const build = await records.builds.create({ app, ref: "refs/heads/main", sha, trigger: "manual" });
    const t0 = performance.now();
    await queues.enqueue("build", { kind: "build", buildId: build.id });
    let status;
    for await (const e of shared.followLog(blocking, shared.buildLogKey(prefix, build.id), { blockMs: 1000 })) {
      if (e.kind === "end") status = e.status;
    }
    const s = (performance.now() - t0) / 1000;
    if (process.env.BENCH_VERBOSE) {
      // Where the time went: each log line's offset from the enqueue.
      const b = await records.builds.get(build.id);
      const start = Date.parse(b.createdAt);
      for (const e of await shared.readLog(redis, shared.buildLogKey(prefix, build.id))) {
        say(`  +${((Date.parse(e.time) - start) / 1000).toFixed(2)} ${e.kind === "line" ? `${e.step}: ${e.line}` : `end ${e.status}`}`);
      }
    }
    if (status !== "succeeded") throw new Error(`hoist build ${build.id} ended ${status}: ${(await records.builds.get(build.id))?.reason}`);
    return s;
  }

  let refN = 0;
  async function referenceRound() {
    refN++;
    const dir = join(work, `ref-${refN}`);
    const t0 = performance.now();
    const ssh = `ssh -F /dev/null -i ${join(keyDir, "id")} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${join(keyDir, "known_hosts")} -o StrictHostKeyChecking=yes`;
    const genv = { ...process.env, GIT_SSH_COMMAND: ssh };
    await run("git", ["init", "-q", dir], { env: genv });
    await run("git", ["-C", dir, "fetch", "-q", "--depth", "1", "--no-tags", sshUrl, sha], { env: genv });
    await run("git", ["-C", dir, "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"], { env: genv });
    const repo = `${env.HOIST_TEST_REGISTRY}/reference`;
    await run("podman", ["build", "-q", "-t", `${repo}:web.${refN}`, join(dir, "web")], { env: podmanEnv });
    await run("podman", ["build", "-q", "--build-arg", "MODE=batch", "-t", `${repo}:worker.${refN}`, join(dir, "worker")], {
      env: podmanEnv,
    });
    await run("podman", ["push", "-q", "--tls-verify=false", `${repo}:web.${refN}`], { env: podmanEnv });
    await run("podman", ["push", "-q", "--tls-verify=false", `${repo}:worker.${refN}`], { env: podmanEnv });
    const s = (performance.now() - t0) / 1000;
    rmSync(dir, { recursive: true, force: true });
    return s;
  }

  say(
    `bench build: ${rounds} rounds each, alternating, after one warm-up round each (project: 2 services, ${Object.keys(files).length} files)`,
  );
  await hoistRound();
  await referenceRound();
  const h = [];
  const r = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which side goes first, so neither always runs on a warmer machine.
    if (i % 2 === 0) {
      h.push(await hoistRound());
      r.push(await referenceRound());
    } else {
      r.push(await referenceRound());
      h.push(await hoistRound());
    }
    say(`round ${i + 1}: hoist ${h[i].toFixed(2)} s, reference ${r[i].toFixed(2)} s`);
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const mh = median(h);
  const mr = median(r);
  await queues.close();
  redis.disconnect();
  blocking.disconnect();
  builder.kill("SIGTERM");
  await new Promise((res) => builder.once("exit", res));
  builder = undefined;
  cleanup();
  say(`bench build: hoist ${mh.toFixed(2)} s; reference ${mr.toFixed(2)} s; ratio ${(mh / mr).toFixed(2)}`);
} catch (err) {
  cleanup();
  process.stderr.write(`bench build failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
