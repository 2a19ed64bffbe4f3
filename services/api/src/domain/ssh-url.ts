/** Where a git repository lives over SSH, from either URL form GitLab shows. */
interface SshLocation {
  user: string;
  host: string;
  port: number;
  path: string;
}

const SCP_FORM = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(?!\/\/)([^\s]+)$/;

/** Parses `git@host:group/app.git` or `ssh://user@host:port/group/app.git`; undefined if neither. */
export function parseSshUrl(url: string): SshLocation | undefined {
  if (url.startsWith("ssh://")) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const path = decodeURIComponent(u.pathname.replace(/^\//, ""));
    if (!u.hostname || !path || /\s/.test(path)) return undefined;
    return {
      user: decodeURIComponent(u.username) || "git",
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port ? Number(u.port) : 22,
      path,
    };
  }
  const m = SCP_FORM.exec(url);
  if (!m?.[2] || !m[3]) return undefined;
  return { user: m[1] ?? "git", host: m[2].replace(/^\[|\]$/g, ""), port: 22, path: m[3] };
}
