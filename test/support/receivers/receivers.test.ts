import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { SlackReceiver } from "./slack.js";
import { WebhookConsumer } from "./webhook-consumer.js";

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe("Slack receiver", () => {
  it("answers like Slack's incoming webhooks", async () => {
    const slack = await new SlackReceiver().start();
    open.push(slack);
    const url = slack.webhookUrl();
    const send = async (to: string, body: string) => {
      const res = await fetch(to, { method: "POST", headers: { "content-type": "application/json" }, body });
      return [res.status, await res.text()];
    };
    expect(await send(url, JSON.stringify({ text: "hi" }))).toEqual([200, "ok"]);
    expect(await send(url, JSON.stringify({ username: "x" }))).toEqual([400, "no_text"]);
    expect(await send(url, "{nope")).toEqual([400, "invalid_payload"]);
    expect(await send(url, "[1]")).toEqual([400, "invalid_payload"]);
    expect(await send(url, JSON.stringify({ text: 7 }))).toEqual([400, "invalid_payload"]);
    expect(await send(`${slack.baseUrl}/services/T/B/unknown`, JSON.stringify({ text: "hi" }))).toEqual([404, "no_service"]);
    slack.plan({ status: 429, body: "rate_limited", headers: { "retry-after": "3" } });
    const limited = await fetch(url, { method: "POST", body: JSON.stringify({ text: "hi" }) });
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "3"]);
    expect(slack.posted.map((m) => m.text)).toEqual(["hi"]);
  });
});

describe("Slack receiver's Block Kit limits", () => {
  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
  const field = (text: string) => ({ type: "mrkdwn", text });
  const context = (n: number) => ({ type: "context", elements: Array.from({ length: n }, () => field("c")) });
  const header = (text: string) => ({ type: "header", text: { type: "plain_text", text } });
  /** Blocks at each limit, and the same one past it. */
  const cases: [string, unknown, unknown][] = [
    ["a section's text", [section("x".repeat(3000))], [section("x".repeat(3001))]],
    ["a field's text", [{ type: "section", fields: [field("x".repeat(2000))] }], [{ type: "section", fields: [field("x".repeat(2001))] }]],
    ["fields", [{ type: "section", fields: Array(10).fill(field("f")) }], [{ type: "section", fields: Array(11).fill(field("f")) }]],
    ["a header", [header("h".repeat(150))], [header("h".repeat(151))]],
    ["a context's elements", [context(10)], [context(11)]],
    ["blocks", Array(50).fill(section("s")), Array(51).fill(section("s"))],
    ["an empty text", [section("s")], [section("")]],
    ["a block_id", [{ ...section("s"), block_id: "b".repeat(255) }], [{ ...section("s"), block_id: "b".repeat(256) }]],
    ["a header's text type", [header("h")], [{ type: "header", text: { type: "mrkdwn", text: "h" } }]],
    ["a section without text or fields", [{ type: "divider" }], [{ type: "section" }]],
    ["an unknown block type", [{ type: "divider" }], [{ type: "carousel" }]],
    ["blocks that are no list", [], { type: "divider" }],
  ];

  it.each(cases)("posts %s at the limit and answers 400 invalid_blocks past it", async (_what, ok, over) => {
    const slack = await new SlackReceiver().start();
    open.push(slack);
    const url = slack.webhookUrl();
    const send = async (blocks: unknown) => {
      const res = await fetch(url, { method: "POST", body: JSON.stringify({ text: "fallback", blocks }) });
      return [res.status, await res.text()];
    };
    expect(await send(ok)).toEqual([200, "ok"]);
    expect(await send(over)).toEqual([400, "invalid_blocks"]);
    expect(slack.posted).toHaveLength(1);
    expect(slack.refused).toHaveLength(1);
  });

  it("refuses blocks without the text fallback with 400 no_text", async () => {
    const slack = await new SlackReceiver().start();
    open.push(slack);
    const res = await fetch(slack.webhookUrl(), { method: "POST", body: JSON.stringify({ blocks: [section("s")] }) });
    expect([res.status, await res.text()]).toEqual([400, "no_text"]);
    expect(slack.posted).toHaveLength(0);
  });
});

describe("Standard Webhooks consumer", () => {
  function signed(consumer: WebhookConsumer, id: string, ts: number, body: string, secret = consumer.secret) {
    const key = Buffer.from(secret.slice(6), "base64");
    const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
    return fetch(consumer.url, {
      method: "POST",
      headers: { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${sig}`, "content-type": "application/json" },
      body,
    });
  }

  it("accepts good signatures once per webhook-id and rejects bad or stale ones", async () => {
    const c = await new WebhookConsumer().start();
    open.push(c);
    const now = Math.floor(Date.now() / 1000);
    expect((await signed(c, "msg_1", now, '{"a":1}')).status).toBe(204);
    expect((await signed(c, "msg_1", now, '{"a":1}')).status).toBe(204);
    expect(c.events).toHaveLength(1);
    expect(c.duplicates).toEqual(["msg_1"]);
    expect((await signed(c, "msg_2", now, '{"a":2}', "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA")).status).toBe(401);
    expect((await signed(c, "msg_3", now - 600, '{"a":3}')).status).toBe(401);
    expect(c.rejected.map((r) => r.reason)).toEqual(["no matching signature", "timestamp outside tolerance"]);
  });
});
