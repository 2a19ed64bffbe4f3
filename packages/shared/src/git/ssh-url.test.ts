import { describe, expect, it } from "vitest";
import { parseSshUrl, sshUrlOf } from "./ssh-url.js";

describe("parseSshUrl and sshUrlOf", () => {
  it("reads both forms GitLab shows and rebuilds them from their parts", () => {
    expect(parseSshUrl("git@gitlab.com:acme/web.git")).toEqual({
      user: "git",
      host: "gitlab.com",
      port: 22,
      path: "acme/web.git",
      scp: true,
    });
    const ssh = parseSshUrl("ssh://git@127.0.0.1:2222/acme/web.git");
    expect(ssh).toEqual({ user: "git", host: "127.0.0.1", port: 2222, path: "acme/web.git", scp: false });
    expect(sshUrlOf(ssh!)).toBe("ssh://git@127.0.0.1:2222/acme/web.git");
    expect(sshUrlOf(parseSshUrl("gitlab.example.com:/srv/git/app.git")!)).toBe("git@gitlab.example.com:/srv/git/app.git");
    expect(sshUrlOf(parseSshUrl("ssh://[::1]:2222/a/b.git")!)).toBe("ssh://git@[::1]:2222/a/b.git");
    expect(sshUrlOf(parseSshUrl("ssh://host:22/a.git")!)).toBe("ssh://git@host/a.git");
  });

  it("refuses everything git would read as another transport, an ssh option or a shell word", () => {
    for (const bad of [
      "https::http://127.0.0.1:9/repo",
      "ext::sh -c touch% /tmp/pwned",
      "ext::nc 127.0.0.1 9",
      "fd::3",
      "https://gitlab.com/acme/web.git",
      "file:///srv/repo.git",
      "ssh://-oProxyCommand=touch%20x/a.git",
      "-oProxyCommand=touch x:a.git",
      "git@-oProxyCommand=x:a.git",
      "-u@host:a.git",
      "ssh://git@host:0/a.git",
      "ssh://git@host:70000/a.git",
      "git@host:a b.git",
      "git@host:a.git;id",
      "git@host:$(id).git",
      "git@host:-upload-pack=x",
      "ssh://git@host/../etc/passwd",
      "ssh://git@host/a%20b.git",
      "git@host:",
      "not a url",
    ]) {
      expect(parseSshUrl(bad), bad).toBeUndefined();
    }
  });
});
