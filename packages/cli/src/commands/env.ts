import { UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";

export async function envCommand({ args, out, client }: CommandContext): Promise<void> {
  const [sub, app, ...pairs] = args;
  if (!sub || !app) throw new UsageError("hoist env list <app> | env set <app> KEY=VALUE... | env unset <app> KEY...");
  const path = `/v1/apps/${encodeURIComponent(app)}`;
  if (sub === "list") {
    // Values stay sealed on the server: only the names are ever shown.
    const res = await client().get<{ names: string[] }>(`${path}/env`);
    out.data(res, () =>
      table(
        res.names.map((name) => ({ name })),
        ["name"],
      ),
    );
    return;
  }
  if (sub === "set") {
    if (pairs.length === 0) throw new UsageError("hoist env set <app> KEY=VALUE...");
    const env: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf("=");
      if (eq < 1) throw new UsageError(`${pair}: expected KEY=VALUE`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    await client().patch(`${path}/env`, { set: env });
    out.data({ set: Object.keys(env) }, () => `set ${Object.keys(env).join(", ")} on ${app} (takes effect with the next release)`);
    return;
  }
  if (sub === "unset") {
    if (pairs.length === 0) throw new UsageError("hoist env unset <app> KEY...");
    await client().patch(`${path}/env`, { unset: pairs });
    out.data({ unset: pairs }, () => `unset ${pairs.join(", ")} on ${app} (takes effect with the next release)`);
    return;
  }
  throw new UsageError(`unknown command: env ${sub}`);
}
