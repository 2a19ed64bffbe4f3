import { describe, expect, it } from "vitest";
import { dockerBuildReason, gitFailure, oneLine } from "./failure.js";

describe("failure reasons", () => {
  it("classifies ssh and git errors", () => {
    expect(gitFailure("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.", "h")).toMatchObject({
      reason: "clone: permission denied (publickey)",
      permanent: true,
    });
    expect(
      gitFailure("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.", "gitlab.com"),
    ).toMatchObject({
      reason: "clone: host key changed for gitlab.com",
      permanent: true,
    });
    expect(gitFailure("ssh: connect to host h port 22: Connection refused\nfatal: Could not read", "h")).toMatchObject({
      reason: "clone: cannot reach h: connect to host h port 22: Connection refused",
      permanent: false,
    });
  });
  it("names a failing Dockerfile step", () => {
    const err = 'building at STEP "RUN make": while running runtime: exit status 2\n';
    expect(dockerBuildReason("web", err, { file: "Dockerfile", line: 3, keyword: "RUN" })).toBe("build web: Dockerfile:3 RUN exit code 2");
    expect(dockerBuildReason("web", 'building at STEP "COPY x /x": checking on sources: no such file')).toBe(
      "build web: checking on sources: no such file",
    );
  });
  it("keeps a registry's refusal, listed under errors:, in the reason", () => {
    const err =
      "creating build container: initializing source docker://r:5000/a:web.1: reading manifest web.1 in r:5000/a: errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n";
    expect(dockerBuildReason("web", err, { file: "Dockerfile", line: 1, keyword: "FROM" })).toBe(
      "build web: Dockerfile:1 FROM: creating build container: initializing source docker://r:5000/a:web.1: reading manifest web.1 in r:5000/a: errors: denied: requested access to the resource is denied; unauthorized: authentication required",
    );
  });
  it("keeps reasons to one bounded line", () => {
    expect(oneLine("\n  first\nsecond")).toBe("first");
    expect(oneLine("x".repeat(400))).toHaveLength(300);
  });
});
