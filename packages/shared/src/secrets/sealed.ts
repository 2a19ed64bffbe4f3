import { z } from "zod";
import { deployUnit } from "../environments/names.js";

/** A secret sealed with envelope encryption: a fresh data key encrypts the value with AES-256-GCM. */
export const sealedSchema = z
  .object({
    /** 1: the data key wrapped by the master key (or KMS); 2: by the purpose's own key (local). */
    v: z.union([z.literal(1), z.literal(2)]),
    provider: z.enum(["local", "aws"]),
    /** The data key, encrypted by the master key (local) or by KMS (aws), base64. */
    encryptedKey: z.string(),
    /** KMS key id or the local master key's fingerprint, to say which key opens it. */
    keyId: z.string(),
    iv: z.string(),
    tag: z.string(),
    ciphertext: z.string(),
  })
  .strict();
export type Sealed = z.infer<typeof sealedSchema>;

/** Bound into the ciphertext's authentication: a secret sealed for one app and purpose opens for no other. */
export interface SecretContext {
  app: string;
  purpose: string;
}

export interface SecretBox {
  seal(plaintext: string | Buffer, context: SecretContext): Promise<Sealed>;
  /** `forApp`: the app whose job opens a secret its context does not name (a GitLab connection's token), for the audit log. */
  open(sealed: Sealed, context: SecretContext, forApp?: string): Promise<Buffer>;
  /** True for a secret sealed in an older way this box can still open but workers cannot: seal it again. */
  needsReseal(sealed: Sealed): boolean;
}

export class SecretError extends Error {
  override name = "SecretError";
}

/**
 * The context every sealed secret is bound to. App secrets use the app's name; a GitLab
 * connection's token uses the connection id as `app`.
 */
export const secretContexts = {
  deployKey: (app: string): SecretContext => ({ app, purpose: "deploy-key" }),
  appEnv: (app: string): SecretContext => ({ app, purpose: "env" }),
  /** An environment's variables, bound to its deploy unit (`<app>@<env>`; production's is appEnv(app)). */
  environmentEnv: (app: string, environment: string): SecretContext => ({ app: deployUnit(app, environment), purpose: "env" }),
  /**
   * The app's preview overrides (`previews.env`), layered on each preview's copy of the `from`
   * environment's variables: app env (the deployer's key opens it), bound to `<app>#previews`
   * ('#' is in no environment name, so no environment's variables share the context).
   */
  previewEnv: (app: string): SecretContext => ({ app: `${app}#previews`, purpose: "env" }),
  signingSecret: (app: string): SecretContext => ({ app, purpose: "webhook-signing-secret" }),
  slackWebhookUrl: (app: string): SecretContext => ({ app, purpose: "slack-webhook-url" }),
  outgoingWebhookSecret: (app: string): SecretContext => ({ app, purpose: "outgoing-webhook-secret" }),
  gitlabToken: (connectionId: string): SecretContext => ({ app: connectionId, purpose: "gitlab-token" }),
};
