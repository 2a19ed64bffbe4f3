import { type HandlerMap, secretContexts } from "@hoist/shared";
import { postWebhook } from "../adapters/outgoing-webhook.js";
import { postSlack } from "../adapters/slack.js";
import { PermanentDeliveryError } from "../domain/errors.js";
import { slackMessage } from "../domain/slack-message.js";
import { webhookBody, webhookHeaders, webhookId } from "../domain/webhook.js";
import type { NotifierDeps } from "./deps.js";
import { settleFailure } from "./failures.js";
import { gitlabStatusJob } from "./gitlab-status-job.js";
import { loadContext } from "./load-context.js";

/**
 * One handler per destination. Each returns what it did ("sent", "skipped: ..."), which BullMQ
 * keeps as the job's return value; failures go through settleFailure.
 */
export function handlers(deps: NotifierDeps): HandlerMap<"notify"> {
  return {
    async slack(payload, jc) {
      try {
        const loaded = await loadContext(deps, payload);
        if ("skip" in loaded) return loaded.skip;
        const { ctx } = loaded;
        const decision = slackMessage(ctx);
        if ("skip" in decision) return `skipped: ${decision.skip}`;
        const sealed = ctx.app.slackWebhookUrl;
        const url = sealed
          ? (await deps.secrets.open(sealed, secretContexts.slackWebhookUrl(ctx.app.name))).toString("utf8")
          : deps.defaultSlackWebhookUrl;
        if (!url) {
          jc.log.info({ event: payload.event, app: ctx.app.name }, "no Slack webhook configured; skipped");
          return "skipped: no Slack webhook configured";
        }
        if (!isHttpUrl(url)) {
          throw new PermanentDeliveryError(
            `the Slack webhook URL (${sealed ? "the app's" : "HOIST_SLACK_WEBHOOK_URL"}) is not an http(s) URL: set it again`,
          );
        }
        const key = deps.markers.key("slack", payload.event, payload.releaseId ?? payload.buildId);
        const claim = await deps.markers.claim(key);
        if (claim === "sent") return "skipped: already sent";
        if (claim === "in-doubt") {
          jc.log.warn({ event: payload.event }, "an earlier attempt died while posting to Slack; not posting again");
          return "skipped: an earlier attempt died while posting; not re-sent, so Slack never gets it twice";
        }
        try {
          await postSlack(url, decision.send, deps.timeoutMs);
        } catch (err) {
          await deps.markers.release(key);
          throw err;
        }
        await deps.markers.confirm(key);
        jc.log.info({ event: payload.event, app: ctx.app.name }, "Slack message sent");
        return "sent";
      } catch (err) {
        return settleFailure(err, jc);
      }
    },

    async "gitlab-status"(payload, jc) {
      try {
        return await gitlabStatusJob(deps, payload, jc.log);
      } catch (err) {
        return settleFailure(err, jc);
      }
    },

    async webhook(payload, jc) {
      try {
        const loaded = await loadContext(deps, payload);
        if ("skip" in loaded) return loaded.skip;
        const { ctx } = loaded;
        const hook = ctx.app.outgoingWebhook;
        if (!hook) return "skipped: no outgoing webhook configured";
        const secret = (await deps.secrets.open(hook.secret, secretContexts.outgoingWebhookSecret(ctx.app.name))).toString("utf8");
        const body = JSON.stringify(webhookBody(ctx));
        const id = webhookId(payload.event, payload.releaseId ?? payload.buildId, hook.url);
        await postWebhook(hook.url, body, webhookHeaders(secret, id, body), deps.timeoutMs);
        jc.log.info({ event: payload.event, app: ctx.app.name, webhookId: id }, "webhook delivered");
        return "sent";
      } catch (err) {
        return settleFailure(err, jc);
      }
    },
  };
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}
