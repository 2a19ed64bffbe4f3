import { z } from "zod";
import { matchesBranchFilter } from "./branch-filter.js";

const ZERO_SHA = "0".repeat(40);
const sha = z.string().regex(/^[0-9a-f]{40}$/, "a 40-character hex commit SHA");

const commitSchema = z.object({
  id: z.string(),
  message: z.string().optional(),
  title: z.string().optional(),
  timestamp: z.string().optional(),
  url: z.string().optional(),
  author: z.object({ name: z.string().optional() }).partial().optional(),
});

/**
 * git check-ref-format's rules: GitLab only sends refs git accepted, so anything else is forged,
 * and refusing it keeps ':' out of image tags and '..' out of anything path-like downstream.
 */
export function isValidGitRef(ref: string): boolean {
  if ([...ref].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  if (/[~^:?*[\\]/.test(ref) || ref.includes("..") || ref.includes("@{")) return false;
  if (ref.endsWith("/") || ref.endsWith(".") || ref.includes("//")) return false;
  return ref.split("/").every((part) => part.length > 0 && !part.startsWith(".") && !part.endsWith(".lock"));
}

/**
 * What a build needs from a Push Hook / Tag Push Hook payload (GitLab sends much more; it is
 * ignored). `checkout_sha` is null on a deletion, so it is checked after `after`.
 */
const pushPayloadSchema = z.object({
  object_kind: z.enum(["push", "tag_push"], { error: 'object_kind must be "push" or "tag_push"' }),
  before: sha.optional(),
  after: sha,
  ref: z
    .string()
    .regex(/^refs\/(heads|tags)\/.+/, "a full git ref such as refs/heads/main or refs/tags/v1.0")
    .refine(isValidGitRef, "not a ref git accepts (git check-ref-format: no '..', ':', spaces, control characters, ~^?*[\\ or '@{')"),
  checkout_sha: sha.nullable().optional(),
  project_id: z.number().int().optional(),
  commits: z.array(commitSchema).optional(),
  total_commits_count: z.number().int().optional(),
  /** Who pushed (GitLab's username), for the audit log; a missing or odd one is dropped, never a reason to refuse. */
  user_username: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,255}$/)
    .optional()
    .catch(undefined),
});

type PushDecision =
  | {
      action: "build";
      trigger: "push" | "tag_push";
      /** Branch or tag name, without refs/heads/ or refs/tags/. */
      ref: string;
      sha: string;
      /** The commit the branch moved from (absent for a new branch or a tag). */
      before?: string;
      commit: { title?: string; author?: string; timestamp?: string; url?: string };
      /** The pushing user's GitLab username, when the payload names one. */
      pusher?: string;
    }
  | { action: "ignore"; reason: string }
  | { action: "reject"; message: string };

interface AppBuildPolicy {
  branch: string;
  tagBuilds: boolean;
}

const EVENTS: Record<string, "push" | "tag_push"> = { "Push Hook": "push", "Tag Push Hook": "tag_push" };

function firstLine(message: string | undefined): string | undefined {
  const line = message?.split("\n", 1)[0]?.trim();
  return line ? line.slice(0, 300) : undefined;
}

/**
 * Decides what a webhook delivery means for the app: a build of `checkout_sha` (never `after`,
 * which for a tag push is the tag object), an ignored event with the reason, or a rejection of
 * a push payload that lacks what a build needs.
 */
export function decidePush(event: string | undefined, payload: unknown, app: AppBuildPolicy): PushDecision {
  const kind = event ? EVENTS[event] : undefined;
  if (!kind) return { action: "ignore", reason: `event "${event ?? "(no X-Gitlab-Event header)"}" does not trigger builds` };
  const parsed = pushPayloadSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join(".") : "body";
    return { action: "reject", message: `${event} payload: ${field}: ${issue?.message ?? "invalid"}` };
  }
  const p = parsed.data;
  if (p.object_kind !== kind) {
    return { action: "reject", message: `${event} payload: object_kind: expected "${kind}", got "${p.object_kind}"` };
  }
  const isTag = p.ref.startsWith("refs/tags/");
  if ((kind === "tag_push") !== isTag) {
    return { action: "reject", message: `${event} payload: ref: ${p.ref} is not a ${kind === "tag_push" ? "tag" : "branch"} ref` };
  }
  const name = p.ref.replace(/^refs\/(heads|tags)\//, "");
  if (p.after === ZERO_SHA) return { action: "ignore", reason: `${isTag ? "tag" : "branch"} ${name} was deleted` };
  if (!p.checkout_sha) return { action: "reject", message: `${event} payload: checkout_sha: required unless the ref was deleted` };
  if (isTag && !app.tagBuilds) return { action: "ignore", reason: `tag builds are off for this app (tag ${name})` };
  if (!isTag && !matchesBranchFilter(app.branch, name)) {
    return { action: "ignore", reason: `branch ${name} does not match the app's branch filter ${app.branch}` };
  }
  const head = p.commits?.find((c) => c.id === p.checkout_sha);
  const commit = {
    title: head?.title ?? firstLine(head?.message),
    author: head?.author?.name,
    timestamp: head?.timestamp,
    url: head?.url,
  };
  const before = !isTag && p.before && p.before !== ZERO_SHA ? { before: p.before } : {};
  const pusher = p.user_username ? { pusher: p.user_username } : {};
  return {
    action: "build",
    trigger: kind,
    ref: name,
    sha: p.checkout_sha,
    ...before,
    commit: JSON.parse(JSON.stringify(commit)),
    ...pusher,
  };
}
