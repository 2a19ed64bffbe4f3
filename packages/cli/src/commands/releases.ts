import { UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";

export type Release = {
  id: string;
  app: string;
  environment: string;
  number: number;
  buildId: string;
  status: "pending" | "awaiting_approval" | "frozen" | "deploying" | "live" | "retired" | "failed" | "rolled_back" | "rejected";
  reason?: string;
  createdAt: string;
  liveAt?: string;
};

export async function releasesCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  const [first, ...rest] = args;
  if (!first) throw new UsageError("hoist releases <app> | releases promote <app> <releaseId> | releases rollback <app>");
  if (first === "promote") {
    const [app, id] = rest;
    if (!app || !id) throw new UsageError("hoist releases promote <app> <releaseId>");
    const release = await client().post<Release>(`/v1/apps/${encodeURIComponent(app)}/releases/${encodeURIComponent(id)}/promote`);
    out.data(release, () => `promoting release #${release.number} of ${app} (${release.status})`);
    return;
  }
  if (first === "rollback") {
    const [app] = rest;
    if (!app) throw new UsageError("hoist releases rollback <app>");
    const release = await client().post<Release>(`/v1/apps/${encodeURIComponent(app)}/rollback`);
    out.data(release, () => `rolling back ${app}: release #${release.number} (${release.status})`);
    return;
  }
  const query = opts.env ? `?environment=${encodeURIComponent(opts.env)}` : "";
  const res = await client().get<{ releases: Release[] }>(`/v1/apps/${encodeURIComponent(first)}/releases${query}`);
  out.data(res, () => table(res.releases, ["id", "number", "buildId", "status", "reason", "createdAt", "liveAt"]));
}
