import { UsageError } from "../errors.js";
import type { CommandContext } from "./context.js";

const PAIR = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*)=(\d+)$/;

/** `hoist scale <app> web=3 [worker=2]`: containers per service (local) or the ECS service's desiredCount; no release. */
export async function scaleCommand(ctx: CommandContext): Promise<void> {
  const { args, out, client } = ctx;
  const [app, ...pairs] = args;
  if (!app || pairs.length === 0) throw new UsageError("hoist scale <app> <service>=<count>...  (e.g. hoist scale shop web=3)");
  const scale: Record<string, number> = {};
  for (const p of pairs) {
    const m = PAIR.exec(p);
    if (!m) throw new UsageError(`${p}: expected <service>=<count> with a whole count, e.g. web=3`);
    scale[m[1] as string] = Number(m[2]);
  }
  const res = await client().patch<{ app: string; scale: Record<string, number> }>(`/v1/apps/${encodeURIComponent(app)}/scale`, scale);
  out.data(
    res,
    () =>
      `${app} scaled: ${Object.entries(res.scale)
        .map(([s, n]) => `${s}=${n}`)
        .join(" ")}`,
  );
}
