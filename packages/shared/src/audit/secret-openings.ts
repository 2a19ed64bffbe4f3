import type { SecretBox } from "../secrets/sealed.js";
import type { AuditLog } from "./log.js";

/** The workers whose secret openings the audit log records. */
type Worker = "builder" | "deployer" | "notifier";

/**
 * `box`, with every secret it opens appended to the audit log: who (the worker), which secret
 * (its purpose: `env`, `deploy-key`, `slack-webhook-url`, `outgoing-webhook-secret`, or
 * `gitlab-token:<connection id>`) of which app, never the secret. The entry is written after a
 * successful opening and before the secret is handed out: when it cannot be written the opening
 * fails (the job retries), so no secret is used unrecorded.
 */
export function auditedSecretBox(box: SecretBox, audit: Pick<AuditLog, "append">, worker: Worker): SecretBox {
  return {
    seal: (plaintext, context) => box.seal(plaintext, context),
    needsReseal: (sealed) => box.needsReseal(sealed),
    async open(sealed, context, forApp) {
      const plain = await box.open(sealed, context);
      // A GitLab token's context names its connection, not an app.
      const connection = context.purpose === "gitlab-token";
      const app = forApp ?? (connection ? undefined : context.app);
      await audit.append({
        at: new Date().toISOString(),
        actor: worker,
        actorKind: "service",
        via: "worker",
        action: "secret.open",
        ...(app ? { app } : {}),
        target: connection ? `gitlab-token:${context.app}` : context.purpose,
      });
      return plain;
    },
  };
}
