import { outboundFetchFor, parseOutboundAllow } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezePeriodRoutes } from "../../../../test/support/gitlab/freeze-periods.js";
import { type GitlabTestServer, startGitlabServer } from "../../../../test/support/gitlab/server.js";
import type { GitlabProject } from "../../../../test/support/gitlab/state.js";
import { PermanentDeployError } from "../domain/target.js";
import { gitlabFreezePeriods } from "./gitlab-freezes.js";

const fetch = outboundFetchFor(parseOutboundAllow("127.0.0.1"));

describe("gitlabFreezePeriods through @gitbeaker/rest and the GitLab test server", () => {
  let gl: GitlabTestServer;
  let project: GitlabProject;
  beforeAll(async () => {
    gl = await startGitlabServer([freezePeriodRoutes]);
    const bot = gl.state.addUser("bot", "tok");
    project = gl.state.addProject({ path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "x" }, gl.url);
    gl.state.addMember(project, bot, "developer");
    for (let i = 0; i < 130; i++)
      gl.state.addFreezePeriod(project, { freeze_start: `${i % 60} 23 * * 5`, freeze_end: "0 7 * * 1", cron_timezone: "Europe/Berlin" });
  });
  afterAll(() => gl.close());

  it("reads every page (100 a page)", async () => {
    const periods = await gitlabFreezePeriods({ url: gl.url, token: "tok" }, project.id, fetch);
    expect(periods).toHaveLength(130);
    expect(periods[0]).toEqual({ freeze_start: "0 23 * * 5", freeze_end: "0 7 * * 1", cron_timezone: "Europe/Berlin" });
    const pages = gl.state.requests.filter((r) => r.path === `/projects/${project.id}/freeze_periods`);
    expect(pages).toHaveLength(2);
  });

  it("is permanent for a refused token or an unknown project, and says what to do", async () => {
    const bad = gitlabFreezePeriods({ url: gl.url, token: "wrong" }, project.id, fetch);
    await expect(bad).rejects.toBeInstanceOf(PermanentDeployError);
    await expect(bad).rejects.toThrow(/401.*token is refused.*link the app again/);
    await expect(gitlabFreezePeriods({ url: gl.url, token: "tok" }, 999, fetch)).rejects.toThrow(
      /project 999: GitLab answered 404.*not found/,
    );
  });

  it("leaves a GitLab that fails (5xx) to the job's retries", async () => {
    gl.state.failNext(/GET \/projects\/\d+\/freeze_periods/, 502, { message: "502 Bad Gateway" });
    const err = await gitlabFreezePeriods({ url: gl.url, token: "tok" }, project.id, fetch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentDeployError);
  });
});
