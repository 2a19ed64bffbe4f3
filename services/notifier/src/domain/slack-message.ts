import type { IncomingWebhookSendArguments } from "@slack/webhook";
import { buildUrl, commitUrl, formatDuration, type NotifyContext, shortSha } from "./context.js";

type Blocks = NonNullable<IncomingWebhookSendArguments["blocks"]>;

export interface SlackMessage {
  /** The fallback notifications show: names the app and the short sha and says what happened. */
  text: string;
  blocks: Blocks;
}

export type SlackDecision = { send: SlackMessage } | { skip: string };

/** How many of the build's last log lines a failure message quotes. */
export const LOG_LINES = 15;
/** Slack refuses section text over 3000 characters; the log block stays well under it. */
const LOG_CHARS = 2_500;

/** Slack mrkdwn treats &, < and > as control characters; user text must have them escaped. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function firstLine(s: string | undefined, max = 150): string | undefined {
  const line = s?.split("\n")[0]?.trim();
  if (!line) return undefined;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function section(text: string): Blocks[number] {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function commitField(ctx: NotifyContext): string {
  const short = shortSha(ctx.build.sha);
  const url = commitUrl(ctx);
  const sha = url ? `<${url}|${short}>` : `\`${short}\``;
  const title = firstLine(ctx.build.commit?.title);
  return `*Commit*\n${sha}${title ? ` ${escapeMrkdwn(title)}` : ""}`;
}

function authorField(ctx: NotifyContext): string {
  return `*Author*\n${escapeMrkdwn(ctx.build.commit?.author ?? "unknown")}`;
}

function footer(ctx: NotifyContext): Blocks[number] {
  const ref = escapeMrkdwn(ctx.build.ref.replace(/^refs\/(heads|tags)\//, ""));
  return { type: "context", elements: [{ type: "mrkdwn", text: `<${buildUrl(ctx)}|Build #${ctx.build.number}> of \`${ref}\` in Hoist` }] };
}

function logBlock(lines: string[] | undefined): Blocks {
  const tail = (lines ?? []).slice(-LOG_LINES);
  if (tail.length === 0) return [];
  let text = tail.join("\n");
  if (text.length > LOG_CHARS) text = `…${text.slice(-LOG_CHARS)}`;
  // A ``` inside the log would end the code block early.
  text = escapeMrkdwn(text).replace(/```/g, "`\u200b``");
  return [section(`*Last log lines*\n\`\`\`\n${text}\n\`\`\``)];
}

function failure(ctx: NotifyContext, headline: string, text: string, reason: string | undefined): SlackMessage {
  return {
    text,
    blocks: [
      section(headline),
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: commitField(ctx) },
          { type: "mrkdwn", text: authorField(ctx) },
        ],
      },
      section(`*Reason*\n${escapeMrkdwn(firstLine(reason, 500) ?? "no reason recorded")}`),
      ...logBlock(ctx.build.logTail),
      footer(ctx),
    ],
  };
}

/**
 * The Slack message for an event, or why there is none. Only outcomes people act on are
 * announced: live, build failed, release failed / rolled back, and a cancel a user asked for.
 */
export function slackMessage(ctx: NotifyContext): SlackDecision {
  const { app, build, release, event } = ctx;
  const name = escapeMrkdwn(app.name);
  const short = shortSha(build.sha);
  switch (event) {
    case "release.live": {
      if (!release) return { skip: "release.live without a release" };
      const duration = release.liveAt ? formatDuration(Date.parse(release.liveAt) - Date.parse(build.createdAt)) : "unknown";
      return {
        send: {
          text: `${app.name} ${short} is live (release #${release.number})`,
          blocks: [
            section(`:rocket: *${name}* release *#${release.number}* is live`),
            {
              type: "section",
              fields: [
                { type: "mrkdwn", text: commitField(ctx) },
                { type: "mrkdwn", text: authorField(ctx) },
                { type: "mrkdwn", text: `*Push to live*\n${duration}` },
              ],
            },
            footer(ctx),
          ],
        },
      };
    }
    case "build.failed":
      return {
        send: failure(
          ctx,
          `:x: *${name}* build *#${build.number}* failed`,
          `${app.name} ${short}: build failed (build #${build.number})`,
          build.reason,
        ),
      };
    case "release.failed":
      if (!release) return { skip: "release.failed without a release" };
      return {
        send: failure(
          ctx,
          `:x: *${name}* release *#${release.number}* failed`,
          `${app.name} ${short}: release failed (release #${release.number})`,
          release.reason,
        ),
      };
    case "release.rolled_back":
      if (!release) return { skip: "release.rolled_back without a release" };
      return {
        send: failure(
          ctx,
          `:leftwards_arrow_with_hook: *${name}* release *#${release.number}* failed and was rolled back`,
          `${app.name} ${short}: rolled back (release #${release.number} failed)`,
          release.reason,
        ),
      };
    case "build.canceled":
      if (build.canceledBy !== "user") return { skip: `not announced: build ${build.canceledBy ?? "canceled"} without a user asking` };
      return {
        send: {
          text: `${app.name} ${short}: build canceled (build #${build.number})`,
          blocks: [
            section(`:no_entry_sign: *${name}* build *#${build.number}* was canceled by a user`),
            {
              type: "section",
              fields: [
                { type: "mrkdwn", text: commitField(ctx) },
                { type: "mrkdwn", text: authorField(ctx) },
              ],
            },
            footer(ctx),
          ],
        },
      };
    default:
      return { skip: `${event} is not a Slack event` };
  }
}
