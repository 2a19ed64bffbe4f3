import { UsageError } from "../errors.js";
import { keyValues, table } from "../output.js";
import type { CommandContext } from "./context.js";

type Preview = { iid: number; url: string; status: string; sha: string; updatedAt: string; mrUrl?: string; title?: string };

const USAGE =
  "hoist previews <app> | previews <app> set enabled=true [from=<env>] [max=<n>] [ttlHours=<n>] [forks=true] | previews <app> stop <iid>";

const SETTINGS: Record<string, "boolean" | "number" | "string"> = {
  enabled: "boolean",
  from: "string",
  max: "number",
  ttlHours: "number",
  hosts: "string",
  forks: "boolean",
};

/** `hoist previews <app>`: the app's merge request previews (docs/previews.md); `set` changes its settings, `stop` ends one. */
export async function previewsCommand({ args, out, client }: CommandContext): Promise<void> {
  const [app, sub, ...rest] = args;
  if (!app) throw new UsageError(USAGE);
  const base = `/v1/apps/${encodeURIComponent(app)}`;
  if (sub === "stop") {
    const [iid] = rest;
    if (!iid || !/^\d+$/.test(iid)) throw new UsageError("hoist previews <app> stop <iid>  (the merge request's number, e.g. 42)");
    const res = await client().delete<{ status: string }>(`${base}/previews/${iid}`);
    out.data(res, () => `stopping the preview of !${iid} of ${app}`);
    return;
  }
  if (sub === "set") {
    if (rest.length === 0) throw new UsageError(USAGE);
    const previews: Record<string, unknown> = {};
    for (const pair of rest) {
      const eq = pair.indexOf("=");
      const key = pair.slice(0, eq);
      const raw = pair.slice(eq + 1);
      const kind = SETTINGS[key];
      if (eq < 0 || !kind) throw new UsageError(`${pair}: expected one of ${Object.keys(SETTINGS).join(", ")} as <name>=<value>`);
      if (kind === "boolean" && raw !== "true" && raw !== "false") throw new UsageError(`${pair}: ${key} is true or false`);
      if (kind === "number" && !/^\d+$/.test(raw)) throw new UsageError(`${pair}: ${key} is a whole number`);
      previews[key] = kind === "boolean" ? raw === "true" : kind === "number" ? Number(raw) : raw;
    }
    const res = await client().patch<{ app: { previews: Record<string, unknown> } }>(base, { previews });
    out.data(res.app.previews, () => keyValues(res.app.previews));
    return;
  }
  if (sub) throw new UsageError(USAGE);
  const res = await client().get<{ previews: Preview[] }>(`${base}/previews`);
  out.data(res, () =>
    table(
      res.previews.map((p) => ({
        mr: `!${p.iid}`,
        status: p.status,
        url: p.url,
        sha: p.sha.slice(0, 8),
        updated: p.updatedAt,
        link: p.mrUrl,
      })),
      ["mr", "status", "url", "sha", "updated", "link"],
    ),
  );
}
