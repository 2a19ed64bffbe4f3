// pnpm bench:build — the same two-service compose project, at the same commit, built and pushed
// by Hoist (its API process takes a GitLab Push Hook, its builder process builds; timed from the
// webhook sent to the release created) and, in the same run, by hand as a competent engineer
// would: `git fetch`, then both `docker build`s at once, then both `docker push`es at once, with
// the warm docker CLI on the same Docker API service (podman's socket) the builder uses. Rounds
// alternate; medians are compared. Method: docs/benchmarks.md.
//
//   BENCH_ROUNDS (default 5) timed rounds per side, after one untimed warm-up round each.
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
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
// podman's own configuration for this run (the builder gets only these; the CLI also the rest).
const podmanConf = {
  CONTAINERS_CONF: env.CONTAINERS_CONF,
  CONTAINERS_STORAGE_CONF: env.CONTAINERS_STORAGE_CONF,
  CONTAINERS_REGISTRIES_CONF: env.CONTAINERS_REGISTRIES_CONF,
};
const podmanEnv = { ...process.env, ...podmanConf };
const work = mkdtempSync(join(tmpdir(), "hoist-bench-work-"));
let api;
let builder;
const cleanup = () => {
  for (const p of [api, builder]) p?.kill("SIGKILL");
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

async function freePort() {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts a Hoist service from its production entry point; resolves once it logged "ready". */
async function startService(name, serviceEnv) {
  const child = spawn(process.execPath, [join(root, `services/${name}/dist/main.js`)], {
    env: serviceEnv,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolveReady, rejectReady) => {
    let buf = "";
    child.stdout.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"msg":"ready"')) resolveReady();
        if (/"level":(40|50|60)/.test(line)) process.stderr.write(`${name}: ${line}\n`);
      }
    });
    child.once("exit", (code) => rejectReady(new Error(`the ${name} exited (${code}) before it was ready`)));
  });
  return child;
}

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

  // ---- the reference's deploy key and known host (Hoist makes its own and pins the host key on first use) ----
  const keyDir = join(work, "key");
  mkdirSync(keyDir, { mode: 0o700 });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]);
  const publicKey = readFileSync(join(keyDir, "id.pub"), "utf8").trim();
  appendFileSync(env.HOIST_TEST_SSH_AUTHORIZED_KEYS, `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${publicKey}\n`);
  const [hkType, hkKey] = readFileSync(env.HOIST_TEST_SSH_HOST_KEY, "utf8").trim().split(/\s+/);
  const hostKeyLine = `[127.0.0.1]:${env.HOIST_TEST_SSH_PORT} ${hkType} ${hkKey}`;
  writeFileSync(join(keyDir, "known_hosts"), `${hostKeyLine}\n`);

  // ---- Hoist: the API process (webhooks in) and a builder process, as production runs them ----
  const prefix = "bench";
  const redis = new Redis(env.HOIST_SERVICES_REDIS_URL, { maxRetriesPerRequest: null });
  const blocking = new Redis(env.HOIST_SERVICES_REDIS_URL, { maxRetriesPerRequest: null });
  writeFileSync(join(keyDir, "master.key"), randomBytes(32).toString("base64"), { mode: 0o600 });
  const records = new shared.Records(redis, prefix);
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiToken = randomBytes(24).toString("hex");
  const hoistEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? "/tmp",
    REDIS_URL: env.HOIST_SERVICES_REDIS_URL,
    HOIST_QUEUE_PREFIX: prefix,
    HOIST_MASTER_KEY_FILE: join(keyDir, "master.key"),
    HOIST_DATA_DIR: join(work, "hoist-data"),
    HOIST_PUBLIC_URL: apiUrl,
    HOIST_LOG_LEVEL: "info",
  };
  // Each service as its own Redis ACL user (services-up gave this Redis the users), as in production.
  const asUser = (service) =>
    shared.serviceRedisUrl(env.HOIST_SERVICES_REDIS_URL, service, env[`HOIST_REDIS_PASSWORD_${service.toUpperCase()}`]);
  api = await startService("api", {
    ...hoistEnv,
    REDIS_URL: asUser("api"),
    HOIST_PORT: String(apiPort),
    HOIST_HOST: "127.0.0.1",
    HOIST_API_TOKEN: apiToken,
  });
  builder = await startService("builder", {
    ...hoistEnv,
    REDIS_URL: asUser("builder"),
    ...podmanConf,
    DOCKER_HOST: env.DOCKER_HOST,
    HOIST_REGISTRY: env.HOIST_TEST_REGISTRY,
    HOIST_REGISTRY_INSECURE: "true",
    HOIST_REGISTRY_SECRET_FILE: env.HOIST_REGISTRY_SECRET_FILE,
    HOIST_WORK_DIR: join(work, "hoist-work"),
  });
  const app = "bench-app";
  const created = await fetch(`${apiUrl}/v1/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: app, branch: "main", repo: { sshUrl }, target: { kind: "local", services: {} } }),
  });
  const appBody = await created.json();
  if (created.status !== 201) throw new Error(`POST /v1/apps answered ${created.status}: ${JSON.stringify(appBody)}`);
  // The deploy key Hoist generated goes where GitLab would keep it: the git host's authorized keys.
  appendFileSync(
    env.HOIST_TEST_SSH_AUTHORIZED_KEYS,
    `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${appBody.deployKey.publicKey}\n`,
  );

  /** From the GitLab Push Hook sent to the release created, on this machine's one clock. */
  async function hoistRound() {
    const body = JSON.stringify({
      object_kind: "push",
      event_name: "push",
      before: "0".repeat(40),
      after: sha,
      ref: "refs/heads/main",
      checkout_sha: sha,
      user_name: "Bench",
      project_id: 15,
      project: { id: 15, path_with_namespace: "acme/app", default_branch: "main", git_ssh_url: sshUrl },
      commits: [{ id: sha, message: "bench\n", title: "bench", timestamp: new Date().toISOString(), author: { name: "b", email: "b@x" } }],
      total_commits_count: 1,
    });
    const sent = Date.now();
    const res = await fetch(appBody.webhook.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-gitlab-event": "Push Hook",
        "x-gitlab-token": appBody.webhook.token,
        "idempotency-key": randomUUID(),
        "x-gitlab-webhook-uuid": randomUUID(),
      },
      body,
    });
    const answer = await res.json();
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}: ${JSON.stringify(answer)}`);
    let status;
    // A build nobody takes must fail the bench, not hang it.
    const signal = AbortSignal.timeout(300_000);
    for await (const e of shared.followLog(blocking, shared.buildLogKey(prefix, answer.buildId), { blockMs: 1000, signal })) {
      if (e.kind === "end") status = e.status;
    }
    if (status === undefined) throw new Error(`hoist build ${answer.buildId} did not end within 300 s`);
    const build = await records.builds.get(answer.buildId);
    if (status !== "succeeded") {
      const tail = (await shared.readLog(redis, shared.buildLogKey(prefix, answer.buildId))).slice(-15);
      const lines = tail.map((e) => (e.kind === "line" ? `  ${e.step}: ${e.line}` : `  end ${e.status}`)).join("\n");
      throw new Error(`hoist build ${answer.buildId} ended ${status}: ${build?.reason}; its log ends:\n${lines}`);
    }
    const release = build?.releaseId ? await records.releases.get(build.releaseId) : undefined;
    if (!release) throw new Error(`hoist build ${answer.buildId} succeeded but created no release`);
    if (process.env.BENCH_VERBOSE) {
      // Where the time went: each log line's offset from the webhook.
      for (const e of await shared.readLog(redis, shared.buildLogKey(prefix, build.id))) {
        say(`  +${((Date.parse(e.time) - sent) / 1000).toFixed(2)} ${e.kind === "line" ? `${e.step}: ${e.line}` : `end ${e.status}`}`);
      }
    }
    return (Date.parse(release.createdAt) - sent) / 1000;
  }

  // ---- the reference: what a competent engineer runs by hand on the same Docker API service ----
  // The warm docker CLI against podman's socket (the builder's own Docker API); the two services'
  // builds at the same time, then their pushes at the same time.
  const dockerEnv = { ...process.env, DOCKER_HOST: env.DOCKER_HOST, DOCKER_CONFIG: join(work, "docker-config") };
  mkdirSync(dockerEnv.DOCKER_CONFIG);
  // The registry takes tokens only: the reference pushes as its own app user, as Hoist's builds do.
  const refUser = "app-reference";
  const refPassword = createHmac("sha256", readFileSync(env.HOIST_REGISTRY_SECRET_FILE, "utf8").trim()).update(refUser).digest("base64url");
  writeFileSync(
    join(dockerEnv.DOCKER_CONFIG, "config.json"),
    JSON.stringify({ auths: { [env.HOIST_TEST_REGISTRY]: { auth: Buffer.from(`${refUser}:${refPassword}`).toString("base64") } } }),
    { mode: 0o600 },
  );
  const ssh = `ssh -F /dev/null -i ${join(keyDir, "id")} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${join(keyDir, "known_hosts")} -o StrictHostKeyChecking=yes`;
  const script = `set -eu
git init -q "$DIR"
GIT_SSH_COMMAND="$SSH" git -C "$DIR" fetch -q --depth 1 --no-tags "$URL" "$SHA"
git -C "$DIR" -c advice.detachedHead=false checkout -q FETCH_HEAD
docker build -q -t "$REPO:web.$N" "$DIR/web" >/dev/null & web=$!
docker build -q --build-arg MODE=batch -t "$REPO:worker.$N" "$DIR/worker" >/dev/null & worker=$!
wait $web; wait $worker
docker push -q "$REPO:web.$N" >/dev/null & web=$!
docker push -q "$REPO:worker.$N" >/dev/null & worker=$!
wait $web; wait $worker
`;
  let refN = 0;
  async function referenceRound() {
    refN++;
    const dir = join(work, `ref-${refN}`);
    const t0 = Date.now();
    await run("bash", ["-c", script], {
      env: { ...dockerEnv, DIR: dir, SSH: ssh, URL: sshUrl, SHA: sha, REPO: `${env.HOIST_TEST_REGISTRY}/reference`, N: String(refN) },
    });
    const s = (Date.now() - t0) / 1000;
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
  redis.disconnect();
  blocking.disconnect();
  for (const p of [api, builder]) {
    p.kill("SIGTERM");
    await once(p, "exit");
  }
  api = undefined;
  builder = undefined;
  cleanup();
  say(`bench build: hoist ${mh.toFixed(2)} s; reference ${mr.toFixed(2)} s; ratio ${(mh / mr).toFixed(2)}`);
} catch (err) {
  cleanup();
  process.stderr.write(`bench build failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
