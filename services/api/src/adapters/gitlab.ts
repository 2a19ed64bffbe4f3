import { Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, gitlabRequester, type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { z } from "zod";
import { refusedAnswer } from "../domain/outbound-urls.js";

/**
 * GitLab answered, but not with what Hoist needs (bad token, no access, validation error, outage).
 * The message holds GitLab's status and, at most, the names of the fields it complained about:
 * never the answer's text, which the server at the URL chose and which would reach API answers.
 */
export class GitlabError extends Error {
  override name = "GitlabError";
  constructor(
    message: string,
    /** GitLab's HTTP status, when it answered. */
    readonly status?: number,
    private readonly answer?: GitlabAnswerError,
  ) {
    super(message);
  }

  /** Whether GitLab's own message passes `test` (e.g. "Invalid url given"), without handing it out. */
  answerMatches(test: (text: string) => boolean): boolean {
    return this.answer?.answerMatches(test) ?? false;
  }
}

const userSchema = z.object({ id: z.number(), username: z.string() });
const projectSchema = z.object({
  id: z.number(),
  path_with_namespace: z.string(),
  ssh_url_to_repo: z.string().min(1),
  web_url: z.string().optional(),
});
const memberSchema = z.object({ id: z.number(), access_level: z.number(), state: z.string().optional() });
const hookSchema = z.object({ id: z.number(), url: z.string() });
const deployKeySchema = z.object({ id: z.number(), key: z.string(), can_push: z.boolean().optional() });

/**
 * Lists are read whole: GitLab answers 20 items a page by default, and gitbeaker follows each
 * answer's `Link: rel="next"` until the last page (no `maxPages`). 100 is GitLab's largest page,
 * so a project with many hooks or keys costs as few requests as it can.
 */
const ALL_PAGES = { perPage: 100 } as const;

/** A network failure's code (ECONNREFUSED, ENOTFOUND, ...), never a URL. */
function networkCode(err: unknown): string {
  for (let e = err, i = 0; i < 4 && e instanceof Error; i++, e = (e as { cause?: unknown }).cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^[A-Z_]+$/.test(code)) return code;
    if (e.name === "GitbeakerTimeoutError" || e.name === "TimeoutError") return "no answer in time";
  }
  return "network error";
}

/** What GitLab said (status and field names at most), without echoing request details or answer text. */
function describe(action: string, err: unknown): Error {
  if (err instanceof GitlabError) return err;
  const refusal = outboundRefusal(err);
  if (refusal) return refusedAnswer("GitLab URL", refusal);
  if (!(err instanceof GitlabAnswerError))
    return new GitlabError(`GitLab ${action} failed: GitLab could not be reached (${networkCode(err)})`);
  const { status } = err;
  const hint =
    status === 401
      ? "the token is invalid, expired or revoked"
      : status === 403
        ? "the token lacks the api scope or Maintainer access to the project"
        : status === 404
          ? "not found, or the token cannot see it"
          : undefined;
  return new GitlabError(`GitLab ${action} failed: ${hint ? `${hint} (${err.message})` : err.message}`, status, err);
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

/**
 * The GitLab calls Hoist makes, through the real @gitbeaker/rest client, every answer validated.
 * One request per call (gitlabRequester): a 429 or 502 is the caller's to retry.
 */
export class GitlabClient {
  private readonly api: InstanceType<typeof Gitlab>;

  /** `fetch` is the API's outbound fetch: internal addresses refused (HOIST_OUTBOUND_ALLOW), redirects not followed. */
  constructor(url: string, token: string, fetch: OutboundFetch, timeoutMs = 10_000) {
    this.api = new Gitlab({ host: url, token, queryTimeout: timeoutMs, requesterFn: gitlabRequester(fetch) });
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
        // Merge Request Hooks open and close previews (docs/previews.md).
        mergeRequestsEvents: true,
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
        // Merge Request Hooks open and close previews (docs/previews.md).
        mergeRequestsEvents: true,
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

  /**
   * A user's access level on a project, inherited memberships included
   * (https://docs.gitlab.com/api/members/#get-a-member-of-a-group-or-project-including-inherited-and-invited-members);
   * undefined when the user is no member (GitLab answers 404).
   */
  async memberAccessLevel(projectId: number, userId: number): Promise<number | undefined> {
    try {
      const member = await call("project member", memberSchema, () =>
        this.api.ProjectMembers.show(projectId, userId, { includeInherited: true }),
      );
      return member.state === "active" || member.state === undefined ? member.access_level : undefined;
    } catch (err) {
      if (err instanceof GitlabError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Removing something already gone is success: unlinking is idempotent. */
  private async ignoringNotFound(action: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const e = describe(action, err);
      if (!(e instanceof GitlabError) || e.status !== 404) throw e;
    }
  }
}
