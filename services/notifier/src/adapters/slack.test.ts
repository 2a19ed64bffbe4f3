import { outboundFetch, parseOutboundAllow } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlackReceiver } from "../../../../test/support/receivers/slack.js";
import { slackMessage } from "../domain/slack-message.js";
import { buildFixture, ctxFixture } from "../testing/fixtures.js";
import { postSlack } from "./slack.js";

describe("postSlack to a receiver as strict as Slack", () => {
  const slack = new SlackReceiver();
  const fetch = outboundFetch({ policy: parseOutboundAllow("127.0.0.1") });
  beforeAll(() => slack.start());
  afterAll(() => slack.close());

  it("posts a failure whose log is full of 2>&1 instead of losing it to 400 invalid_blocks", async () => {
    const logTail = Array.from({ length: 15 }, (_, i) => `${i} ${"2>&1 ".repeat(200)}`);
    const build = buildFixture({ status: "failed", reason: "docker build exited 1", logTail });
    const decision = slackMessage(ctxFixture("build.failed", { build }));
    if (!("send" in decision)) throw new Error("not sent");
    await postSlack(slack.webhookUrl(), decision.send, fetch, 5_000);
    expect(slack.refused).toEqual([]);
    expect(slack.posted).toHaveLength(1);
    expect(JSON.stringify(slack.posted[0]?.blocks)).toContain(`14 ${"2&gt;&amp;1 ".repeat(199)}2&gt;&amp;1 \\n\`\`\``);
  });

  it("reports a refused message as final, with Slack's answer", async () => {
    const err = await postSlack(
      slack.webhookUrl(),
      { text: "x", blocks: [{ type: "section", text: { type: "mrkdwn", text: "y".repeat(3001) } }] },
      fetch,
      5_000,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "PermanentDeliveryError", message: "Slack answered 400: invalid_blocks" });
  });
});
