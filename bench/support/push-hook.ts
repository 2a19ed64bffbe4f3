import { randomUUID } from "node:crypto";

/**
 * A GitLab Push Hook delivery of one commit: headers as GitLab sends them (a fresh
 * Idempotency-Key each), payload shaped like GitLab's.
 */
export function pushHook(opts: { token: string; branch: string; sha: string; before?: string }) {
  const { token, branch, sha } = opts;
  return {
    headers: {
      "content-type": "application/json",
      "x-gitlab-event": "Push Hook",
      "x-gitlab-token": token,
      "idempotency-key": randomUUID(),
      "x-gitlab-webhook-uuid": randomUUID(),
    },
    body: JSON.stringify({
      object_kind: "push",
      event_name: "push",
      before: opts.before ?? "0".repeat(40),
      after: sha,
      ref: `refs/heads/${branch}`,
      checkout_sha: sha,
      user_name: "Bench",
      user_username: "bench",
      project_id: 15,
      project: { id: 15, path_with_namespace: "acme/web", default_branch: "main", git_ssh_url: "git@127.0.0.1:acme/web.git" },
      commits: [
        {
          id: sha,
          message: "Bench commit\n",
          title: "Bench commit",
          timestamp: new Date().toISOString(),
          url: `http://127.0.0.1/acme/web/-/commit/${sha}`,
          author: { name: "Bench", email: "b@example.com" },
        },
      ],
      total_commits_count: 1,
    }),
  };
}
