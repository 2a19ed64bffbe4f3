import type { Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, type OutboundFetch } from "@hoist/shared";
import { z } from "zod";
import { gitlabCall, gitlabClient } from "./gitlab-call.js";

const noteAnswer = z.object({ id: z.number(), body: z.string() }).loose();
const environmentAnswer = z.object({ id: z.number(), name: z.string(), state: z.string() }).loose();
/** How far back a lost note is looked for: GitLab's largest pages, newest first. */
const NOTE_PAGES = 10;

/**
 * A merge request's notes (https://docs.gitlab.com/api/notes/#merge-requests) and its review
 * environment's stop (https://docs.gitlab.com/api/environments/#stop-an-environment), through
 * @gitbeaker/rest and the notifier's outbound fetch.
 */
export class GitlabMergeRequests {
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(host: string, token: string, fetch: OutboundFetch) {
    this.api = gitlabClient(host, token, fetch);
  }

  /** The id of the newest note whose body starts with `marker`, if any. */
  async findNote(projectId: number, iid: number, marker: string): Promise<number | undefined> {
    const notes = await gitlabCall("merge request notes", async () =>
      z
        .array(noteAnswer)
        .parse(
          await this.api.MergeRequestNotes.all(projectId, iid, { sort: "desc", orderBy: "created_at", perPage: 100, maxPages: NOTE_PAGES }),
        ),
    );
    return notes.find((n) => n.body.startsWith(marker))?.id;
  }

  async createNote(projectId: number, iid: number, body: string): Promise<number> {
    return gitlabCall(
      "create merge request note",
      async () => noteAnswer.parse(await this.api.MergeRequestNotes.create(projectId, iid, body)).id,
    );
  }

  /** Edits the note; "gone" when GitLab has no such note any more (a person deleted it). */
  async editNote(projectId: number, iid: number, noteId: number, body: string): Promise<"edited" | "gone"> {
    return gitlabCall("edit merge request note", async () => {
      try {
        noteAnswer.parse(await this.api.MergeRequestNotes.edit(projectId, iid, noteId, { body }));
        return "edited" as const;
      } catch (err) {
        if (err instanceof GitlabAnswerError && err.status === 404 && err.answerMatches((t) => /Note Not Found/i.test(t)))
          return "gone" as const;
        throw err;
      }
    });
  }

  /** Stops the environment named (found by name); "absent" when the project has none, "already" when it is stopped. */
  async stopEnvironment(projectId: number, name: string): Promise<"stopped" | "already" | "absent"> {
    const found = await gitlabCall("environments", async () =>
      z.array(environmentAnswer).parse(await this.api.Environments.all(projectId, { name })),
    );
    const env = found.find((e) => e.name === name);
    if (!env) return "absent";
    if (env.state === "stopped") return "already";
    await gitlabCall("stop environment", () => this.api.Environments.stop(projectId, env.id));
    return "stopped";
  }
}
