import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { userRoutes } from "../support/gitlab/users.js";
import { type Canary, canary } from "../support/net.js";

const GITLAB_TOKEN = "glpat-outbound-0123456789abcdef";
const refused = (host: string) => `refused: ${host} is a loopback address; add it to HOIST_OUTBOUND_ALLOW if intended`;

/**
 * The API with HOIST_OUTBOUND_ALLOW=127.0.0.1 (the harness): GitLab, Slack and webhook URLs at
 * 127.0.0.2 are refused with the reason; the canary there counts any connection that got through.
 */
describe("the API refuses destinations at addresses HOIST_OUTBOUND_ALLOW does not list", () => {
  let h: ApiHarness;
  let gl: GitlabTestServer;
  let trap: Canary;
  let redirector: Server;
  let redirectUrl: string;

  beforeAll(async () => {
    h = await startApi();
    gl = await startGitlabServer([userRoutes]);
    gl.state.addUser("hoist-bot", GITLAB_TOKEN);
    trap = await canary("127.0.0.2");
    redirector = createServer((_req, res) => res.writeHead(301, { location: `${trap.url}/api/v4/user` }).end()).listen(0, "127.0.0.1");
    await once(redirector, "listening");
    redirectUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await h?.close();
    await gl?.close();
    await trap?.close();
    redirector?.closeAllConnections();
    await new Promise((r) => redirector?.close(r));
  });

  it("a GitLab connection at 127.0.0.2: 422 with the reason, nothing stored, nothing connects", async () => {
    const res = await h.api("POST", "/gitlab/connections", { url: trap.url, token: GITLAB_TOKEN });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({ code: "outbound_refused", message: `GitLab URL: ${refused("127.0.0.2")}` });
    expect((await h.api("GET", "/gitlab/connections")).body.connections).toEqual([]);
    expect(trap.connections()).toBe(0);
  });

  it("a GitLab URL that redirects: 400 naming the status and the Location's host, not followed", async () => {
    const res = await h.api("POST", "/gitlab/connections", { url: redirectUrl, token: GITLAB_TOKEN });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: "gitlab_rejected",
      message: `GitLab current user failed: GitLab answered 301, a redirect to ${trap.host}:${trap.port}, which is not followed: use the GitLab instance's final URL`,
    });
    expect(trap.connections()).toBe(0);
    // The allowed GitLab itself is reached as before.
    expect((await h.api("POST", "/gitlab/connections", { url: gl.url, token: GITLAB_TOKEN })).status).toBe(201);
  });

  it("a Slack or outgoing webhook URL at 127.0.0.2: 422 naming the field, on create and on update; the Slack URL is not echoed", async () => {
    const slack = await h.api("POST", "/apps", {
      name: "slacky",
      repo: { sshUrl: "git@gitlab.example.test:acme/web.git" },
      slackWebhookUrl: `${trap.url}/services/T1/B1/secret-part`,
    });
    expect(slack.status).toBe(422);
    expect(slack.body.error).toEqual({ code: "outbound_refused", message: `slackWebhookUrl: ${refused("127.0.0.2")}` });
    expect(JSON.stringify(slack.body)).not.toContain("secret-part");
    expect((await h.api("GET", "/apps/slacky")).status).toBe(404);

    expect((await h.api("POST", "/apps", { name: "hooky", repo: { sshUrl: "git@gitlab.example.test:acme/web.git" } })).status).toBe(201);
    const hook = await h.api("PATCH", "/apps/hooky", { outgoingWebhook: { url: `http://[::ffff:127.0.0.2]:${trap.port}/hook` } });
    expect(hook.status).toBe(422);
    expect(hook.body.error).toEqual({ code: "outbound_refused", message: `outgoingWebhook.url: ${refused("127.0.0.2")}` });
    expect((await h.api("GET", "/apps/hooky")).body.app.outgoingWebhook).toEqual({ configured: false });
    // An allowed address is accepted.
    expect((await h.api("PATCH", "/apps/hooky", { outgoingWebhook: { url: `http://127.0.0.1:${trap.port}/hook` } })).status).toBe(200);
    expect(trap.connections()).toBe(0);
  });
});
