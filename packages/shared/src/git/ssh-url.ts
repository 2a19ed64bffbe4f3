/** Where a git repository lives over SSH, from either URL form GitLab shows. */
interface SshLocation {
  user: string;
  host: string;
  port: number;
  path: string;
  /** Written `user@host:path` (the path relative to the login's home) rather than `ssh://`. */
  scp: boolean;
}

// Each part is spelled out so that nothing git or ssh would read as something else gets through:
// no `transport::address` (https::, ext::), no host or user starting with `-` (an ssh option),
// no spaces, quotes or shell characters, no percent-escapes.
const USER = "[A-Za-z0-9_][A-Za-z0-9._-]{0,63}";
const HOST = "[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]{2,45}\\]";
const PATH = "[A-Za-z0-9_~][A-Za-z0-9._~+@/-]{0,1023}";
const SSH_FORM = new RegExp(`^ssh://(?:(${USER})@)?(${HOST})(?::(\\d{1,5}))?/(${PATH})$`);
const SCP_FORM = new RegExp(`^(?:(${USER})@)?(${HOST}):(/?${PATH})$`);

/**
 * Parses `git@host:group/app.git` or `ssh://user@host:port/group/app.git`; undefined for
 * anything else, including `https::http://...`, `ext::...` and hosts like `-oProxyCommand=...`.
 */
export function parseSshUrl(url: string): SshLocation | undefined {
  const ssh = SSH_FORM.exec(url);
  const m = ssh ?? SCP_FORM.exec(url);
  if (!m) return undefined;
  const host = (m[2] as string).replace(/^\[|\]$/g, "");
  const port = ssh && m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) return undefined;
  const path = ssh ? (m[4] as string) : (m[3] as string);
  if (path.split("/").includes("..")) return undefined;
  return { user: m[1] ?? "git", host, port, path, scp: !ssh };
}

/** The URL git is given: rebuilt from the parsed parts, never the text as it came in. */
export function sshUrlOf(loc: SshLocation): string {
  const host = loc.host.includes(":") ? `[${loc.host}]` : loc.host;
  if (loc.scp) return `${loc.user}@${host}:${loc.path}`;
  return `ssh://${loc.user}@${host}${loc.port === 22 ? "" : `:${loc.port}`}/${loc.path}`;
}
