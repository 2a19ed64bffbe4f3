import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { keyValues, table } from "../output.js";
import type { CommandContext } from "./context.js";

type App = { name: string; branch: string; repo: { sshUrl: string; projectId?: number }; target?: { kind: string } } & Record<
  string,
  unknown
>;

/**
 * What `--repo` names: an SSH URL or file:// URL as given; anything else is a path on this machine,
 * made absolute here because the API cannot know the caller's working directory.
 */
function repoLocation(repo: string, cwd = process.cwd()): string {
  if (repo.includes("://") || /^(?:[^@/:\s]+@)?[^/:\s]+:(?!\/\/)/.test(repo)) return repo;
  return resolve(cwd, repo);
}

function need(args: string[], i: number, what: string): string {
  const v = args[i];
  if (!v) throw new UsageError(`missing ${what}`);
  return v;
}

export async function appsCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const name = need(rest, 0, "<name>: hoist apps create <name> --repo <sshUrl> --branch <branch>");
      if (!opts.repo) throw new UsageError("--repo <sshUrl|path> is required");
      const body: Record<string, unknown> = { name, branch: opts.branch ?? "main", repo: { sshUrl: repoLocation(opts.repo) } };
      if (opts["target-port"]) {
        const port = Number(opts["target-port"]);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError("--target-port takes a TCP port, 1-65535");
        body.target = { kind: "local", services: { [opts.service ?? "web"]: { port } } };
      }
      const res = await client().post<{ app: App; webhook: { url: string; token: string }; deployKey: { publicKey: string } | null }>(
        "/v1/apps",
        body,
      );
      const { deployKey } = res;
      if (!deployKey) {
        // A local repository: git reads it directly, and GitLab has nothing to do.
        out.data(res, () =>
          [
            `created app ${res.app.name} (branch ${res.app.branch}) from the local repository ${res.app.repo.sshUrl}`,
            `  Webhook URL:   ${res.webhook.url}`,
            `  Webhook token: ${res.webhook.token}   (shown only now)`,
            "",
            `Commit, then: hoist deploy ${res.app.name} --wait`,
          ].join("\n"),
        );
        return;
      }
      out.data(res, () =>
        [
          `created app ${res.app.name} (branch ${res.app.branch})`,
          "",
          "In GitLab (Settings > Webhooks), add a webhook for push and tag push events:",
          `  URL:          ${res.webhook.url}`,
          `  Secret token: ${res.webhook.token}   (shown only now)`,
          "In GitLab (Settings > Repository > Deploy keys), add this read-only key:",
          `  ${deployKey.publicKey}`,
          "",
          `Or let Hoist do both: hoist apps link ${res.app.name} <projectId>`,
        ].join("\n"),
      );
      return;
    }
    case "list":
    case undefined: {
      const res = await client().get<{ apps: App[] }>("/v1/apps");
      out.data(res, () =>
        table(
          res.apps.map((a) => ({ name: a.name, branch: a.branch, repo: a.repo.sshUrl, target: a.target?.kind })),
          ["name", "branch", "repo", "target"],
        ),
      );
      return;
    }
    case "show": {
      const name = need(rest, 0, "<name>");
      const res = await client().get<{ app: App }>(`/v1/apps/${encodeURIComponent(name)}`);
      out.data(res, () => keyValues(res.app));
      return;
    }
    case "delete": {
      const name = need(rest, 0, "<name>");
      const res = await client().delete(`/v1/apps/${encodeURIComponent(name)}`);
      out.data(res, () => `deleted app ${name}`);
      return;
    }
    case "link": {
      const name = need(rest, 0, "<app>: hoist apps link <app> <projectId>");
      const projectId = Number(need(rest, 1, "<projectId>"));
      if (!Number.isInteger(projectId) || projectId < 1) throw new UsageError("<projectId> is GitLab's numeric project id");
      let connection = opts.connection;
      if (!connection) {
        const res = await client().get<{ connections: { id: string; url: string }[] }>("/v1/gitlab/connections");
        if (res.connections.length !== 1) {
          throw new UsageError(
            res.connections.length === 0
              ? "no GitLab connection: run `hoist gitlab connect <url>` first"
              : `several GitLab connections; choose one with --connection (${res.connections.map((c) => `${c.id} ${c.url}`).join(", ")})`,
          );
        }
        connection = res.connections[0]?.id;
      }
      const res = await client().post(`/v1/apps/${encodeURIComponent(name)}/gitlab/link`, { connection, projectId });
      out.data(res, () => `linked ${name} to GitLab project ${projectId}: webhook and read-only deploy key registered`);
      return;
    }
    case "unlink": {
      const name = need(rest, 0, "<app>");
      const res = await client().delete(`/v1/apps/${encodeURIComponent(name)}/gitlab/link`);
      out.data(res, () => `unlinked ${name} from GitLab`);
      return;
    }
    default:
      throw new UsageError(`unknown command: apps ${sub}`);
  }
}
