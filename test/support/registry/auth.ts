import { readFileSync } from "node:fs";
import { REGISTRY_ADMIN_USER, type RegistryAuth, registryPassword } from "@hoist/shared";

/**
 * The test registry runs with token auth (scripts/services-up.sh): what tests read from it
 * directly goes through the token service like any client, as the operator's `admin` user.
 */
function required(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run through vitest's global setup (scripts/services-up.sh starts the registry with token auth)`);
  return v;
}

export function testRegistrySecret(): string {
  return readFileSync(required("HOIST_REGISTRY_SECRET_FILE"), "utf8").trim();
}

/** The derived credentials of `user` (`app-<name>`, `deployer`, `admin`) for the test registry. */
export function testRegistryAuth(user: string): RegistryAuth {
  return { username: user, password: registryPassword(testRegistrySecret(), user), serveraddress: required("HOIST_TEST_REGISTRY") };
}

/** GET the token service as `user` (no user: anonymous); the raw answer, for tests of the service itself. */
export async function requestToken(o: { user?: string; password?: string; scopes: string[]; service?: string }): Promise<Response> {
  const url = new URL(required("HOIST_REGISTRY_TOKEN_REALM"));
  url.searchParams.set("service", o.service ?? "hoist-registry");
  for (const s of o.scopes) url.searchParams.append("scope", s);
  const user = o.user;
  const headers: Record<string, string> = {};
  if (user !== undefined) {
    const password = o.password ?? registryPassword(testRegistrySecret(), user);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  }
  return fetch(url, { headers });
}

export async function registryToken(user: string | undefined, scopes: string[]): Promise<string> {
  const res = await requestToken({ ...(user === undefined ? {} : { user }), scopes });
  if (res.status !== 200) throw new Error(`token service answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** GET `path` (`/v2/...`) of the test registry with a token for `scopes`, as the admin user unless told. */
export async function registryGet(path: string, scopes: string[], user: string | undefined = REGISTRY_ADMIN_USER): Promise<Response> {
  const token = await registryToken(user, scopes);
  return fetch(`http://${required("HOIST_TEST_REGISTRY")}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

/** The tags of `repo` (none: []). */
export async function testRegistryTags(repo: string): Promise<string[]> {
  const res = await registryGet(`/v2/${repo}/tags/list`, [`repository:${repo}:pull`]);
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`tags of ${repo}: the registry answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
}

export async function testRegistryCatalog(): Promise<string[]> {
  const res = await registryGet("/v2/_catalog?n=10000", ["registry:catalog:*"]);
  if (res.status !== 200) throw new Error(`catalog: the registry answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { repositories?: string[] }).repositories ?? [];
}
