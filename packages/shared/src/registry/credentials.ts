import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError } from "../config/env.js";

/**
 * Registry users are derived, not stored: a user's password is HMAC-SHA256(HOIST_REGISTRY_SECRET,
 * user name). The builder derives `app-<name>` for the app it builds, the deployer `deployer`, the
 * token service checks either without a user list, and rotating the secret rotates them all.
 */
export const REGISTRY_DEPLOYER_USER = "deployer";
/** Pushes base images and reads the catalog: the operator's user, never given to a build. */
export const REGISTRY_ADMIN_USER = "admin";

export function appRegistryUser(app: string): string {
  return `app-${app}`;
}

export function registryPassword(secret: string, user: string): string {
  return createHmac("sha256", secret).update(user, "utf8").digest("base64url");
}

export function registryPasswordMatches(secret: string, user: string, password: string): boolean {
  const want = Buffer.from(registryPassword(secret, user));
  const got = Buffer.from(password);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** HOIST_REGISTRY_SECRET: one value shared by the token service, the builder and the deployer. */
export const registrySecretSchema = z
  .string()
  .min(32, "at least 32 characters (e.g. openssl rand -hex 32)")
  .regex(/^\S+$/, "no whitespace");

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** `host[:port]` of a registry named as `host[:port][/namespace]`. */
export function registryHost(registry: string): string {
  return registry.split("/")[0] as string;
}

/** The repository of an app's images (`<namespace>/<app>`, or `<app>` without a namespace), as the builder names them. */
export function appRepository(registry: string, app: string): string {
  const [, ...ns] = registry.replace(/\/+$/, "").split("/");
  return [...ns, app].join("/");
}

/**
 * HOIST_REGISTRY_SECRET, or HOIST_REGISTRY_SECRET_FILE naming a file that holds it (kept out of
 * the environment and of printed env lines). Neither: the registry takes no Hoist credentials.
 */
export const registrySecretEnvSchema = z.object({
  HOIST_REGISTRY_SECRET: registrySecretSchema.optional(),
  HOIST_REGISTRY_SECRET_FILE: z.string().min(1, "the path of a file holding the registry secret").optional(),
});

/** The registry secret of a parsed env (read from its file when given so); a ConfigError names what is wrong. */
export function registrySecret(env: z.infer<typeof registrySecretEnvSchema>): string | undefined {
  if (env.HOIST_REGISTRY_SECRET) return env.HOIST_REGISTRY_SECRET;
  const file = env.HOIST_REGISTRY_SECRET_FILE;
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ConfigError(
      `config: HOIST_REGISTRY_SECRET_FILE is invalid: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"}); give a readable file`,
    );
  }
  const parsed = registrySecretSchema.safeParse(text);
  if (!parsed.success)
    throw new ConfigError(`config: HOIST_REGISTRY_SECRET_FILE is invalid: its contents: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** For a service's main: the registry secret, or the readable error and exit(78, EX_CONFIG). */
export function registrySecretOrExit(env: z.infer<typeof registrySecretEnvSchema>): string | undefined {
  try {
    return registrySecret(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
}
