import { notifyEvents } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { blockKitProblem } from "../../../../test/support/receivers/block-kit.js";
import { buildFixture, ctxFixture, releaseFixture } from "../testing/fixtures.js";
import { cutText, escapeMrkdwn, type SlackMessage, slackMessage } from "./slack-message.js";

const commit =
  "*Commit*\n<https://gitlab.example.com/acme/shop/-/commit/3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345|3f2a9c1b> Fix &lt;checkout&gt; &amp; totals";
const author = { type: "mrkdwn", text: "*Author*\nAda Lovelace" };
const footer = {
  type: "context",
  elements: [{ type: "mrkdwn", text: "<https://hoist.example.com/builds/bld_abc|Build #12> of `main` in Hoist" }],
};

describe("slackMessage", () => {
  it("release.live: app, release number, linked short sha, title, author, push-to-live time, build link", () => {
    expect(slackMessage(ctxFixture("release.live"))).toEqual({
      send: {
        text: "shop 3f2a9c1b is live (release #3)",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":rocket: *shop* release *#3* is live" } },
          {
            type: "section",
            fields: [{ type: "mrkdwn", text: commit }, author, { type: "mrkdwn", text: "*Push to live*\n4m 12s" }],
          },
          footer,
        ],
      },
    });
  });

  it("build.failed: reason and the last 15 log lines, escaped", () => {
    const logTail = Array.from({ length: 20 }, (_, i) => `step ${i + 1}`);
    logTail[19] = "error: <missing> module & ``` ````";
    const ctx = ctxFixture("build.failed", { build: buildFixture({ status: "failed", reason: "docker build exited 1", logTail }) });
    const lines = [...logTail.slice(5, 19), "error: &lt;missing&gt; module &amp; `\u200b`\u200b` `\u200b`\u200b`\u200b`"].join("\n");
    expect(slackMessage(ctx)).toEqual({
      send: {
        text: "shop 3f2a9c1b: build failed (build #12)",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":x: *shop* build *#12* failed" } },
          { type: "section", fields: [{ type: "mrkdwn", text: commit }, author] },
          { type: "section", text: { type: "mrkdwn", text: "*Reason*\ndocker build exited 1" } },
          { type: "section", text: { type: "mrkdwn", text: `*Last log lines*\n\`\`\`\n${lines}\n\`\`\`` } },
          footer,
        ],
      },
    });
  });

  it("release.failed: the release's reason and the build's log tail", () => {
    const ctx = ctxFixture("release.failed", {
      build: buildFixture({ logTail: ["pushed web"] }),
      release: releaseFixture({ status: "failed", reason: "health check /healthz failed 3 times" }),
    });
    expect(slackMessage(ctx)).toEqual({
      send: {
        text: "shop 3f2a9c1b: release failed (release #3)",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":x: *shop* release *#3* failed" } },
          { type: "section", fields: [{ type: "mrkdwn", text: commit }, author] },
          { type: "section", text: { type: "mrkdwn", text: "*Reason*\nhealth check /healthz failed 3 times" } },
          { type: "section", text: { type: "mrkdwn", text: "*Last log lines*\n```\npushed web\n```" } },
          footer,
        ],
      },
    });
  });

  it("release.rolled_back: says rolled back, with the reason; no log block without log lines", () => {
    const ctx = ctxFixture("release.rolled_back", {
      release: releaseFixture({ status: "rolled_back", reason: "ECS service did not stabilise" }),
    });
    expect(slackMessage(ctx)).toEqual({
      send: {
        text: "shop 3f2a9c1b: rolled back (release #3 failed)",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":leftwards_arrow_with_hook: *shop* release *#3* failed and was rolled back" } },
          { type: "section", fields: [{ type: "mrkdwn", text: commit }, author] },
          { type: "section", text: { type: "mrkdwn", text: "*Reason*\nECS service did not stabilise" } },
          footer,
        ],
      },
    });
  });

  it("build.canceled: only when a user canceled it", () => {
    const byUser = ctxFixture("build.canceled", { build: buildFixture({ status: "canceled", canceledBy: "user" }) });
    expect(slackMessage(byUser)).toEqual({
      send: {
        text: "shop 3f2a9c1b: build canceled (build #12)",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":no_entry_sign: *shop* build *#12* was canceled by a user" } },
          { type: "section", fields: [{ type: "mrkdwn", text: commit }, author] },
          footer,
        ],
      },
    });
    const superseded = ctxFixture("build.canceled", { build: buildFixture({ status: "canceled", canceledBy: "superseded" }) });
    expect(slackMessage(superseded)).toEqual({ skip: "not announced: build superseded without a user asking" });
  });

  it("announces nothing else", () => {
    const sent = notifyEvents.filter((e) => "send" in slackMessage(ctxFixture(e, { build: buildFixture({ canceledBy: "user" }) })));
    // release.awaiting_approval only while the release still waits (the fixture's is live).
    expect(sent).toEqual([
      "build.failed",
      "build.canceled",
      "release.live",
      "release.failed",
      "release.rolled_back",
      "release.approved",
      "release.rejected",
      "release.frozen",
    ]);
    expect(slackMessage(ctxFixture("build.running"))).toEqual({ skip: "build.running is not a Slack event" });
  });

  it("every fallback text names the app and a short sha of 7+ characters and says what happened in plain words", () => {
    const words: Record<string, string> = {
      "release.live": "live",
      "build.failed": "build failed",
      "release.failed": "release failed",
      "release.rolled_back": "rolled back",
      "build.canceled": "canceled",
      "release.approved": "approved",
      "release.rejected": "rejected",
      "release.frozen": "frozen",
    };
    for (const [event, word] of Object.entries(words)) {
      const d = slackMessage(ctxFixture(event as "release.live", { build: buildFixture({ canceledBy: "user" }) }));
      if (!("send" in d)) throw new Error(`${event} not sent`);
      expect(d.send.text).toContain("shop");
      expect(d.send.text).toMatch(/\b3f2a9c1[0-9a-f]*\b/);
      expect(d.send.text).toContain(word);
    }
  });

  it("without a GitLab URL the short sha is shown as code; a missing author reads unknown", () => {
    const ctx = ctxFixture("release.live", {
      app: { ...ctxFixture("release.live").app, gitlab: undefined },
      build: buildFixture({ commit: { title: "x" } }),
    });
    const d = slackMessage(ctx);
    if (!("send" in d)) throw new Error("not sent");
    expect(JSON.stringify(d.send.blocks)).toContain("*Commit*\\n`3f2a9c1b` x");
    expect(JSON.stringify(d.send.blocks)).toContain("*Author*\\nunknown");
  });

  it("escapes Slack's control characters", () => {
    expect(escapeMrkdwn("<a> & <b>")).toBe("&lt;a&gt; &amp; &lt;b&gt;");
  });
});

function sent(d: ReturnType<typeof slackMessage>): SlackMessage {
  if (!("send" in d)) throw new Error(`not sent: ${d.skip}`);
  return d.send;
}
const textOf = (block: unknown) => (block as { text: { text: string } }).text.text;
const fieldsOf = (block: unknown) => (block as { fields: { text: string }[] }).fields.map((f) => f.text);

describe("slackMessage within Slack's limits", () => {
  it("the worst log (every character one that escapes) is escaped, then cut to 3,000 characters, keeping its end and whole entities", () => {
    const logTail = Array.from({ length: 15 }, () => "&".repeat(300));
    const msg = sent(slackMessage(ctxFixture("build.failed", { build: buildFixture({ status: "failed", reason: "x", logTail }) })));
    expect(blockKitProblem(msg.blocks)).toBeUndefined();
    const log = textOf(msg.blocks[3]);
    // Five characters an entity: at most four lost to cutting between entities.
    expect(log.length).toBeGreaterThan(3000 - 5);
    expect(log.length).toBeLessThanOrEqual(3000);
    const body = log.slice("*Last log lines*\n```\n".length, -"\n```".length);
    expect(body).toMatch(/^…(&amp;|\n)+$/);
    expect(body.endsWith(`\n${"&amp;".repeat(300)}`)).toBe(true);
  });

  it("cuts the log between lines of < and > as well, and never half of a surrogate pair", () => {
    for (const ch of ["<", ">", "😀", "a😀"]) {
      const msg = sent(slackMessage(ctxFixture("build.failed", { build: buildFixture({ logTail: Array(15).fill(ch.repeat(700)) }) })));
      expect(blockKitProblem(msg.blocks)).toBeUndefined();
      const body = textOf(msg.blocks[3]).slice("*Last log lines*\n```\n…".length, -4);
      expect(body).toMatch(/^(&lt;|&gt;|😀|a|\n)+$/u);
    }
  });

  it("keeps every other field within its limit however long the commit, author, ref and reason are", () => {
    const build = buildFixture({
      status: "failed",
      ref: `refs/heads/${">".repeat(5000)}`,
      reason: "&".repeat(5000),
      commit: { title: "<".repeat(5000), author: "&".repeat(5000), url: `https://gitlab.example.com/${"a".repeat(5000)}` },
      logTail: ["&".repeat(50_000)],
    });
    const msg = sent(slackMessage(ctxFixture("build.failed", { build })));
    expect(blockKitProblem(msg.blocks)).toBeUndefined();
    // The over-long URL is left out rather than making the field too long.
    expect(fieldsOf(msg.blocks[1])[0]).toMatch(/^\*Commit\*\n`3f2a9c1b` (&lt;)+…$/);
  });

  it.each([
    ["a | (ends the link target)", "https://gitlab.example.com/a|<!channel>", "https://gitlab.example.com/a%7C%3C!channel%3E"],
    ["a > (ends the link)", "https://gitlab.example.com/a><!here> owned", "https://gitlab.example.com/a%3E%3C!here%3E%20owned"],
    ["a query with < & |", "https://gitlab.example.com/a?x=<b>&c|d#<e>", "https://gitlab.example.com/a?x=%3Cb%3E&amp;c%7Cd#%3Ce%3E"],
  ])("a commit URL with %s stays one link to the same address", (_what, url, target) => {
    const msg = sent(slackMessage(ctxFixture("release.live", { build: buildFixture({ commit: { title: "t", url } }) })));
    const commit = fieldsOf(msg.blocks[1])[0] ?? "";
    expect(commit).toBe(`*Commit*\n<${target}|3f2a9c1b> t`);
    expect([...commit.matchAll(/[<>|]/g)].map((m) => m[0])).toEqual(["<", "|", ">"]);
  });

  it.each([
    ["not http(s)", "javascript:alert(1)"],
    ["unreadable", "https://gitlab.example.com:99999/<x>"],
    ["a host with |", "https://a|b.example.com/x"],
  ])("a commit URL that is %s is no link: the short sha shows as code", (_what, url) => {
    const msg = sent(slackMessage(ctxFixture("release.live", { build: buildFixture({ commit: { title: "t", url } }) })));
    expect(fieldsOf(msg.blocks[1])[0]).toBe("*Commit*\n`3f2a9c1b` t");
  });
});

describe("slackMessage: the gates", () => {
  const waiting = releaseFixture({
    status: "awaiting_approval",
    requiredApprovals: 2,
    approvals: [{ by: "user:1", name: "ada <admin>", via: "api", at: "2026-01-01T10:03:00.000Z" }],
  });

  it("release.awaiting_approval: who approved so far and Approve / Reject buttons whose value is the release id", () => {
    const msg = sent(slackMessage(ctxFixture("release.awaiting_approval", { release: waiting })));
    expect(blockKitProblem(msg.blocks)).toBeUndefined();
    expect(msg.text).toBe("shop 3f2a9c1b: release #3 to production awaits approval (1 of 2)");
    expect(textOf(msg.blocks[0])).toBe(":raised_hand: *shop* release *#3* to *production* awaits approval: 1 of 2 (ada &lt;admin&gt;)");
    const actions = msg.blocks[2] as { type: string; elements: { action_id: string; value: string; style: string }[] };
    expect(actions.type).toBe("actions");
    expect(actions.elements.map((e) => [e.action_id, e.value, e.style])).toEqual([
      ["hoist.release.approve", "rel_xyz", "primary"],
      ["hoist.release.reject", "rel_xyz", "danger"],
    ]);
  });

  it("no buttons for a release that no longer waits", () => {
    expect(slackMessage(ctxFixture("release.awaiting_approval", { release: releaseFixture({ status: "rejected" }) }))).toEqual({
      skip: "release #3 is rejected now: no buttons for it",
    });
  });

  it("approved, rejected and frozen say by whom, why and until when", () => {
    const approved = sent(
      slackMessage(
        ctxFixture("release.approved", {
          release: {
            ...waiting,
            approvals: [...(waiting.approvals ?? []), { by: "user:2", name: "bob", via: "slack", at: "2026-01-01T10:04:00.000Z" }],
          },
        }),
      ),
    );
    expect(textOf(approved.blocks[0])).toBe(":white_check_mark: *shop* release *#3* to *production* is approved by ada &lt;admin&gt;, bob");
    const rejection = { by: "user:2", name: "bob", via: "slack" as const, at: "2026-01-01T10:04:00.000Z", reason: "breaks <checkout>" };
    const rejected = sent(slackMessage(ctxFixture("release.rejected", { release: releaseFixture({ status: "rejected", rejection }) })));
    expect(textOf(rejected.blocks[0])).toBe(":no_entry: *shop* release *#3* to *production* was rejected by bob: breaks &lt;checkout&gt;");
    const frozen = sent(
      slackMessage(
        ctxFixture("release.frozen", {
          release: releaseFixture({
            status: "frozen",
            frozenUntil: "2026-12-07T07:00:00.000Z",
            freeze: 'freeze "0 18 * * 5" (Europe/Berlin) for 62h',
          }),
        }),
      ),
    );
    expect(textOf(frozen.blocks[0])).toBe(
      ':snowflake: *shop* release *#3* to *production* is frozen until 2026-12-07T07:00:00.000Z (freeze "0 18 * * 5" (Europe/Berlin) for 62h); it deploys then',
    );
    for (const m of [approved, rejected, frozen]) expect(blockKitProblem(m.blocks)).toBeUndefined();
  });
});

describe("cutText", () => {
  it("keeps within the limit with the … and moves the cut off entities and surrogate pairs", () => {
    expect(cutText("abc", 3)).toBe("abc");
    expect(cutText("abcd", 3)).toBe("ab…");
    expect(cutText("a&amp;b", 4)).toBe("a…");
    expect(cutText("a&amp;b", 7)).toBe("a&amp;b");
    expect(cutText("a&amp;bc", 7)).toBe("a&amp;…");
    expect(cutText("a&amp;b", 4, "end")).toBe("…b");
    expect(cutText("xa&lt;b", 6, "end")).toBe("…&lt;b");
    expect(cutText("a😀b", 3)).toBe("a…");
    expect(cutText("a😀b", 3, "end")).toBe("…b");
  });
});
