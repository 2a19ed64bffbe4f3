import { PipelineFailed, UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";
import { watchRelease } from "./deploy.js";
import type { Release } from "./releases.js";

interface Environment {
  name: string;
  target: { kind: "local"; services: Record<string, { port: number }> } | { kind: "ecs"; cluster: string; service: string };
  auto: boolean;
  requiredApprovals: number;
  freezes: { cron: string; duration: string; timezone: string }[];
  live?: { id: string; number: number; buildId: string; liveAt?: string };
}

const ENVS_USAGE = `hoist envs <app>
  hoist envs <app> create <env> --target-port <port> [--service web] [auto=true|false] [approvals=<n>]
  hoist envs <app> set <env> [auto=true|false] [approvals=<n>]
  hoist envs <app> delete <env>`;

const path = (app: string, env?: string) =>
  `/v1/apps/${encodeURIComponent(app)}/environments${env === undefined ? "" : `/${encodeURIComponent(env)}`}`;

/** `auto=true approvals=2` → the API's fields. */
function settings(pairs: string[]): { auto?: boolean; requiredApprovals?: number } {
  const out: { auto?: boolean; requiredApprovals?: number } = {};
  for (const p of pairs) {
    const [key, value] = p.split("=", 2);
    if (key === "auto" && (value === "true" || value === "false")) out.auto = value === "true";
    else if (key === "approvals" && value !== undefined && /^\d+$/.test(value)) out.requiredApprovals = Number(value);
    else throw new UsageError(`${p}: expected auto=true, auto=false or approvals=<n>`);
  }
  return out;
}

function targetText(t: Environment["target"]): string {
  if (t.kind === "ecs") return `ecs ${t.cluster}/${t.service}`;
  return (
    Object.entries(t.services)
      .map(([s, c]) => `${s}:${c.port}`)
      .join(" ") || "local"
  );
}

/** `hoist envs <app>`: an app's environments side by side (target, auto, approvals, freezes, what is live); create, set, delete. */
export async function envsCommand(ctx: CommandContext): Promise<void> {
  const { args, opts, out, client } = ctx;
  const [app, sub, env, ...rest] = args;
  if (!app) throw new UsageError(ENVS_USAGE);
  if (sub === undefined) {
    const res = await client().get<{ environments: Environment[] }>(path(app));
    const rows = res.environments.map((e) => ({
      name: e.name,
      target: targetText(e.target),
      auto: e.auto,
      approvals: e.requiredApprovals,
      freezes: e.freezes.map((f) => `${f.cron} ${f.duration} ${f.timezone}`).join("; ") || undefined,
      live: e.live ? `#${e.live.number} ${e.live.id}` : undefined,
    }));
    out.data(res, () => table(rows, ["name", "target", "auto", "approvals", "freezes", "live"]));
    return;
  }
  if (!env) throw new UsageError(ENVS_USAGE);
  if (sub === "create") {
    const port = Number(opts["target-port"]);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError("hoist envs <app> create <env> --target-port <port>: a TCP port");
    const service = opts.service ?? "web";
    const res = await client().post<{ environment: Environment }>(path(app), {
      name: env,
      target: { kind: "local", services: { [service]: { port } } },
      ...settings(rest),
    });
    out.data(res, () => `environment ${env} of ${app} created: ${targetText(res.environment.target)}, auto ${res.environment.auto}`);
    return;
  }
  if (sub === "set") {
    const change = settings(rest);
    if (Object.keys(change).length === 0) throw new UsageError("hoist envs <app> set <env> auto=true|false approvals=<n>");
    const res = await client().patch<{ environment: Environment }>(path(app, env), change);
    out.data(res, () => `environment ${env} of ${app}: auto ${res.environment.auto}, approvals ${res.environment.requiredApprovals}`);
    return;
  }
  if (sub === "delete") {
    await client().delete(path(app, env));
    out.data({ deleted: env }, () => `environment ${env} of ${app} deleted`);
    return;
  }
  throw new UsageError(ENVS_USAGE);
}

/**
 * `hoist promote <app> <from-env> <to-env>`: what is live in `from-env` becomes a release of
 * `to-env` (the same images, to-env's variables); `--wait` follows it until it is live or failed.
 */
export async function promoteCommand(ctx: CommandContext): Promise<void> {
  const { args, opts, out, client } = ctx;
  const [app, from, to] = args;
  if (!app || !from || !to || args.length > 3) throw new UsageError("hoist promote <app> <from-env> <to-env> [--wait] [--timeout <s>]");
  const { environment: source } = await client().get<{ environment: Environment }>(path(app, from));
  if (!source.live) throw new PipelineFailed(`nothing is live in ${from} of ${app}: there is nothing to promote`);
  const release = await client().post<Release>(`${path(app, to)}/promote`, { releaseId: source.live.id });
  const what = `release #${source.live.number} of ${from} → release #${release.number} of ${to}`;
  if (!opts.wait) {
    out.data(release, () => `promoting ${app}: ${what} (${release.status})`);
    return;
  }
  const timeoutS = Number(opts.timeout ?? 1800);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError("--timeout takes a number of seconds");
  out.err(`promoting ${app}: ${what}`);
  const done = await watchRelease(ctx, release.id, Date.now() + timeoutS * 1000);
  if (done?.status !== "live") {
    if (out.json) out.data(done ?? release, () => "");
    throw new PipelineFailed(
      `promotion of ${app} to ${to} did not go live${done ? ` (${done.status}${done.reason ? `: ${done.reason}` : ""})` : ""}`,
    );
  }
  out.data(done, () => `${app} is live in ${to}: release #${done.number}`);
}
