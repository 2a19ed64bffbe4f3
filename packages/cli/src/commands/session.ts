import { ApiClient } from "../client.js";
import { saveConfig } from "../config.js";
import { UsageError } from "../errors.js";
import { readSecret } from "../prompt.js";
import type { CommandContext } from "./context.js";

export async function loginCommand({ args, out, env }: CommandContext): Promise<void> {
  const [url] = args;
  if (!url || !/^https?:\/\//.test(url)) throw new UsageError("hoist login <url>  (e.g. hoist login https://hoist.example.com)");
  const token = env.HOIST_TOKEN || (await readSecret("Hoist API token"));
  const client = new ApiClient(url.replace(/\/+$/, ""), token);
  // Any valid token passes, whatever its role (a token for a few apps may list none).
  await client.get("/v1/me");
  const path = saveConfig({ url: client.url, token }, env);
  out.data({ url: client.url, config: path }, () => `logged in to ${client.url} (token saved in ${path}, mode 0600)`);
}

export async function gitlabCommand({ args, out, client }: CommandContext): Promise<void> {
  const [sub, url] = args;
  if (sub === "connect") {
    if (!url || !/^https?:\/\//.test(url)) throw new UsageError("hoist gitlab connect <url>  (the token is read from a prompt or stdin)");
    const token = await readSecret("GitLab access token (api scope)");
    const res = await client().post<{ connection: { id: string; url: string; username?: string } }>("/v1/gitlab/connections", {
      url,
      token,
    });
    out.data(
      res,
      () => `connected to ${res.connection.url}${res.connection.username ? ` as ${res.connection.username}` : ""} (${res.connection.id})`,
    );
    return;
  }
  if (sub === "list" || sub === undefined) {
    const res = await client().get<{ connections: { id: string; url: string; username?: string }[] }>("/v1/gitlab/connections");
    out.data(res, () => res.connections.map((c) => `${c.id}  ${c.url}  ${c.username ?? ""}`).join("\n") || "(none)");
    return;
  }
  throw new UsageError(`unknown command: gitlab ${sub}`);
}
