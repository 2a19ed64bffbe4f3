import { slackActions } from "@hoist/shared";
import type { IncomingWebhookSendArguments } from "@slack/webhook";
import { buildUrl, commitUrl, environmentOf, formatDuration, type NotifyContext, refName, shortSha } from "./context.js";

type Blocks = NonNullable<IncomingWebhookSendArguments["blocks"]>;

export interface SlackMessage {
  /** The fallback notifications show: names the app and the short sha and says what happened. */
  text: string;
  blocks: Blocks;
}

type SlackDecision = { send: SlackMessage } | { skip: string };

/** How many of the build's last log lines a failure message quotes. */
const LOG_LINES = 15;
/**
 * Slack refuses the whole message (400 invalid_blocks, final) when a section's text is over
 * 3,000 characters, counted as sent: after escaping, which can make text five times longer.
 */
const SECTION_TEXT_MAX = 3_000;
/** A link target longer than this is left out: the commit field must stay within Slack's 2,000. */
const LINK_TARGET_MAX = 1_000;

/** Slack mrkdwn treats &, < and > as control characters; user text must have them escaped. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * `s` cut to at most `max` characters, "…" included, keeping its start (or its end, for a log
 * tail). Never cuts an entity like `&amp;` in half (Slack would show the pieces, and a stray
 * `&` is a control character) nor a surrogate pair (a lone half is not text).
 */
export function cutText(s: string, max: number, keep: "start" | "end" = "start"): string {
  if (s.length <= max) return s;
  if (keep === "start") {
    let end = max - 1;
    const amp = s.lastIndexOf("&", end - 1);
    if (amp >= 0 && amp > end - 5 && s.indexOf(";", amp) >= end && /^&(amp|lt|gt);/.test(s.slice(amp))) end = amp;
    if (isHighSurrogate(s.charCodeAt(end - 1))) end--;
    return `${s.slice(0, end)}…`;
  }
  let start = s.length - (max - 1);
  const amp = s.lastIndexOf("&", start - 1);
  if (amp >= 0 && amp > start - 5 && /^&(amp|lt|gt);/.test(s.slice(amp))) start = Math.max(start, s.indexOf(";", amp) + 1);
  if (isLowSurrogate(s.charCodeAt(start))) start++;
  return `…${s.slice(start)}`;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * A URL as the target of a mrkdwn link `<target|label>`, or undefined when it should not be one
 * (not http(s), unreadable, too long). `|` would end the target early and `<`, `>` the link
 * itself, letting the rest of the URL post as mrkdwn (`<!channel>`): they are percent-encoded,
 * which leaves the address the same; `&` is escaped as everywhere in mrkdwn.
 */
function linkTarget(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return undefined;
  const target = u.href.replace(/\|/g, "%7C").replace(/</g, "%3C").replace(/>/g, "%3E").replace(/&/g, "&amp;");
  return target.length <= LINK_TARGET_MAX ? target : undefined;
}

function firstLine(s: string | undefined, max = 150): string | undefined {
  const line = s?.split("\n")[0]?.trim();
  if (!line) return undefined;
  return cutText(line, max);
}

function section(text: string): Blocks[number] {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function commitField(ctx: NotifyContext): string {
  const short = shortSha(ctx.build.sha);
  const target = linkTarget(commitUrl(ctx));
  const sha = target ? `<${target}|${short}>` : `\`${short}\``;
  const title = firstLine(ctx.build.commit?.title);
  return `*Commit*\n${sha}${title ? ` ${escapeMrkdwn(title)}` : ""}`;
}

function authorField(ctx: NotifyContext): string {
  // A git author name has no length limit; the field holds 2,000 characters.
  return `*Author*\n${escapeMrkdwn(firstLine(ctx.build.commit?.author) ?? "unknown")}`;
}

function footer(ctx: NotifyContext): Blocks[number] {
  const ref = escapeMrkdwn(cutText(refName(ctx.build.ref), 150));
  const target = linkTarget(buildUrl(ctx));
  const build = target ? `<${target}|Build #${ctx.build.number}>` : `Build #${ctx.build.number}`;
  return { type: "context", elements: [{ type: "mrkdwn", text: `${build} of \`${ref}\` in Hoist` }] };
}

const LOG_HEAD = "*Last log lines*\n```\n";
const LOG_FOOT = "\n```";

function logBlock(lines: string[] | undefined): Blocks {
  const tail = (lines ?? []).slice(-LOG_LINES);
  if (tail.length === 0) return [];
  // Escaped before it is cut, as escaping can make it five times longer. A zero-width space
  // after every backtick followed by another keeps a ``` in the log from ending the block.
  const text = escapeMrkdwn(tail.join("\n")).replace(/`(?=`)/g, "`\u200b");
  return [section(`${LOG_HEAD}${cutText(text, SECTION_TEXT_MAX - LOG_HEAD.length - LOG_FOOT.length, "end")}${LOG_FOOT}`)];
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

function liveMessage(ctx: NotifyContext, release: NonNullable<NotifyContext["release"]>): SlackMessage {
  const { app, build } = ctx;
  const duration = release.liveAt ? formatDuration(Date.parse(release.liveAt) - Date.parse(build.createdAt)) : "unknown";
  return {
    text: `${app.name} ${shortSha(build.sha)} is live (release #${release.number})`,
    blocks: [
      section(`:rocket: *${escapeMrkdwn(app.name)}* release *#${release.number}* is live`),
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
  };
}

function canceledMessage(ctx: NotifyContext): SlackMessage {
  const { app, build } = ctx;
  return {
    text: `${app.name} ${shortSha(build.sha)}: build canceled (build #${build.number})`,
    blocks: [
      section(`:no_entry_sign: *${escapeMrkdwn(app.name)}* build *#${build.number}* was canceled by a user`),
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: commitField(ctx) },
          { type: "mrkdwn", text: authorField(ctx) },
        ],
      },
      footer(ctx),
    ],
  };
}

function gateFields(ctx: NotifyContext): Blocks[number] {
  return {
    type: "section",
    fields: [
      { type: "mrkdwn", text: commitField(ctx) },
      { type: "mrkdwn", text: authorField(ctx) },
    ],
  };
}

const names = (release: NonNullable<NotifyContext["release"]>) =>
  escapeMrkdwn(cutText((release.approvals ?? []).map((a) => a.name).join(", ") || "nobody yet", 500));

/** A release waiting for people: who approved so far, and the Approve / Reject buttons (value: the release id). */
function awaitingMessage(ctx: NotifyContext, release: NonNullable<NotifyContext["release"]>): SlackMessage {
  const { app, build } = ctx;
  const env = environmentOf(release);
  const have = release.approvals?.length ?? 0;
  const need = release.requiredApprovals ?? 0;
  return {
    text: `${app.name} ${shortSha(build.sha)}: release #${release.number} to ${env} awaits approval (${have} of ${need})`,
    blocks: [
      section(
        `:raised_hand: *${escapeMrkdwn(app.name)}* release *#${release.number}* to *${escapeMrkdwn(env)}* awaits approval: ${have} of ${need} (${names(release)})`,
      ),
      gateFields(ctx),
      {
        type: "actions",
        block_id: `hoist-approval-${release.id}`,
        elements: [
          {
            type: "button",
            action_id: slackActions.approve,
            text: { type: "plain_text", text: "Approve" },
            style: "primary",
            value: release.id,
          },
          {
            type: "button",
            action_id: slackActions.reject,
            text: { type: "plain_text", text: "Reject" },
            style: "danger",
            value: release.id,
            confirm: {
              title: { type: "plain_text", text: "Reject this release?" },
              text: { type: "plain_text", text: `Release #${release.number} of ${cutText(app.name, 60)} will not deploy to ${env}.` },
              confirm: { type: "plain_text", text: "Reject" },
              deny: { type: "plain_text", text: "Cancel" },
            },
          },
        ],
      },
      footer(ctx),
    ],
  };
}

function gateMessage(ctx: NotifyContext, release: NonNullable<NotifyContext["release"]>): SlackMessage {
  const { app, build } = ctx;
  const env = environmentOf(release);
  const name = escapeMrkdwn(app.name);
  const head = `*${name}* release *#${release.number}* to *${escapeMrkdwn(env)}*`;
  const short = `${app.name} ${shortSha(build.sha)}: release #${release.number} to ${env}`;
  const [emoji, line, text] =
    ctx.event === "release.approved"
      ? [":white_check_mark:", `${head} is approved by ${names(release)}`, `${short} approved`]
      : ctx.event === "release.rejected"
        ? [
            ":no_entry:",
            `${head} was rejected by ${escapeMrkdwn(release.rejection?.name ?? "someone")}: ${escapeMrkdwn(firstLine(release.rejection?.reason, 500) ?? "no reason given")}`,
            `${short} rejected`,
          ]
        : [
            ":snowflake:",
            `${head} is frozen until ${release.frozenUntil ?? "the freeze ends"} (${escapeMrkdwn(firstLine(release.freeze, 300) ?? "a deploy freeze")}); it deploys then`,
            `${short} frozen`,
          ];
  return { text, blocks: [section(`${emoji} ${line}`), gateFields(ctx), footer(ctx)] };
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
    case "release.live":
      if (!release) return { skip: "release.live without a release" };
      return { send: liveMessage(ctx, release) };
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
    case "release.awaiting_approval":
      if (!release) return { skip: "release.awaiting_approval without a release" };
      if (release.status !== "awaiting_approval") return { skip: `release #${release.number} is ${release.status} now: no buttons for it` };
      return { send: awaitingMessage(ctx, release) };
    case "release.approved":
    case "release.rejected":
    case "release.frozen":
      if (!release) return { skip: `${event} without a release` };
      return { send: gateMessage(ctx, release) };
    case "build.canceled":
      if (build.canceledBy !== "user") return { skip: `not announced: build ${build.canceledBy ?? "canceled"} without a user asking` };
      return { send: canceledMessage(ctx) };
    default:
      return { skip: `${event} is not a Slack event` };
  }
}
