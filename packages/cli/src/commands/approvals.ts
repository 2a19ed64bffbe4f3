import { UsageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import type { Release } from "./releases.js";

type GatedRelease = Release & {
  requiredApprovals?: number;
  approvals?: { by: string; name: string; via: string; at: string }[];
  frozenUntil?: string;
};

const path = (app: string, env: string, id: string, action: string) =>
  `/v1/apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(env)}/releases/${encodeURIComponent(id)}/${action}`;

/** `hoist approve <app> <env> <releaseId>`: your approval (one per person) of a release awaiting approval. */
export async function approveCommand({ args, out, client }: CommandContext): Promise<void> {
  const [app, env, id] = args;
  if (!app || !env || !id) throw new UsageError("hoist approve <app> <env> <releaseId>");
  const r = await client().post<GatedRelease>(path(app, env, id, "approve"));
  out.data(r, () => {
    const who = (r.approvals ?? []).map((a) => a.name).join(", ");
    return r.status === "awaiting_approval" && (r.approvals?.length ?? 0) < (r.requiredApprovals ?? 0)
      ? `release #${r.number} of ${app} (${env}): ${r.approvals?.length ?? 0} of ${r.requiredApprovals} approvals (${who}); waiting for more`
      : `release #${r.number} of ${app} (${env}) is approved (${who}); deploying unless a freeze holds it`;
  });
}

/** `hoist reject <app> <env> <releaseId> --reason <text>`: ends a release awaiting approval as rejected. */
export async function rejectCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  const [app, env, id] = args;
  if (!app || !env || !id || !opts.reason) throw new UsageError('hoist reject <app> <env> <releaseId> --reason "<why>"');
  const r = await client().post<GatedRelease>(path(app, env, id, "reject"), { reason: opts.reason });
  out.data(r, () => `release #${r.number} of ${app} (${env}) is ${r.status}: ${opts.reason}`);
}

/** `hoist deploy-now <app> <env> <releaseId> --reason <text>`: deploys a frozen release through its freeze (recorded). */
export async function deployNowCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  const [app, env, id] = args;
  if (!app || !env || !id || !opts.reason) throw new UsageError('hoist deploy-now <app> <env> <releaseId> --reason "<why>"');
  const r = await client().post<GatedRelease>(path(app, env, id, "deploy-now"), { reason: opts.reason });
  out.data(r, () => `deploying release #${r.number} of ${app} (${env}) through the freeze: ${opts.reason}`);
}
