import { createHash } from "node:crypto";
import { authorizeKey, type RepoAccess } from "../git/repos.js";
import { paginate } from "./pagination.js";
import { boolParam, projectFor } from "./projects.js";
import { missingParam, notFound, type RouteModule } from "./server.js";
import type { GitlabDeployKey, GitlabState } from "./state.js";

const KEY_LINE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com) ([A-Za-z0-9+/]+={0,2})( .*)?$/;

function fingerprintSha256(key: string): string | undefined {
  const m = KEY_LINE.exec(key.trim());
  if (!m?.[2]) return undefined;
  const blob = Buffer.from(m[2], "base64");
  // The blob starts with its own key type (length-prefixed); a mismatch means it is not a key.
  const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  if (blob.subarray(4, 4 + typeLen).toString() !== m[1]) return undefined;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

function keyMaterial(key: string): string {
  return key.trim().split(/\s+/).slice(0, 2).join(" ");
}

function keyView(k: GitlabDeployKey) {
  return {
    id: k.id,
    title: k.title,
    key: k.key,
    fingerprint_sha256: fingerprintSha256(k.key),
    created_at: k.created_at,
    expires_at: null,
    can_push: k.can_push,
  };
}

/** Project deploy keys (https://docs.gitlab.com/api/deploy_keys/): list, get, add, delete. */
export const deployKeyRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.get("/projects/:id/deploy_keys", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const page = paginate(
      req,
      res,
      state.deployKeys.filter((k) => k.project_id === p.id),
      baseUrl(),
    );
    if (page) res.json(page.map(keyView));
  });

  router.get("/projects/:id/deploy_keys/:keyId", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const key = state.deployKeys.find((k) => k.project_id === p.id && k.id === Number(req.params.keyId));
    if (!key) return notFound(res, "Deploy key");
    res.json(keyView(key));
  });

  router.post("/projects/:id/deploy_keys", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (typeof b.key !== "string" || b.key === "") return missingParam(res, "key");
    if (typeof b.title !== "string" || b.title === "") return missingParam(res, "title");
    const canPush = boolParam(b.can_push, false);
    if (canPush === "invalid") return void res.status(400).json({ error: "can_push is invalid" });
    if (!fingerprintSha256(b.key)) {
      return void res.status(400).json({ message: { key: ["is invalid"], fingerprint_sha256: ["cannot be generated"] } });
    }
    // GitLab answers an already-added key with the existing one instead of a duplicate.
    const existing = state.deployKeys.find((k) => k.project_id === p.id && keyMaterial(k.key) === keyMaterial(b.key as string));
    if (existing) return void res.status(201).json(keyView(existing));
    const key: GitlabDeployKey = {
      id: state.nextId(),
      project_id: p.id,
      title: b.title,
      key: b.key.trim(),
      can_push: canPush,
      created_at: new Date().toISOString(),
    };
    state.deployKeys.push(key);
    res.status(201).json(keyView(key));
  });

  router.delete("/projects/:id/deploy_keys/:keyId", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const i = state.deployKeys.findIndex((k) => k.project_id === p.id && k.id === Number(req.params.keyId));
    if (i < 0) return notFound(res, "Deploy key");
    state.deployKeys.splice(i, 1);
    res.status(204).end();
  });
};

/**
 * GitLab serves a project's repository over SSH to the keys enabled on it as deploy keys,
 * read-only unless `can_push`. Registered before deployKeyRoutes, this makes the test sshd do
 * the same for the projects holding a bare repository (`bareRepoPath`): whenever a change to
 * deploy keys succeeds, every key's access is written again from the state, before the answer
 * leaves (a caller may use the key the moment it has the answer). A key on two projects reaches
 * both; a key deleted everywhere reaches nothing.
 */
export const deployKeysServeGit: RouteModule = (router, state) => {
  const served = new Set<string>();
  router.use("/projects/:id/deploy_keys", (req, res, next) => {
    if (req.method === "GET") return next();
    const end = res.end.bind(res);
    res.end = ((...args: Parameters<typeof end>) => {
      if (res.statusCode >= 200 && res.statusCode < 300) grantDeployKeys(state, served);
      return end(...args);
    }) as typeof res.end;
    next();
  });
};

function grantDeployKeys(state: GitlabState, served: Set<string>): void {
  const access = new Map<string, RepoAccess[]>([...served].map((k) => [k, []]));
  for (const k of state.deployKeys) {
    const material = keyMaterial(k.key);
    const repos = access.get(material) ?? [];
    const barePath = state.projects.find((p) => p.id === k.project_id)?.bareRepoPath;
    if (barePath) repos.push({ barePath, canPush: k.can_push });
    access.set(material, repos);
  }
  for (const [material, repos] of access) {
    // A key this server never let in, and still lets in nowhere, is left to whoever let it in.
    if (repos.length === 0 && !served.has(material)) continue;
    authorizeKey(material, repos);
    served.add(material);
  }
}
