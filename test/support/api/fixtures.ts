import { randomBytes } from "node:crypto";

/**
 * Webhook payloads shaped exactly like GitLab's (docs: "Webhook events", Push and Tag events),
 * with the fields GitLab sends, so the parser is tested against the real shape, not our subset.
 */
export const ZERO = "0".repeat(40);

export function sha(): string {
  return randomBytes(20).toString("hex");
}

function project(id: number, path = "acme/web") {
  return {
    id,
    name: path.split("/").pop(),
    description: "",
    web_url: `https://gitlab.example.com/${path}`,
    avatar_url: null,
    git_ssh_url: `git@gitlab.example.com:${path}.git`,
    git_http_url: `https://gitlab.example.com/${path}.git`,
    namespace: path.split("/")[0],
    visibility_level: 0,
    path_with_namespace: path,
    default_branch: "main",
    ci_config_path: null,
    homepage: `https://gitlab.example.com/${path}`,
    url: `git@gitlab.example.com:${path}.git`,
    ssh_url: `git@gitlab.example.com:${path}.git`,
    http_url: `https://gitlab.example.com/${path}.git`,
  };
}

function commit(id: string, title: string, i: number) {
  return {
    id,
    message: `${title}\n\nLonger description of change ${i}.\n`,
    title,
    timestamp: new Date(Date.UTC(2026, 10, 20, 12, 0, i)).toISOString().replace(".000Z", "+00:00"),
    url: `https://gitlab.example.com/acme/web/-/commit/${id}`,
    author: { name: "Jordi Mallach", email: "jordi@softcatala.org" },
    added: ["CHANGELOG"],
    modified: ["app/controller/application.rb"],
    removed: [],
  };
}

const repository = (path = "acme/web") => ({
  name: path.split("/").pop(),
  url: `git@gitlab.example.com:${path}.git`,
  description: "",
  homepage: `https://gitlab.example.com/${path}`,
  git_http_url: `https://gitlab.example.com/${path}.git`,
  git_ssh_url: `git@gitlab.example.com:${path}.git`,
  visibility_level: 0,
});

/** A Push Hook payload; `commitCount` > 20 sends only the last 20, as GitLab does. */
export function pushPayload(opts: { branch?: string; before?: string; after?: string; commitCount?: number; projectId?: number } = {}) {
  const after = opts.after ?? sha();
  const count = opts.commitCount ?? 1;
  const ids = Array.from({ length: Math.min(count, 20) }, (_, i) => (i === Math.min(count, 20) - 1 ? after : sha()));
  const projectId = opts.projectId ?? 15;
  return {
    object_kind: "push",
    event_name: "push",
    before: opts.before ?? sha(),
    after,
    ref: `refs/heads/${opts.branch ?? "main"}`,
    ref_protected: true,
    checkout_sha: after,
    message: null,
    user_id: 4,
    user_name: "John Smith",
    user_username: "jsmith",
    user_email: "john@example.com",
    user_avatar:
      "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
    project_id: projectId,
    project: project(projectId),
    commits: ids.map((id, i) => commit(id, i === ids.length - 1 ? "Update Catalan translation to e38cb41." : `Change ${i}`, i)),
    total_commits_count: count,
    push_options: {},
    repository: repository(),
  };
}

export function branchCreatePayload(branch: string, at = sha()) {
  return { ...pushPayload({ branch, before: ZERO, after: at }), commits: [], total_commits_count: 0 };
}

export function branchDeletePayload(branch: string) {
  return { ...pushPayload({ branch, after: ZERO }), checkout_sha: null, commits: [], total_commits_count: 0 };
}

/** A Tag Push Hook: `after` is the tag object, `checkout_sha` the tagged commit. */
export function tagPushPayload(tag: string, opts: { checkout?: string; deleted?: boolean } = {}) {
  const checkout = opts.checkout ?? sha();
  return {
    object_kind: "tag_push",
    event_name: "tag_push",
    before: opts.deleted ? sha() : ZERO,
    after: opts.deleted ? ZERO : sha(),
    ref: `refs/tags/${tag}`,
    ref_protected: false,
    checkout_sha: opts.deleted ? null : checkout,
    message: `Release ${tag}`,
    user_id: 1,
    user_name: "John Smith",
    user_username: "jsmith",
    user_avatar: null,
    project_id: 15,
    project: project(15),
    commits: [],
    total_commits_count: 0,
    push_options: {},
    repository: repository(),
  };
}

/** A Merge Request Hook payload (not a build trigger: it opens a preview, when the app has them). */
export function mergeRequestPayload() {
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: { id: 1, name: "Administrator", username: "root" },
    project: project(15),
    object_attributes: {
      id: 99,
      iid: 1,
      target_branch: "main",
      source_branch: "feature",
      source_project_id: 15,
      target_project_id: 15,
      author_id: 1,
      state: "opened",
      action: "open",
      last_commit: { id: sha() },
    },
    labels: [],
    changes: {},
    repository: repository(),
  };
}
