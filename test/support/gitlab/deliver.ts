import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { GitlabHook, GitlabProject } from "./state.js";

/**
 * Builds and delivers Push Hooks the way GitLab does (payload shape, headers, token), from a
 * real git repository: test support for end-to-end tests.
 */
export interface PushDelivery {
  status: number;
  body: unknown;
  idempotencyKey: string;
}

const ZERO = "0".repeat(40);

function git(repo: string, args: string[]): string {
  return execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();
}

/** The commits GitLab lists for a push: newest last, at most 20, with total_commits_count. */
export function pushPayload(opts: { project: GitlabProject; repo: string; ref: string; before: string; after: string; userName?: string }) {
  const range = opts.before === ZERO ? opts.after : `${opts.before}..${opts.after}`;
  const lines = git(opts.repo, ["log", "--reverse", "--format=%H%x1f%s%x1f%B%x1f%aI%x1f%an%x1f%ae%x1e", range])
    .split("\x1e")
    .map((l) => l.trim())
    .filter(Boolean);
  const commits = lines.map((l) => {
    const [id = "", title = "", message = "", timestamp = "", name = "", email = ""] = l.split("\x1f");
    return {
      id,
      message: message.trim(),
      title,
      timestamp,
      url: `${opts.project.web_url}/-/commit/${id}`,
      author: { name, email },
      added: [],
      modified: [],
      removed: [],
    };
  });
  return {
    object_kind: "push",
    event_name: "push",
    before: opts.before,
    after: opts.after,
    ref: opts.ref,
    ref_protected: opts.ref === `refs/heads/${opts.project.default_branch}`,
    checkout_sha: opts.after === ZERO ? null : opts.after,
    message: null,
    user_id: 1,
    user_name: opts.userName ?? "Test User",
    user_username: "test-user",
    user_email: "",
    user_avatar: "",
    project_id: opts.project.id,
    project: {
      id: opts.project.id,
      name: opts.project.name,
      description: "",
      web_url: opts.project.web_url,
      avatar_url: null,
      git_ssh_url: opts.project.ssh_url_to_repo,
      git_http_url: opts.project.http_url_to_repo,
      namespace: opts.project.path_with_namespace.split("/")[0],
      visibility_level: 0,
      path_with_namespace: opts.project.path_with_namespace,
      default_branch: opts.project.default_branch,
      ci_config_path: null,
      homepage: opts.project.web_url,
      url: opts.project.ssh_url_to_repo,
      ssh_url: opts.project.ssh_url_to_repo,
      http_url: opts.project.http_url_to_repo,
    },
    commits: commits.slice(-20),
    total_commits_count: commits.length,
    push_options: {},
    repository: {
      name: opts.project.name,
      url: opts.project.ssh_url_to_repo,
      description: "",
      homepage: opts.project.web_url,
      git_http_url: opts.project.http_url_to_repo,
      git_ssh_url: opts.project.ssh_url_to_repo,
      visibility_level: 0,
    },
  };
}

/**
 * A Merge Request Hook payload as GitLab documents it
 * (https://docs.gitlab.com/user/project/integrations/webhook_events/#merge-request-events):
 * `action` open, reopen, update (with `oldrev` when it brought commits), close, merge, approved...
 * A fork's MR names its own project as source.
 */
export function mergeRequestPayload(opts: {
  project: GitlabProject;
  iid: number;
  action: string;
  sourceBranch: string;
  /** The MR's newest commit. */
  sha: string;
  /** The previous head, on an update that brought commits. */
  oldrev?: string;
  author?: { id: number; username: string; name?: string };
  sourceProjectId?: number;
  title?: string;
}) {
  const author = opts.author ?? { id: 1, username: "test-user", name: "Test User" };
  const state = opts.action === "close" ? "closed" : opts.action === "merge" ? "merged" : "opened";
  const mrUrl = `${opts.project.web_url}/-/merge_requests/${opts.iid}`;
  const now = new Date().toISOString();
  const sourceProjectId = opts.sourceProjectId ?? opts.project.id;
  const projectView = {
    id: opts.project.id,
    name: opts.project.name,
    description: "",
    web_url: opts.project.web_url,
    avatar_url: null,
    git_ssh_url: opts.project.ssh_url_to_repo,
    git_http_url: opts.project.http_url_to_repo,
    namespace: opts.project.path_with_namespace.split("/")[0],
    visibility_level: 0,
    path_with_namespace: opts.project.path_with_namespace,
    default_branch: opts.project.default_branch,
    ci_config_path: null,
    homepage: opts.project.web_url,
    url: opts.project.ssh_url_to_repo,
    ssh_url: opts.project.ssh_url_to_repo,
    http_url: opts.project.http_url_to_repo,
  };
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: { id: author.id, name: author.name ?? author.username, username: author.username, avatar_url: "", email: "[REDACTED]" },
    project: projectView,
    object_attributes: {
      id: 1000 + opts.iid,
      iid: opts.iid,
      target_branch: opts.project.default_branch,
      source_branch: opts.sourceBranch,
      source_project_id: sourceProjectId,
      author_id: author.id,
      assignee_ids: [],
      title: opts.title ?? `MR ${opts.iid}`,
      created_at: now,
      updated_at: now,
      state,
      merge_status: "can_be_merged",
      target_project_id: opts.project.id,
      description: "",
      url: mrUrl,
      source: { ...projectView, id: sourceProjectId },
      target: projectView,
      last_commit: {
        id: opts.sha,
        message: `${opts.title ?? "A change"}\n`,
        title: opts.title ?? "A change",
        timestamp: now,
        url: `${opts.project.web_url}/-/commit/${opts.sha}`,
        author: { name: author.name ?? author.username, email: `${author.username}@example.com` },
      },
      work_in_progress: false,
      draft: false,
      action: opts.action,
      ...(opts.oldrev ? { oldrev: opts.oldrev } : {}),
    },
    labels: [],
    changes: opts.action === "update" && !opts.oldrev ? { title: { previous: "Old title", current: opts.title ?? `MR ${opts.iid}` } } : {},
    repository: { name: opts.project.name, url: opts.project.ssh_url_to_repo, description: "", homepage: opts.project.web_url },
  };
}

/** POSTs a hook event as GitLab sends it: JSON body, event name, secret token, idempotency key. */
export async function deliverHook(
  hook: Pick<GitlabHook, "url" | "token">,
  event: "Push Hook" | "Tag Push Hook" | "Merge Request Hook",
  payload: unknown,
  idempotencyKey = randomUUID(),
): Promise<PushDelivery> {
  const res = await fetch(hook.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitLab/18.6.0",
      "x-gitlab-event": event,
      ...(hook.token ? { "x-gitlab-token": hook.token } : {}),
      "x-gitlab-instance": "http://127.0.0.1",
      "x-gitlab-webhook-uuid": randomUUID(),
      "x-gitlab-event-uuid": randomUUID(),
      "idempotency-key": idempotencyKey,
    },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, idempotencyKey };
}
