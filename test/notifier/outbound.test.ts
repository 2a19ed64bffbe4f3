import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Canary, canary } from "../support/net.js";
import { NotifierWorld } from "./setup.js";

/**
 * HOIST_OUTBOUND_ALLOW=127.0.0.1 (the test policy): every destination at 127.0.0.2 is refused
 * before a connection is made, as a loopback address not on the list. The canary listens there
 * and answers 200, so a refusal that failed to happen would show as a connection and a success.
 */
let w: NotifierWorld;
let trap: Canary;
let redirector: Server;
let redirectUrl: string;
beforeEach(async () => {
  w = await new NotifierWorld().start();
  trap = await canary("127.0.0.2");
  // An allowed server (127.0.0.1) that sends every request on to the canary.
  redirector = createServer((_req, res) => res.writeHead(302, { location: `${trap.url}/elsewhere` }).end()).listen(0, "127.0.0.1");
  await once(redirector, "listening");
  redirectUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await w.close();
  await trap.close();
  redirector.closeAllConnections();
  await new Promise((r) => redirector.close(r));
});

const refused = (host: string) => `refused: ${host} is a loopback address; add it to HOIST_OUTBOUND_ALLOW if intended`;
const once1 = { attempts: 8, backoff: { type: "fixed", delay: 50 } };

describe("destinations at addresses HOIST_OUTBOUND_ALLOW does not list", () => {
  it("a Slack webhook URL at 127.0.0.2: the job fails for good with the reason, on its first attempt, and nothing connects", async () => {
    const app = await w.app({ slack: `${trap.url}/services/T1/B1/secret-part` });
    const build = await w.build(app.name, { status: "failed", reason: "docker build exited 1" });
    const { error, job } = await w.run({ kind: "slack", event: "build.failed", buildId: build.id }, once1);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(`Slack webhook ${refused("127.0.0.2")}`);
    expect(error?.message).not.toContain("secret-part");
    expect(job.attemptsMade).toBe(1);
    expect(await job.getState()).toBe("failed");
    expect(trap.connections()).toBe(0);
  });

  it("an outgoing webhook URL at 127.0.0.2: failed for good, nothing connects", async () => {
    const app = await w.app({ slack: false, webhook: true });
    await w.records.apps.update(app.name, { outgoingWebhook: { ...app.outgoingWebhook!, url: `${trap.url}/hook` } });
    const build = await w.build(app.name);
    const { error, job } = await w.run({ kind: "webhook", event: "build.pending", buildId: build.id }, once1);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(`webhook ${refused("127.0.0.2")}`);
    expect(job.attemptsMade).toBe(1);
    expect(trap.connections()).toBe(0);
    expect(w.consumer.requests).toHaveLength(0);
  });

  it("a GitLab connection at 127.0.0.2: the commit status job fails for good, nothing connects", async () => {
    const app = await w.app({ slack: false });
    await w.records.gitlabConnections.patch(app.gitlab!.connectionId, { url: trap.url });
    const build = await w.build(app.name);
    const { error, job } = await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id }, once1);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(`GitLab ${refused("127.0.0.2")}`);
    expect(job.attemptsMade).toBe(1);
    expect(trap.connections()).toBe(0);
  });
});

describe("redirects from an allowed destination are not followed", () => {
  it("an outgoing webhook answering 302 to 127.0.0.2: failed for good, the canary never hears of it", async () => {
    const app = await w.app({ slack: false, webhook: true });
    await w.records.apps.update(app.name, { outgoingWebhook: { ...app.outgoingWebhook!, url: `${redirectUrl}/hook` } });
    const build = await w.build(app.name);
    const { error, job } = await w.run({ kind: "webhook", event: "build.pending", buildId: build.id }, once1);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(`webhook ${new URL(redirectUrl).host} answered 302 (a redirect): point it at the final URL`);
    expect(job.attemptsMade).toBe(1);
    expect(trap.connections()).toBe(0);
  });

  it("GitLab answering 302: failed for good, naming the status and the Location's host only", async () => {
    const app = await w.app({ slack: false });
    await w.records.gitlabConnections.patch(app.gitlab!.connectionId, { url: redirectUrl });
    const build = await w.build(app.name);
    const { error, job } = await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id }, once1);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(
      `GitLab (hoist/build pending) answered 302, a redirect to ${trap.host}:${trap.port}, which is not followed: use the GitLab instance's final URL`,
    );
    expect(error?.message).not.toContain("/elsewhere");
    expect(job.attemptsMade).toBe(1);
    expect(trap.connections()).toBe(0);
  });
});
