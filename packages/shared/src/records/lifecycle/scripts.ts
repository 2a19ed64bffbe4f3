import type { Redis } from "ioredis";
import { currentTraceContext } from "../../telemetry/tracing.js";
import type { RecordKeys } from "../keys.js";
import { BEGIN, GO_LIVE, MOVE } from "./lua.js";

/** The context every lifecycle script reads as ARGV[1] (see lua.ts): the clock, the active trace and the fencing token. */
export function scriptContext(keys: RecordKeys, token?: string): string {
  const trace = currentTraceContext();
  return JSON.stringify({
    appPrefix: keys.app(""),
    nowMs: String(Date.now()),
    ...(trace ? { trace } : {}),
    ...(token !== undefined ? { token } : {}),
  });
}

interface LifecycleScripts {
  move(keys: [record: string, outbox: string, lock: string], ctx: string, move: string): Promise<[number, string, string[]?, string[]?]>;
  begin(keys: [lock: string, release: string, index: string, outbox: string], ...argv: string[]): Promise<[number, string, string[]?]>;
  goLive(keys: [lock: string, release: string, live: string, outbox: string], ...argv: string[]): Promise<[number, string, string[]?]>;
}

const defined = new WeakSet<Redis>();

export function lifecycleScripts(redis: Redis): LifecycleScripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistLcMove", { numberOfKeys: 3, lua: MOVE });
    redis.defineCommand("hoistLcBegin", { numberOfKeys: 4, lua: BEGIN });
    redis.defineCommand("hoistLcGoLive", { numberOfKeys: 4, lua: GO_LIVE });
    defined.add(redis);
  }
  const r = redis as unknown as Record<string, (...args: string[]) => Promise<never>>;
  return {
    move: (keys, ctx, move) => r.hoistLcMove!(...keys, ctx, move),
    begin: (keys, ...argv) => r.hoistLcBegin!(...keys, ...argv),
    goLive: (keys, ...argv) => r.hoistLcGoLive!(...keys, ...argv),
  };
}
