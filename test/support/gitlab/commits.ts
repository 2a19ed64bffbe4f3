import { execFileSync } from "node:child_process";
import type { GitlabProject, GitlabState } from "./state.js";

function git(repo: string, args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/**
 * A project's commit as GitLab's `project.commit(sha)` finds it: from the bare repository behind
 * the test sshd when the project has one, else from the commits a test recorded (addCommit, by full or
 * abbreviated sha).
 * Answers the full sha and the branches that contain it, or undefined for an unknown commit.
 */
export function findCommit(state: GitlabState, project: GitlabProject, sha: string): { sha: string; branches: string[] } | undefined {
  if (project.bareRepoPath) {
    const full = git(project.bareRepoPath, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${sha}^{commit}`]);
    if (!full) return undefined;
    const branches = git(project.bareRepoPath, ["for-each-ref", "--contains", full, "--format=%(refname:short)", "refs/heads"]);
    return { sha: full, branches: branches ? branches.split("\n") : [] };
  }
  if (!/^[0-9a-f]{7,40}$/i.test(sha)) return undefined;
  const lower = sha.toLowerCase();
  const found = state.commits.filter((c) => c.project_id === project.id && c.sha.startsWith(lower));
  return found.length === 1 && found[0] ? { sha: found[0].sha, branches: found[0].branches } : undefined;
}
