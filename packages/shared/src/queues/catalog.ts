import type { z } from "zod";
import { buildQueue } from "./build.js";
import { deployQueue } from "./deploy.js";
import { notifyQueue } from "./notify.js";
import { previewsQueue } from "./previews.js";

/** Every queue Hoist has. Adding one here makes every handler map that serves it fail to compile until handled. */
export const catalog = {
  build: buildQueue,
  deploy: deployQueue,
  notify: notifyQueue,
  previews: previewsQueue,
} as const;

export type Catalog = typeof catalog;
export type QueueName = keyof Catalog;
export type PayloadOf<Q extends QueueName> = z.infer<Catalog[Q]["schema"]>;
export type KindOf<Q extends QueueName> = PayloadOf<Q>["kind"];
export const queueNames = Object.keys(catalog) as QueueName[];
