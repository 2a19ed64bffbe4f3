import { Gitlab } from "@gitbeaker/rest";
import { z } from "zod";

/** GitLab answered, but not with what Hoist needs (bad token, no access, validation error, outage). */
export class GitlabError extends Error {
  override name = "GitlabError";
  constructor(
    message: string,
    /** GitLab's HTTP status, when it answered. */
    readonly status?: number,
    /** GitLab's own message, e.g. "Invalid url given". */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const userSchema = z.object({ id: z.number(), username: z.string() });
const projectSchema = z.object({
  id: z.number(),
  path_with_namespace: z.string(),
  ssh_url_to_repo: z.string().min(1),
  web_url: z.string().optional(),
});
const hookSchema = z.object({ id: z.number(), url: z.string() });
const deployKeySchema = z.object({ id: z.number(), key: z.string(), can_push: z.boolean().optional() });

/**
 * Lists are read whole: GitLab answers 20 items a page by default, and gitbeaker follows each
 * answer's `Link: rel="next"` until the last page (no `maxPages`). 100 is GitLab's largest page,
 * so a project with many hooks or keys costs as few requests as it can.
 */
const ALL_PAGES = { perPage: 100 } as const;

/** What GitLab said, without echoing request details (URLs with tokens never leave here). */
function describe(action: string, err: unknown): GitlabError {
  if (err instanceof GitlabError) return err;
  const cause = (err as { cause?: { description?: unknown; response?: { status?: number } } }).cause;
  const status = cause?.response?.status;
  const detail = typeof cause?.description === "string" ? cause.description : err instanceof Error ? err.message : String(err);
  const hint =
    status === 401
      ? "the token is invalid, expired or revoked"
      : status === 403
        ? "the token lacks the api scope or Maintainer access to the project"
        : status === 404
          ? "not found, or the token cannot see it"
          : status
            ? `GitLab answered ${status}`
            : "GitLab could not be reached";
  return new GitlabError(`GitLab ${action} failed: ${hint} (${detail.slice(0, 300)})`, status, detail.slice(0, 300));
}

async function call<T>(action: string, schema: z.ZodType<T>, fn: () => Promise<unknown>): Promise<T> {
  let raw: unknown;
  try {
    raw = await fn();
  } catch (err) {
    throw describe(action, err);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new GitlabError(`GitLab ${action} answered an unexpected shape: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}

/** The GitLab calls Hoist makes, through the real @gitbeaker/rest client, every answer validated. */
export class GitlabClient {
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(url: string, token: string, timeoutMs = 10_000) {
    this.api = new Gitlab({ host: url, token, queryTimeout: timeoutMs });
  }

  currentUser() {
    return call("current user", userSchema, () => this.api.Users.showCurrentUser());
  }

  project(id: number) {
    return call(`project ${id}`, projectSchema, () => this.api.Projects.show(id));
  }

  hooks(projectId: number) {
    return call("list hooks", z.array(hookSchema), () => this.api.ProjectHooks.all(projectId, ALL_PAGES));
  }

  addHook(projectId: number, url: string, opts: { token: string; branchFilter: string }) {
    return call("add hook", hookSchema, () =>
      this.api.ProjectHooks.add(projectId, url, {
        token: opts.token,
        pushEvents: true,
        tagPushEvents: true,
        pushEventsBranchFilter: opts.branchFilter,
        enableSslVerification: true,
      }),
    );
  }

  /** Without `token`, GitLab keeps the hook's current secret token. */
  editHook(projectId: number, hookId: number, url: string, opts: { token?: string; branchFilter: string }) {
    return call("edit hook", hookSchema, () =>
      this.api.ProjectHooks.edit(projectId, hookId, url, {
        ...(opts.token ? { token: opts.token } : {}),
        pushEvents: true,
        tagPushEvents: true,
        pushEventsBranchFilter: opts.branchFilter,
        enableSslVerification: true,
      }),
    );
  }

  async removeHook(projectId: number, hookId: number): Promise<void> {
    await this.ignoringNotFound("remove hook", () => this.api.ProjectHooks.remove(projectId, hookId));
  }

  deployKeys(projectId: number) {
    return call("list deploy keys", z.array(deployKeySchema), () => this.api.DeployKeys.all({ projectId, ...ALL_PAGES }));
  }

  addDeployKey(projectId: number, title: string, key: string) {
    return call("add deploy key", deployKeySchema, () => this.api.DeployKeys.create(projectId, title, key, { canPush: false }));
  }

  async removeDeployKey(projectId: number, keyId: number): Promise<void> {
    await this.ignoringNotFound("remove deploy key", () => this.api.DeployKeys.remove(projectId, keyId));
  }

  /** Removing something already gone is success: unlinking is idempotent. */
  private async ignoringNotFound(action: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const e = describe(action, err);
      if (e.status !== 404) throw e;
    }
  }
}
