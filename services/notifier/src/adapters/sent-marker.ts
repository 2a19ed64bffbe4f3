import { type Redis, recordKeys } from "@hoist/shared";

/** A week: longer than any job's retry window, so a retry always finds its marker. */
const MARKER_TTL_S = 7 * 24 * 3600;

type Claim = "claimed" | "sent" | "in-doubt";

/**
 * Remembers, per event and destination, that a message went out, so retries do not post it
 * twice to a destination that cannot dedupe (Slack).
 *
 * A claim (`sending`) is taken with SET NX before the send and turned into `sent` after it. A
 * send that fails while we are alive releases the claim, so the retry sends (after a timeout
 * Slack may have posted anyway: we wait 10 s for an answer Slack gives in about one). A process that
 * dies between the claim and `sent` leaves `sending`: the message may or may not have reached
 * Slack, and we cannot ask. We then choose at-most-once (the retry does not send) over a
 * possible duplicate; the retry reports it, and the window is one HTTP round trip.
 */
export class SentMarkers {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(destination: string, event: string, subjectId: string): string {
    return recordKeys(this.prefix).notifySent(destination, event, subjectId);
  }

  async claim(key: string): Promise<Claim> {
    const ok = await this.redis.set(key, "sending", "EX", MARKER_TTL_S, "NX");
    if (ok === "OK") return "claimed";
    return (await this.redis.get(key)) === "sent" ? "sent" : "in-doubt";
  }

  async confirm(key: string): Promise<void> {
    await this.redis.set(key, "sent", "EX", MARKER_TTL_S);
  }

  async release(key: string): Promise<void> {
    await this.redis.del(key);
  }
}
