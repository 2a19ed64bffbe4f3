import { parseArgs } from "node:util";
import { ApiClient } from "./client.js";
import { approveCommand, deployNowCommand, rejectCommand } from "./commands/approvals.js";
import { appsCommand } from "./commands/apps.js";
import { auditCommand } from "./commands/audit.js";
import { buildsCommand } from "./commands/builds.js";
import type { CommandContext, Options } from "./commands/context.js";
import { deployCommand } from "./commands/deploy.js";
import { envCommand } from "./commands/env.js";
import { envsCommand, promoteCommand } from "./commands/environments.js";
import { previewsCommand } from "./commands/previews.js";
import { releasesCommand } from "./commands/releases.js";
import { scaleCommand } from "./commands/scale.js";
import { gitlabCommand, loginCommand } from "./commands/session.js";
import { tokensCommand } from "./commands/tokens.js";
import { loadConfig } from "./config.js";
import { ApiError, EXIT, PipelineFailed, UsageError } from "./errors.js";
import { makeOut } from "./output.js";

const USAGE = `hoist: continuous delivery from GitLab

  hoist login <url>                                   store an API token (HOIST_API_TOKEN or one from hoist tokens;
                                                      read from a prompt or stdin)
  hoist apps create <name> --repo <sshUrl|path> [--branch main] [--target-port <port>] [--service web]
                                                      a path (HOIST_LOCAL_REPOS on the server) is taken relative to here
  hoist apps list | show <name> | delete <name>
  hoist apps link <app> <projectId> [--connection <id>]
  hoist gitlab connect <url>                          the token is read from a prompt or stdin, never argv
  hoist builds <app> | builds show <id> | builds logs <id> [--follow] | builds cancel <id>
  hoist deploy <app> [ref] [--sha <commit>] [--no-cache] [--wait] [--timeout <s>]
                                                      ref: a branch or tag (default: the app's branch),
                                                      resolved by the API with the app's deploy key
  hoist releases <app> [--env <env>] | releases promote <app> <releaseId> | releases rollback <app>
  hoist envs <app>                                    the app's environments side by side: target, auto, approvals,
                                                      freezes, what is live in each
  hoist envs <app> create <env> --target-port <port> [--service web] [auto=true|false] [approvals=<n>]
  hoist envs <app> set <env> [auto=true|false] [approvals=<n>] | envs <app> delete <env>
  hoist promote <app> <from-env> <to-env> [--wait]    what is live in from-env, deployed to to-env (same images,
                                                      to-env's variables)
  hoist approve <app> <env> <releaseId>               your approval of a release awaiting approval (one per person)
  hoist reject <app> <env> <releaseId> --reason <why> | deploy-now <app> <env> <releaseId> --reason <why>
                                                      end it rejected | deploy a frozen release through its freeze
  hoist previews <app>                                the app's merge request previews: MR, status, URL, commit, MR link
  hoist previews <app> set enabled=true [from=<env>] [max=<n>] [ttlHours=<n>] [forks=true] | previews <app> stop <iid>
  hoist env list <app> | env set <app> KEY=VALUE... | env unset <app> KEY...
  hoist scale <app> <service>=<count>...              containers per service (local) or ECS desiredCount; no release
  hoist tokens list | tokens create <name> --role <role> [--apps a,b] [--expires <time>] | tokens revoke <id>
  hoist audit [--app <app>] [--actor <name>] [--since <time>] [--jsonl]

  --json    machine-readable output
  HOIST_URL and HOIST_TOKEN override the stored login.
  Exit codes: 0 ok; 1 build or deploy failed (its reason is printed); 2 usage;
  3 the API refused (e.g. HTTP 422: the ref is not on the repository, with git's reason) or is unreachable.`;

const commands: Record<string, (ctx: CommandContext) => Promise<void>> = {
  login: loginCommand,
  apps: appsCommand,
  gitlab: gitlabCommand,
  builds: buildsCommand,
  deploy: deployCommand,
  releases: releasesCommand,
  approve: approveCommand,
  reject: rejectCommand,
  "deploy-now": deployNowCommand,
  env: envCommand,
  envs: envsCommand,
  promote: promoteCommand,
  previews: previewsCommand,
  scale: scaleCommand,
  tokens: tokensCommand,
  audit: auditCommand,
};

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const json = argv.includes("--json");
  const out = makeOut(json);
  try {
    parsed = parse(argv);
  } catch (err) {
    out.err(`hoist: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const [name, ...args] = parsed.positionals;
  if (!name || name === "help" || parsed.values.help) {
    out.print(USAGE);
    return name || parsed.values.help ? EXIT.ok : EXIT.usage;
  }
  const command = commands[name];
  if (!command) {
    out.err(`hoist: unknown command ${name}\n\n${USAGE}`);
    return EXIT.usage;
  }
  let client: ApiClient | undefined;
  const ctx: CommandContext = {
    args,
    opts: parsed.values as Options,
    out,
    env,
    client: () => {
      if (!client) {
        const config = loadConfig(env);
        client = new ApiClient(config.url, config.token);
      }
      return client;
    },
  };
  try {
    await command(ctx);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      out.err(`hoist: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof PipelineFailed) {
      out.err(`hoist: ${err.message}`);
      return EXIT.failed;
    }
    if (err instanceof ApiError) {
      out.err(`hoist: ${err.message}${err.status ? ` (HTTP ${err.status} ${err.code})` : ""}`);
      return EXIT.api;
    }
    throw err;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: "boolean", default: false },
      follow: { type: "boolean", short: "f", default: false },
      wait: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      repo: { type: "string" },
      branch: { type: "string" },
      "target-port": { type: "string" },
      service: { type: "string" },
      sha: { type: "string" },
      connection: { type: "string" },
      timeout: { type: "string" },
      "no-cache": { type: "boolean", default: false },
      role: { type: "string" },
      apps: { type: "string" },
      expires: { type: "string" },
      app: { type: "string" },
      actor: { type: "string" },
      since: { type: "string" },
      jsonl: { type: "boolean", default: false },
      env: { type: "string" },
      reason: { type: "string" },
    },
  });
}
