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
  merge_requests_events: boolean;
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

export type CommitStatusState = "created" | "pending" | "running" | "success" | "failed" | "canceled" | "skipped";

export interface GitlabCommitStatus {
  id: number;
  project_id: number;
  pipeline_id: number;
  sha: string;
  ref: string;
  status: CommitStatusState;
  name: string;
  target_url: string | null;
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The user whose token set it: GitLab only updates a status its own author set. */
  user_id: number;
}

/** The external pipeline GitLab keeps per commit and ref for the statuses set on it. */
export interface GitlabPipeline {
  id: number;
  project_id: number;
  sha: string;
  ref: string;
}

/** One accepted `POST /projects/:id/statuses/:sha`, in order: what the commit's history shows. */
export interface StatusPost {
  id: number;
  name: string;
  sha: string;
  ref: string;
  status: CommitStatusState;
  description: string | null;
}

/** A project's deploy freeze period (https://docs.gitlab.com/api/freeze_periods/). */
export interface GitlabFreezePeriod {
  id: number;
  project_id: number;
  freeze_start: string;
  freeze_end: string;
  cron_timezone: string;
  created_at: string;
  updated_at: string;
}

/** A project's environment, created by the first deployment that names it (or by the API). */
export interface GitlabEnvironment {
  id: number;
  project_id: number;
  name: string;
  external_url: string | null;
  state: "available" | "stopped";
  created_at: string;
}

export type DeploymentStatus = "created" | "running" | "success" | "failed" | "canceled" | "blocked";

/** A deployment (https://docs.gitlab.com/api/deployments/), numbered per project (`iid`). */
export interface GitlabDeployment {
  id: number;
  iid: number;
  project_id: number;
  environment_id: number;
  ref: string;
  sha: string;
  tag: boolean;
  status: DeploymentStatus;
  user_id: number;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** GitLab's project roles (https://docs.gitlab.com/api/members/#roles). */
export const accessLevels = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;
export type Role = keyof typeof accessLevels;

/** An OAuth application (GitLab: Admin > Applications): its id ("uid"), secret, callback URLs and scopes. */
export interface GitlabOauthApp {
  uid: string;
  secret: string;
  redirectUris: string[];
  scopes: string[];
}

/** An authorization code GitLab issued, until it is exchanged (once) or expires (10 minutes). */
export interface GitlabOauthGrant {
  code: string;
  appUid: string;
  userId: number;
  redirectUri: string;
  scopes: string[];
  codeChallenge?: string;
  codeChallengeMethod?: "plain" | "S256";
  nonce?: string;
  expiresAt: number;
}

export class GitlabState {
  private seq = 1;
  users: GitlabUser[] = [];
  projects: GitlabProject[] = [];
  hooks: GitlabHook[] = [];
  deployKeys: GitlabDeployKey[] = [];
  statuses: GitlabCommitStatus[] = [];
  pipelines: GitlabPipeline[] = [];
  statusPosts: StatusPost[] = [];
  freezePeriods: GitlabFreezePeriod[] = [];
  environments: GitlabEnvironment[] = [];
  deployments: GitlabDeployment[] = [];
  /** Project memberships: a private project is invisible (404) to anyone not in it. */
  members: { project_id: number; user_id: number; access_level: number }[] = [];
  /** Commits of projects without a repository on disk: sha → branches that contain it. */
  commits: { project_id: number; sha: string; branches: string[] }[] = [];
  /**
   * The instance's admin settings that change API answers. GitLab's default refuses hooks to
   * loopback and private addresses ("Allow requests to the local network from webhooks and
   * integrations" is off): tests whose hooks call back to 127.0.0.1 turn it on explicitly.
   */
  settings = { allowLocalRequestsFromWebHooksAndServices: false };
  /** OAuth applications, sign-in passwords (user id → password), codes and access tokens issued. */
  oauthApps: GitlabOauthApp[] = [];
  passwords = new Map<number, string>();
  oauthGrants: GitlabOauthGrant[] = [];
  oauthTokens: { token: string; userId: number; appUid: string; scopes: string[]; expiresAt: number }[] = [];
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

  /** Makes `user` a member of `project` with `role` (GitLab: Project > Manage > Members). */
  addMember(project: { id: number }, user: { id: number }, role: Role): void {
    this.members = this.members.filter((m) => !(m.project_id === project.id && m.user_id === user.id));
    this.members.push({ project_id: project.id, user_id: user.id, access_level: accessLevels[role] });
  }

  /** Takes `user` out of `project` (GitLab: Members > Remove member). */
  removeMember(project: { id: number }, user: { id: number }): void {
    this.members = this.members.filter((m) => !(m.project_id === project.id && m.user_id === user.id));
  }

  /** Records a commit of a project that has no repository on disk (status endpoints look commits up). */
  addCommit(project: { id: number }, sha: string, branches: string[] = ["main"]): void {
    this.commits.push({ project_id: project.id, sha, branches });
  }

  /** Adds a deploy freeze period to a project (GitLab: Settings > CI/CD > Deploy freezes). */
  addFreezePeriod(
    project: { id: number },
    period: { freeze_start: string; freeze_end: string; cron_timezone?: string },
  ): GitlabFreezePeriod {
    const now = new Date().toISOString();
    const p: GitlabFreezePeriod = {
      id: this.nextId(),
      project_id: project.id,
      freeze_start: period.freeze_start,
      freeze_end: period.freeze_end,
      cron_timezone: period.cron_timezone ?? "UTC",
      created_at: now,
      updated_at: now,
    };
    this.freezePeriods.push(p);
    return p;
  }

  /** Fails the next `times` requests whose "METHOD path" matches. */
  failNext(match: RegExp, status: number, body: unknown, times = 1, headers?: Record<string, string>): void {
    this.faults.push({ match, status, body, remaining: times, headers });
  }
}
