import { createHash, createHmac } from "node:crypto";
import { buildUrl, environmentOf, eventTime, type NotifyContext } from "./context.js";
import { PermanentDeliveryError } from "./errors.js";

/**
 * The event body an outgoing webhook carries. Fields are listed one by one so that nothing
 * secret (sealed values, token hashes, the GitLab hook's routing id, the app env, log lines)
 * can reach a consumer by being added to a record later.
 */
export function webhookBody(ctx: NotifyContext): { type: string; timestamp: string; data: Record<string, unknown> } {
  const { app, build, release } = ctx;
  return {
    type: ctx.event,
    timestamp: eventTime(ctx),
    data: {
      app: {
        name: app.name,
        branch: app.branch,
        target: app.target.kind,
        ...(app.gitlab ? { gitlab: { projectId: app.gitlab.projectId, webUrl: app.gitlab.webUrl } } : {}),
      },
      build: {
        id: build.id,
        number: build.number,
        status: build.status,
        ref: build.ref,
        sha: build.sha,
        trigger: build.trigger,
        reason: build.reason,
        canceledBy: build.canceledBy,
        commit: build.commit,
        images: build.images,
        createdAt: build.createdAt,
        startedAt: build.startedAt,
        finishedAt: build.finishedAt,
        url: buildUrl(ctx),
      },
      release: release
        ? {
            id: release.id,
            number: release.number,
            status: release.status,
            reason: release.reason,
            images: release.images,
            sourceReleaseId: release.sourceReleaseId,
            createdAt: release.createdAt,
            deployingAt: release.deployingAt,
            liveAt: release.liveAt,
            finishedAt: release.finishedAt,
            environment: environmentOf(release),
            // The gates: who approved (names and how, never tokens), a rejection, a freeze, an override.
            requiredApprovals: release.requiredApprovals,
            approvals: release.approvals,
            rejection: release.rejection,
            frozenUntil: release.frozenUntil,
            override: release.override,
          }
        : null,
    },
  };
}

/**
 * `webhook-id`: the same for every attempt at one event to one destination, so a consumer
 * dedupes our retries (Standard Webhooks: "the same id for the same message").
 */
export function webhookId(event: string, subjectId: string, url: string): string {
  const digest = createHash("sha256").update(`${event}\n${subjectId}\n${url}`).digest("base64url").slice(0, 27);
  return `msg_${digest}`;
}

/** The HMAC key of a `whsec_<base64>` secret. */
function signingKey(secret: string): Buffer {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret.trim());
  const key = m?.[1] ? Buffer.from(m[1], "base64") : Buffer.alloc(0);
  if (key.length < 16) {
    throw new PermanentDeliveryError(
      "the app's outgoing webhook secret is not a whsec_<base64> key of at least 16 bytes: set a new one on the app",
    );
  }
  return key;
}

/** Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string): string {
  const mac = createHmac("sha256", signingKey(secret)).update(`${id}.${timestampSec}.${body}`).digest("base64");
  return `v1,${mac}`;
}

export function webhookHeaders(secret: string, id: string, body: string, now: Date = new Date()): Record<string, string> {
  const ts = Math.floor(now.getTime() / 1000);
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(ts),
    "webhook-signature": signWebhook(secret, id, ts, body),
  };
}
