import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LocalSecretBox } from "../secrets/local.js";
import { secretContexts } from "../secrets/sealed.js";
import type { AuditLog } from "./log.js";
import { auditedSecretBox } from "./secret-openings.js";

type Appended = Parameters<AuditLog["append"]>[0];

describe("auditedSecretBox: each secret a worker opens is in the audit log, never the secret", () => {
  const box = new LocalSecretBox(randomBytes(32));
  const recorder = () => {
    const entries: Appended[] = [];
    return { entries, audit: { append: async (e: Appended) => void entries.push(e) } };
  };

  it("records who opened which purpose of which app after opening it, and seals unrecorded", async () => {
    const { entries, audit } = recorder();
    const audited = auditedSecretBox(box, audit, "builder");
    const sealed = await audited.seal("DATABASE_URL=postgres://canary-open", secretContexts.appEnv("shop"));
    expect(entries).toEqual([]);
    expect((await audited.open(sealed, secretContexts.appEnv("shop"))).toString()).toBe("DATABASE_URL=postgres://canary-open");
    expect(entries).toEqual([
      { at: expect.any(String), actor: "builder", actorKind: "service", via: "worker", action: "secret.open", app: "shop", target: "env" },
    ]);
    expect(JSON.stringify(entries)).not.toContain("canary-open");
    // A secret that does not open (another app's context) is no entry: nothing was opened.
    await expect(audited.open(sealed, secretContexts.appEnv("other"))).rejects.toThrow();
    expect(entries).toHaveLength(1);
  });

  it("names a GitLab token by its connection, and the app the job is for", async () => {
    const { entries, audit } = recorder();
    const audited = auditedSecretBox(box, audit, "notifier");
    const sealed = await box.seal("glpat-canary", secretContexts.gitlabToken("glc_1"));
    await audited.open(sealed, secretContexts.gitlabToken("glc_1"), "shop");
    await audited.open(sealed, secretContexts.gitlabToken("glc_1"));
    expect(entries.map((e) => [e.actor, e.app, e.target])).toEqual([
      ["notifier", "shop", "gitlab-token:glc_1"],
      ["notifier", undefined, "gitlab-token:glc_1"],
    ]);
  });

  it("hands out no secret it could not record", async () => {
    const audited = auditedSecretBox(
      box,
      {
        append: async () => {
          throw new Error("NOPERM this user has no permissions to access the audit key");
        },
      },
      "deployer",
    );
    const sealed = await box.seal("x", secretContexts.appEnv("shop"));
    await expect(audited.open(sealed, secretContexts.appEnv("shop"))).rejects.toThrow(/NOPERM/);
  });
});
