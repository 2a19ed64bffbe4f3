import { type EventNotifyPayload, type Logger, secretContexts } from "@hoist/shared";
import { postWebhook } from "../adapters/outgoing-webhook.js";
import { webhookBody, webhookHeaders, webhookId } from "../domain/webhook.js";
import type { NotifierDeps } from "./deps.js";
import { loadContext } from "./load-context.js";

/** Delivers the signed event body; every attempt carries the same webhook-id, so consumers dedupe. */
export async function webhookJob(deps: NotifierDeps, payload: EventNotifyPayload, log: Logger): Promise<string> {
  const loaded = await loadContext(deps, payload);
  if ("skip" in loaded) return loaded.skip;
  const { ctx } = loaded;
  const hook = ctx.app.outgoingWebhook;
  if (!hook) return "skipped: no outgoing webhook configured";
  const secret = (await deps.secrets.open(hook.secret, secretContexts.outgoingWebhookSecret(ctx.app.name))).toString("utf8");
  const body = JSON.stringify(webhookBody(ctx));
  const id = webhookId(payload.event, payload.releaseId ?? payload.buildId, hook.url);
  await postWebhook(hook.url, body, webhookHeaders(secret, id, body), deps.fetch, deps.timeoutMs);
  log.info({ event: payload.event, app: ctx.app.name, webhookId: id }, "webhook delivered");
  return "sent";
}
