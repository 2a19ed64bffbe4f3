import { UsageError } from "../errors.js";
import { table } from "../output.js";
import type { CommandContext } from "./context.js";

interface Entry {
  at: string;
  actor: string;
  via: string;
  action: string;
  app?: string;
  target?: string;
}

/** `hoist audit [--app] [--actor] [--since] [--jsonl]`: every matching entry, all pages. */
export async function auditCommand({ args, opts, out, client }: CommandContext): Promise<void> {
  if (args.length > 0) throw new UsageError("hoist audit [--app <app>] [--actor <name>] [--since <ISO time>] [--jsonl]");
  const q = new URLSearchParams();
  if (opts.app) q.set("app", opts.app);
  if (opts.actor) q.set("actor", opts.actor);
  if (opts.since) q.set("since", opts.since);
  const entries: Entry[] = [];
  let next: string | undefined;
  do {
    const page = new URLSearchParams(q);
    if (next) page.set("cursor", next);
    const res = await client().get<{ entries: Entry[]; next?: string }>(`/v1/audit?${page.toString()}`);
    entries.push(...res.entries);
    next = res.next;
  } while (next);
  if (opts.jsonl) {
    out.print(entries.map((e) => JSON.stringify(e)).join("\n"));
    return;
  }
  out.data({ entries }, () =>
    table(
      entries.map((e) => ({ ...e, app: e.app ?? "", target: e.target ?? "" })),
      ["at", "actor", "via", "action", "app", "target"],
    ),
  );
}
