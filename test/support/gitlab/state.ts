/**
 * In-memory state of the GitLab test server. Shapes follow GitLab's REST API documentation
 * (v4); only the fields Hoist reads or writes are kept, plus what tests assert on.
 */
export interface GitlabUser {
  id: number;
  username: string;
  name: string;
  state: "active";
  token: string;
}

export interface GitlabProject {
  id: number;
  path_with_namespace: string;
  name: string;
  default_branch: string;
  ssh_url_to_repo: string;
  http_url_to_repo: string;
  web_url: string;
  /** Path of the bare repository on disk behind the test sshd, when the test serves one. */
  bareRepoPath?: string;
}

export interface GitlabHook {
  id: number;
  project_id: number;
  url: string;
  token?: string;
  push_events: boolean;
  tag_push_events: boolean;
  push_events_branch_filter: string;
  enable_ssl_verification: boolean;
  created_at: string;
}

export interface GitlabDeployKey {
  id: number;
  project_id: number;
  title: string;
  key: string;
  can_push: boolean;
  created_at: string;
}

export interface GitlabCommitStatus {
  id: number;
  project_id: number;
  sha: string;
  ref: string | null;
  status: "pending" | "running" | "success" | "failed" | "canceled";
  name: string;
  target_url: string | null;
  description: string | null;
  created_at: string;
}

export class GitlabState {
  private seq = 1;
  users: GitlabUser[] = [];
  projects: GitlabProject[] = [];
  hooks: GitlabHook[] = [];
  deployKeys: GitlabDeployKey[] = [];
  statuses: GitlabCommitStatus[] = [];
  /** Every request the server saw, for assertions on what Hoist sent. */
  requests: { method: string; path: string; body: unknown }[] = [];
  /** Planned failures: the next N requests matching `match` answer `status` with `body`. */
  faults: { match: RegExp; status: number; body: unknown; remaining: number; headers?: Record<string, string> }[] = [];

  nextId(): number {
    return this.seq++;
  }

  addUser(username: string, token: string): GitlabUser {
    const user: GitlabUser = { id: this.nextId(), username, name: username, state: "active", token };
    this.users.push(user);
    return user;
  }

  addProject(p: Omit<GitlabProject, "id" | "http_url_to_repo" | "web_url" | "name"> & { id?: number }, baseUrl: string): GitlabProject {
    const project: GitlabProject = {
      ...p,
      id: p.id ?? this.nextId(),
      name: p.path_with_namespace.split("/").pop() ?? p.path_with_namespace,
      http_url_to_repo: `${baseUrl}/${p.path_with_namespace}.git`,
      web_url: `${baseUrl}/${p.path_with_namespace}`,
    };
    this.projects.push(project);
    return project;
  }

  /** Fails the next `times` requests whose "METHOD path" matches. */
  failNext(match: RegExp, status: number, body: unknown, times = 1, headers?: Record<string, string>): void {
    this.faults.push({ match, status, body, remaining: times, headers });
  }
}
