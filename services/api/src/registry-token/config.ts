import { baseReposEnvSchema, commonEnvSchema, registrySecretEnvSchema } from "@hoist/shared";
import { z } from "zod";

/** The registry token service (`node services/api/dist/registry-token/main.js`). */
export const tokenEnvSchema = commonEnvSchema.extend({
  HOIST_REGISTRY_TOKEN_PORT: z.coerce.number({ error: "a TCP port number, 0-65535" }).int().min(0).max(65535).default(5001),
  HOIST_REGISTRY_TOKEN_HOST: z.string().min(1).default("127.0.0.1"),
  ...registrySecretEnvSchema.shape,
  /** PEM private key (P-256 EC or RSA) the tokens are signed with. */
  HOIST_REGISTRY_SIGNING_KEY_FILE: z.string().min(1, "the path of a PEM private key (P-256 or RSA)"),
  /** PEM certificate of that key: the registry's `auth.token.rootcertbundle`. */
  HOIST_REGISTRY_SIGNING_CERT_FILE: z.string().min(1, "the path of the PEM certificate of the signing key"),
  /** The registry's `auth.token.service` and `auth.token.issuer`. */
  HOIST_REGISTRY_TOKEN_SERVICE: z.string().min(1).default("hoist-registry"),
  HOIST_REGISTRY_TOKEN_ISSUER: z.string().min(1).default("hoist"),
  HOIST_REGISTRY_TOKEN_TTL_S: z.coerce.number({ error: "a whole number of seconds" }).int().min(60).max(3600).default(300),
  /** As the builder's: its namespace names the apps' repositories (`<namespace>/<app>`). */
  HOIST_REGISTRY: z.string().min(1).default("127.0.0.1:5000"),
  /** Repositories every app's build may pull (base images); the builder reads the same list. */
  ...baseReposEnvSchema.shape,
});
