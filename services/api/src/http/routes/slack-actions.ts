import { type AuditLog, idSchema, slackActions } from "@hoist/shared";
import { type Request, Router } from "express";
import { z } from "zod";
import type { Access } from "../../auth/access.js";
import { addressOf } from "../../auth/guard.js";
import { atLeast } from "../../auth/roles.js";
import type { ApiDeps } from "../../deps.js";
import { approveRelease, rejectRelease, releaseEnvironment } from "../../domain/approvals.js";
import { StateConflictError } from "../../domain/errors.js";
import { verifySlackSignature } from "../../domain/slack-signature.js";
import { readRawBody } from "../body.js";
import { HttpError } from "../errors.js";

/** Slack sends interaction payloads of a few KiB; anything far larger is not Slack. */
const MAX_BODY = 64 * 1024;

/** The part of a `block_actions` payload Hoist reads (https://api.slack.com/reference/interaction-payloads/block-actions). */
const payloadSchema = z.object({
  type: z.literal("block_actions", { error: "only block_actions (button clicks) are handled" }),
  user: z.object({ id: z.string().min(1).max(64), username: z.string().max(255).optional(), name: z.string().max(255).optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() }).loose()).min(1, "no action in the payload"),
});

/**
 * The answer to a verified click: always 200 (Slack shows an error for anything else), with what
 * happened. Slack does not display the body of a block_actions answer; the outcome reaches the
 * channel as the release.approved / release.rejected message, and a refusal is logged.
 */
const say = (text: string) => ({ response_type: "ephemeral", replace_original: false, text });

/**
 * `POST /slack/actions`: the Approve / Reject buttons of a Slack message. Authenticated by
 * Slack's signature (HOIST_SLACK_SIGNING_SECRET; 401 otherwise), not a Hoist token. The Slack user
 * acts as the Hoist person HOIST_SLACK_USERS links them to (a GitLab user id), with that
 * person's role: approving needs maintainer on the app, as it does through the API. The
 * approval is recorded with via "slack" and in the audit log.
 */
export function slackActionsRouter(deps: ApiDeps, auth: { access: Access; audit: AuditLog }): Router {
  const router = Router();
  router.post("/slack/actions", async (req: Request, res) => {
    const secret = deps.config.HOIST_SLACK_SIGNING_SECRET;
    if (!secret)
      throw new HttpError(404, "not_configured", "Slack actions are off: set HOIST_SLACK_SIGNING_SECRET to the Slack app's signing secret");
    const raw = await readRawBody(req, MAX_BODY);
    const nowS = Math.floor((deps.now?.() ?? Date.now()) / 1000);
    const check = verifySlackSignature(
      secret,
      { timestamp: req.get("x-slack-request-timestamp"), signature: req.get("x-slack-signature") },
      raw,
      nowS,
    );
    if (!check.ok) throw new HttpError(401, "bad_signature", check.reason);
    let json: unknown;
    try {
      json = JSON.parse(new URLSearchParams(raw.toString("utf8")).get("payload") ?? "");
    } catch {
      throw new HttpError(400, "invalid_request", "the body is not Slack's form with a JSON `payload`");
    }
    const payload = payloadSchema.parse(json);
    const action = payload.actions.find((a) => a.action_id === slackActions.approve || a.action_id === slackActions.reject);
    if (!action) return void res.json(say("Nothing for Hoist in this action."));
    const id = idSchema.safeParse(action.value);
    if (!id.success) throw new HttpError(400, "invalid_request", "the button's value is not a release id");
    const refuse = (text: string) => {
      deps.log.info(
        { slackUser: payload.user.id, action: action.action_id, releaseId: action.value, refused: text },
        "Slack action refused",
      );
      res.json(say(text));
    };
    const userId = deps.config.HOIST_SLACK_USERS[payload.user.id];
    if (!userId) {
      return refuse(
        `Your Slack user (${payload.user.id}) is not linked to a Hoist person: ask an admin to add ${payload.user.id}=<your GitLab user id> to HOIST_SLACK_USERS.`,
      );
    }
    const release = await deps.records.releases.get(id.data);
    if (!release) return refuse(`Release ${id.data} no longer exists.`);
    const role = await auth.access.appRole({ kind: "user", id: userId, name: userId }, release.app);
    if (!atLeast(role, "maintainer")) {
      return refuse(`Approving releases of ${release.app} needs the maintainer role; you have ${role ?? "no role"} there.`);
    }
    const username =
      (await deps.redis.hget(deps.records.keys.person(userId), "username")) ?? payload.user.username ?? payload.user.name ?? userId;
    const actor = { by: `user:${userId}`, name: username, via: "slack" as const };
    const env = releaseEnvironment(release);
    const approving = action.action_id === slackActions.approve;
    let text: string;
    try {
      if (approving) {
        const done = await approveRelease(deps, release.app, env, release.id, actor);
        text = `Approved release #${done.number} of ${done.app} (${env}): ${done.approvals?.length ?? 0} of ${done.requiredApprovals ?? 0}.`;
      } else {
        const done = await rejectRelease(deps, release.app, env, release.id, actor, `rejected in Slack by ${username}`);
        text = `Rejected release #${done.number} of ${done.app} (${env}).`;
      }
    } catch (err) {
      if (err instanceof StateConflictError) return refuse(err.message);
      throw err;
    }
    await auth.audit
      .append({
        at: new Date().toISOString(),
        actor: username,
        actorKind: "user",
        via: "slack",
        action: approving ? "release.approve" : "release.reject",
        app: release.app,
        environment: release.environment,
        target: release.id,
        address: addressOf(req),
        status: 200,
      })
      .catch((err: unknown) => deps.log.error({ err, app: release.app }, "audit log append failed"));
    res.json(say(text));
  });
  return router;
}
