import { type EventNotifyPayload, type Logger, secretContexts } from "@hoist/shared";
import { postSlack } from "../adapters/slack.js";
import { PermanentDeliveryError } from "../domain/errors.js";
import { slackMessage } from "../domain/slack-message.js";
import type { NotifierDeps } from "./deps.js";
import { loadContext } from "./load-context.js";

/**
 * Posts the event's Slack message at most once per event: the sent-marker is claimed before the
 * post (in the same round trip as the records are read), released if the post fails or the event
 * turns out not to be sent, confirmed after it (see SentMarkers for the crash case).
 */
export async function slackJob(deps: NotifierDeps, payload: EventNotifyPayload, log: Logger): Promise<string> {
  const key = deps.markers.key("slack", payload.event, payload.releaseId ?? payload.buildId);
  const [loaded, claim] = await Promise.allSettled([loadContext(deps, payload), deps.markers.claim(key)]);
  if (claim.status === "rejected") throw claim.reason;
  if (claim.value === "sent") return "skipped: already sent";
  if (claim.value === "in-doubt") {
    log.warn({ event: payload.event }, "an earlier attempt died while posting to Slack; not posting again");
    return "skipped: an earlier attempt died while posting; not re-sent, so Slack never gets it twice";
  }
  let sent = false;
  try {
    const outcome = await send(deps, payload, log, loaded);
    sent = outcome === "sent";
    return outcome;
  } finally {
    // Not sent (skipped, or failed: the retry must be free to send): the claim goes.
    if (sent) await deps.markers.confirm(key);
    else await deps.markers.release(key).catch(() => {});
  }
}

async function send(
  deps: NotifierDeps,
  payload: EventNotifyPayload,
  log: Logger,
  loadedResult: PromiseSettledResult<Awaited<ReturnType<typeof loadContext>>>,
): Promise<string> {
  if (loadedResult.status === "rejected") throw loadedResult.reason;
  const loaded = loadedResult.value;
  if ("skip" in loaded) return loaded.skip;
  const { ctx } = loaded;
  const decision = slackMessage(ctx);
  if ("skip" in decision) return `skipped: ${decision.skip}`;
  const sealed = ctx.app.slackWebhookUrl;
  const url = sealed
    ? (await deps.secrets.open(sealed, secretContexts.slackWebhookUrl(ctx.app.name))).toString("utf8")
    : deps.defaultSlackWebhookUrl;
  if (!url) {
    log.info({ event: payload.event, app: ctx.app.name }, "no Slack webhook configured; skipped");
    return "skipped: no Slack webhook configured";
  }
  if (!isHttpUrl(url)) {
    throw new PermanentDeliveryError(
      `the Slack webhook URL (${sealed ? "the app's" : "HOIST_SLACK_WEBHOOK_URL"}) is not an http(s) URL: set it again`,
    );
  }
  await postSlack(url, decision.send, deps.fetch, deps.timeoutMs);
  log.info({ event: payload.event, app: ctx.app.name }, "Slack message sent");
  return "sent";
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}
