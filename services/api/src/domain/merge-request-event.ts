import { z } from "zod";
import { isValidGitRef } from "./push-event.js";

const sha = z.string().regex(/^[0-9a-f]{40}$/, "a 40-character hex commit SHA");
const branch = z
  .string()
  .min(1)
  .refine(isValidGitRef, "not a branch name git accepts (git check-ref-format: no '..', ':', spaces, control characters, ~^?*[\\ or '@{')");

/**
 * What a preview needs from a Merge Request Hook (https://docs.gitlab.com/user/project/integrations/webhook_events/#merge-request-events).
 * GitLab sends much more; it is ignored. `oldrev` is present only when the update brought new
 * commits; `last_commit` is absent on an MR whose source branch was deleted.
 */
const mergeRequestPayloadSchema = z.object({
  object_kind: z.literal("merge_request", { error: 'object_kind must be "merge_request"' }),
  user: z.object({ id: z.number().int(), username: z.string() }).partial().optional(),
  project: z.object({ id: z.number().int() }),
  object_attributes: z.object({
    iid: z.number().int().positive(),
    action: z.string().optional(),
    state: z.string().optional(),
    title: z.string().optional(),
    url: z.string().optional(),
    author_id: z.number().int(),
    source_project_id: z.number().int().nullable().optional(),
    target_project_id: z.number().int(),
    source_branch: branch,
    target_branch: branch,
    oldrev: sha.optional(),
    last_commit: z
      .object({
        id: sha,
        message: z.string().optional(),
        title: z.string().optional(),
        timestamp: z.string().optional(),
        url: z.string().optional(),
        author: z.object({ name: z.string().optional() }).partial().optional(),
      })
      .optional(),
  }),
});

/** A merge request's preview-relevant facts, as the hook told them. */
interface MergeRequestRef {
  iid: number;
  /** The target project (the app's). */
  projectId: number;
  sourceBranch: string;
  /** The MR's author: who must hold Developer access for a preview to be built. */
  authorId: number;
  /** The source project differs from the target (or is gone): a fork's code. */
  fork: boolean;
  url?: string;
  title?: string;
}

type MergeRequestDecision =
  | {
      action: "build";
      mr: MergeRequestRef;
      /** The MR's newest commit (`last_commit.id`), built from its source branch. */
      sha: string;
      commit: { title?: string; author?: string; timestamp?: string; url?: string };
    }
  | { action: "teardown"; mr: MergeRequestRef; reason: "closed" | "merged" }
  | { action: "ignore"; reason: string }
  | { action: "reject"; message: string };

export const MERGE_REQUEST_EVENT = "Merge Request Hook";

function firstLine(message: string | undefined): string | undefined {
  const line = message?.split("\n", 1)[0]?.trim();
  return line ? line.slice(0, 300) : undefined;
}

/**
 * Decides what a Merge Request Hook means for previews: `open` and `reopen` build the MR's
 * newest commit; `update` builds it only when it brought new commits (`oldrev`), so a new title
 * or label is ignored; `close` and `merge` tear the preview down. Approvals and the like are
 * ignored. A payload that lacks what this needs is rejected with what was wrong.
 */
export function decideMergeRequest(payload: unknown): MergeRequestDecision {
  const parsed = mergeRequestPayloadSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { action: "reject", message: `merge request payload: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}` };
  }
  const a = parsed.data.object_attributes;
  const mr: MergeRequestRef = {
    iid: a.iid,
    projectId: a.target_project_id,
    sourceBranch: a.source_branch,
    authorId: a.author_id,
    // A source project that is gone (null) or not named is no project of the app's: a fork.
    fork: a.source_project_id !== a.target_project_id,
    ...(a.url ? { url: a.url } : {}),
    ...(a.title ? { title: a.title.slice(0, 300) } : {}),
  };
  switch (a.action) {
    case "close":
      return { action: "teardown", mr, reason: "closed" };
    case "merge":
      return { action: "teardown", mr, reason: "merged" };
    case "update":
      if (!a.oldrev) return { action: "ignore", reason: `merge request !${a.iid} updated without new commits` };
      break;
    case "open":
    case "reopen":
      break;
    default:
      return { action: "ignore", reason: `merge request action "${a.action ?? "(none)"}" does not change a preview` };
  }
  if (!a.last_commit)
    return { action: "reject", message: "merge request payload: object_attributes.last_commit: required to build the merge request" };
  const c = a.last_commit;
  const title = c.title ?? firstLine(c.message);
  return {
    action: "build",
    mr,
    sha: c.id,
    commit: {
      ...(title ? { title } : {}),
      ...(c.author?.name ? { author: c.author.name } : {}),
      ...(c.timestamp ? { timestamp: c.timestamp } : {}),
      ...(c.url ? { url: c.url } : {}),
    },
  };
}

/** GitLab's Developer access level: the least that may have a merge request previewed. */
const PREVIEW_MIN_ACCESS = 30;

type PreviewTrust = { ok: true } | { ok: false; reason: string };

/**
 * Whether a merge request may get a preview: a fork's MR only when the app allows forks, and only
 * an author with at least Developer access on the target project (`accessLevel` from
 * GET /projects/:id/members/all/:user_id; undefined: not a member).
 */
export function previewTrust(
  mr: Pick<MergeRequestRef, "iid" | "fork">,
  opts: { forks: boolean; accessLevel: number | undefined },
): PreviewTrust {
  if (mr.fork && !opts.forks) {
    return {
      ok: false,
      reason: `merge request !${mr.iid} comes from a fork; this app builds previews of forks only with previews.forks: true`,
    };
  }
  if (opts.accessLevel === undefined || opts.accessLevel < PREVIEW_MIN_ACCESS) {
    return {
      ok: false,
      reason: `the author of merge request !${mr.iid} has ${opts.accessLevel === undefined ? "no" : `only level ${opts.accessLevel}`} access to the project; previews are built for authors with Developer access (30) or more`,
    };
  }
  return { ok: true };
}
