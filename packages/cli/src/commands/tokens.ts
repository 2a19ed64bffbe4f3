import { UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";

const USAGE =
  "hoist tokens list | tokens create <name> --role <viewer|deployer|maintainer|admin> [--apps a,b] [--expires <ISO time>] | tokens revoke <id>";

interface TokenRow {
  id: string;
  name: string;
  role: string;
  apps?: string[];
  expiresAt?: string;
  lastUsedAt: string | null;
}

/** Personal and service tokens: the new token is printed once, on create. */
export async function tokensCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  const [sub, arg] = args;
  if (sub === "list") {
    const res = await client().get<{ tokens: TokenRow[] }>("/v1/tokens");
    out.data(res, () =>
      table(
        res.tokens.map((t) => ({
          ...t,
          apps: t.apps?.join(",") ?? "(all)",
          expiresAt: t.expiresAt ?? "never",
          lastUsedAt: t.lastUsedAt ?? "never",
        })),
        ["id", "name", "role", "apps", "expiresAt", "lastUsedAt"],
      ),
    );
    return;
  }
  if (sub === "create") {
    if (!arg || !opts.role) throw new UsageError(USAGE);
    const body = {
      name: arg,
      role: opts.role,
      ...(opts.apps ? { apps: opts.apps.split(",").filter(Boolean) } : {}),
      ...(opts.expires ? { expiresAt: opts.expires } : {}),
    };
    const res = await client().post<{ id: string; name: string; role: string; token: string }>("/v1/tokens", body);
    out.data(res, () => `token ${res.id} (${res.name}, ${res.role}); shown only now:\n${res.token}`);
    return;
  }
  if (sub === "revoke") {
    if (!arg) throw new UsageError(USAGE);
    await client().delete(`/v1/tokens/${encodeURIComponent(arg)}`);
    out.data({ revoked: arg }, () => `revoked ${arg}`);
    return;
  }
  throw new UsageError(USAGE);
}
