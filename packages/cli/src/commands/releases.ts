import { UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";

export type Release = {
  id: string;
  app: string;
  number: number;
  buildId: string;
  status: "pending" | "deploying" | "live" | "retired" | "failed" | "rolled_back";
  reason?: string;
  createdAt: string;
  liveAt?: string;
};

export async function releasesCommand({ args, out, client }: CommandContext): Promise<void> {
  const [first, ...rest] = args;
  if (!first) throw new UsageError("hoist releases <app> | releases promote <app> <releaseId> | releases rollback <app>");
  if (first === "promote") {
    const [app, id] = rest;
    if (!app || !id) throw new UsageError("hoist releases promote <app> <releaseId>");
    const res = await client().post<{ release: Release }>(`/v1/apps/${encodeURIComponent(app)}/releases/${encodeURIComponent(id)}/promote`);
    out.data(res, () => `promoting release #${res.release.number} of ${app} (${res.release.status})`);
    return;
  }
  if (first === "rollback") {
    const [app] = rest;
    if (!app) throw new UsageError("hoist releases rollback <app>");
    const res = await client().post<{ release: Release }>(`/v1/apps/${encodeURIComponent(app)}/rollback`);
    out.data(res, () => `rolling back ${app}: release #${res.release.number} (${res.release.status})`);
    return;
  }
  const res = await client().get<{ releases: Release[] }>(`/v1/apps/${encodeURIComponent(first)}/releases`);
  out.data(res, () => table(res.releases, ["id", "number", "buildId", "status", "reason", "createdAt", "liveAt"]));
}
