import type { NotifyEvent } from "@hoist/shared";
import { shortSha } from "./context.js";

/**
 * The hidden first line of the note Hoist keeps on a merge request about one app's preview (a
 * project may feed several apps, each with its own note): how a job that lost the note's id
 * finds it again instead of posting a second one.
 */
export function previewNoteMarker(app: string): string {
  return `<!-- hoist:preview:${app} -->`;
}

/** A commit of the MR on its way to the preview: where it is, what it is, its build. */
interface CommitFields {
  app: string;
  url?: string | undefined;
  sha: string;
  title?: string | undefined;
  buildNumber: number;
  reason?: string | undefined;
  /** The build's page in Hoist's dashboard. */
  buildUrl: string;
}

/** What the note says: the preview's latest rollout, a commit that did not build, or why there is no preview (refused, stopped). */
export type PreviewNoteState =
  | ({
      kind: "release";
      event: Extract<NotifyEvent, "release.deploying" | "release.live" | "release.failed" | "release.rolled_back">;
    } & CommitFields)
  /** The MR's newest commit did not build: the preview (if any) still shows the one before. */
  | ({ kind: "build-failed" } & CommitFields)
  | { kind: "refused"; app: string; reason: string }
  | { kind: "stopped"; app: string; reason: string; url?: string | undefined };

const releaseStatus = {
  "release.deploying": "🚀 deploying",
  "release.live": "✅ live",
  "release.failed": "❌ failed",
  "release.rolled_back": "↩️ failed and rolled back",
} as const;

/** Why a preview was stopped, as the `previews` queue's close reasons read to people (anything else as written). */
const stopReasons: Record<string, string> = {
  merged: "the merge request was merged",
  closed: "the merge request was closed",
  deleted: "it was deleted in Hoist",
  idle: "it was idle for longer than the app's previews.ttlHours",
  limit: "the app has reached previews.max and this was its least recently updated preview",
};

/** Markdown text from people (a commit title, a reason) on one line, without what would break out of its place. */
function inline(s: string, max = 200): string {
  const line = (s.split("\n")[0] ?? "").trim();
  const cut = line.length > max ? `${line.slice(0, max - 1)}…` : line;
  return cut.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`);
}

function commitTable(s: CommitFields, url: string, status: string): string {
  const commit = `\`${shortSha(s.sha)}\`${s.title ? ` ${inline(s.title)}` : ""}`;
  const lines = [
    `| | |`,
    `|---|---|`,
    `| **URL** | ${url} |`,
    `| **Status** | ${status} |`,
    `| **Commit** | ${commit} |`,
    `| **Build** | [#${s.buildNumber}](${s.buildUrl}) |`,
  ];
  return `${lines.join("\n")}\n\nEdited in place on every push to this merge request.`;
}

/** The note's Markdown, its marker first. */
export function previewNoteBody(s: PreviewNoteState): string {
  const head = `${previewNoteMarker(s.app)}\n### Hoist preview of \`${s.app}\``;
  switch (s.kind) {
    case "release":
      return `${head}\n\n${commitTable(s, s.url ? `<${s.url}>` : "(its target has no host name)", `${releaseStatus[s.event]}${s.reason && s.event !== "release.live" ? `: ${inline(s.reason)}` : ""}`)}`;
    case "build-failed":
      return `${head}\n\n${commitTable(s, s.url ? `<${s.url}> (still the last commit that built)` : "(none yet)", `❌ build failed${s.reason ? `: ${inline(s.reason)}` : ""}`)}`;
    case "refused":
      return `${head}\n\n⛔ No preview was built for this merge request: ${inline(s.reason, 500)}.`;
    case "stopped":
      return `${head}\n\n⏹️ The preview${s.url ? ` at <${s.url}>` : ""} was stopped: ${inline(stopReasons[s.reason] ?? s.reason, 500)}.`;
  }
}
