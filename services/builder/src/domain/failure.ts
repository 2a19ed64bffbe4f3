/**
 * A build failure with the one-line reason the build record shows. `permanent` failures
 * (bad Dockerfile, wrong key) are not retried; the others (registry or git host unreachable) are.
 */
export class BuildFailure extends Error {
  override name = "BuildFailure";
  constructor(
    readonly reason: string,
    readonly permanent: boolean,
  ) {
    super(reason);
  }
}

/** First line, trimmed and bounded: reasons are one line. */
export function oneLine(text: string, max = 300): string {
  const line =
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "") ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Classifies git/ssh stderr into a reason. */
export function gitFailure(stderr: string, host: string): BuildFailure {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed/i.test(stderr)) {
    return new BuildFailure(`clone: host key changed for ${host}`, true);
  }
  if (/Permission denied \(publickey/i.test(stderr)) return new BuildFailure("clone: permission denied (publickey)", true);
  if (
    /Connection refused|Connection timed out|Could not resolve hostname|Network is unreachable|Connection reset|Connection closed by remote host/i.test(
      stderr,
    )
  ) {
    const what = oneLine(stderr.split(/\r?\n/).find((l) => /ssh:|Connection|resolve/i.test(l)) ?? stderr);
    return new BuildFailure(`clone: cannot reach ${host}: ${what.replace(/^ssh:\s*/, "")}`, false);
  }
  if (/does not appear to be a git repository|Repository not found|not a git repository/i.test(stderr)) {
    return new BuildFailure(`clone: repository not found on ${host}`, true);
  }
  const last = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !/^(warning|hint):/i.test(l))
    .pop();
  return new BuildFailure(`clone: ${oneLine(last ?? "git failed")}`, false);
}

/**
 * Names a failed build step by its Dockerfile line: `Dockerfile:3 RUN exit code 2`. `step` is
 * what the build printed last ("STEP 3/4: RUN ..."), resolved to a line by the caller.
 */
export function dockerBuildReason(service: string, error: string, at?: { file: string; line: number; keyword: string }): string {
  const code = /exit (?:status|code):? ?(\d+)/i.exec(error)?.[1];
  if (at && code !== undefined) return `build ${service}: ${at.file}:${at.line} ${at.keyword} exit code ${code}`;
  // A registry's refusal comes as "…: errors:" and one line per error ("denied: …"): those lines are the reason.
  const folded = error.replace(
    /\berrors:\s*\r?\n([\s\S]*)$/,
    (_, list: string) =>
      `errors: ${list
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean)
        .join("; ")}`,
  );
  const msg = oneLine(folded.replace(/^building at STEP "[^"]*":\s*/, ""));
  if (at) return `build ${service}: ${at.file}:${at.line} ${at.keyword}: ${msg}`;
  return `build ${service}: ${msg}`;
}

/**
 * A step that failed because it met one of the build's limits says which, instead of the
 * engine's bare exit status: a step killed outright (podman: "container exited on killed",
 * Docker: code 137) ran out of memory; one whose forks failed met the process limit.
 */
export function limitReason(reason: string, error: string, stepOutput: string[], limits: { memoryMb: number; pids: number }): string {
  if (stepOutput.some((l) => /container exited on killed/.test(l)) || /\b(?:code|status):? ?137\b/.test(error)) {
    return `${reason.replace(/ exit code \d+$/, "")}: out of memory (the build's limit is ${limits.memoryMb} MB)`;
  }
  if (stepOutput.some((l) => /can't fork|fork: (?:retry|Resource temporarily unavailable)|Cannot fork/i.test(l))) {
    return `${reason}: out of processes (the build's limit is ${limits.pids})`;
  }
  return reason;
}
