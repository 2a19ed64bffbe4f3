import { AuditLog, outboundFetchFor } from "@hoist/shared";
import type { ApiDeps } from "../deps.js";
import { Access } from "./access.js";
import { FailureLimit } from "./failure-limit.js";
import type { AuthServices } from "./guard.js";
import { TokenStore } from "./token-store.js";

/** The people-and-access services of one API process. */
export function authServices(deps: ApiDeps): AuthServices {
  const prefix = deps.config.HOIST_QUEUE_PREFIX;
  return {
    bootstrapToken: deps.config.HOIST_API_TOKEN,
    tokens: new TokenStore(deps.redis, prefix),
    access: new Access({
      redis: deps.redis,
      prefix,
      records: deps.records,
      secrets: deps.secrets,
      fetch: outboundFetchFor(deps.config.HOIST_OUTBOUND_ALLOW),
      now: deps.now ?? Date.now,
    }),
    audit: new AuditLog(deps.redis, prefix, deps.config.HOIST_AUDIT_RETENTION_DAYS),
    limit: new FailureLimit(deps.redis, prefix),
    records: deps.records,
    log: deps.log,
  };
}
