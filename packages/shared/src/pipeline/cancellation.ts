import type { Redis } from "ioredis";
import { recordKeys } from "../records/keys.js";

/** Pub/sub channel on which the API announces canceled builds to every builder process. */
function cancelChannel(prefix: string): string {
  return recordKeys(prefix).buildCanceledChannel;
}

/** Call after the build record moved to `canceled`: running builders abort it within moments. */
export async function publishBuildCanceled(redis: Redis, prefix: string, buildId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), buildId);
}

/**
 * Subscribes `subscriber` (a dedicated connection: a subscribed ioredis client can do nothing
 * else) to cancel announcements. The record's status stays the source of truth; this only
 * makes a running build notice quickly.
 */
export async function onBuildCanceled(subscriber: Redis, prefix: string, handler: (buildId: string) => void): Promise<void> {
  const channel = cancelChannel(prefix);
  subscriber.on("message", (ch: string, message: string) => {
    if (ch === channel) handler(message);
  });
  await subscriber.subscribe(channel);
}
