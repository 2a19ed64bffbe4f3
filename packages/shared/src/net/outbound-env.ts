import { z } from "zod";
import { type OutboundPolicy, parseOutboundAllow } from "./outbound.js";

/**
 * HOIST_OUTBOUND_ALLOW, for services that call URLs users configure (api, notifier): addresses
 * and CIDR ranges that may be reached although they are loopback, private or link-local. Empty
 * by default; tests set 127.0.0.1.
 */
export const outboundEnvSchema = z.object({
  HOIST_OUTBOUND_ALLOW: z
    .string()
    .default("")
    .transform((text, ctx): OutboundPolicy => {
      try {
        return parseOutboundAllow(text);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `${(err as Error).message}; the list is comma-separated` });
        return z.NEVER;
      }
    }),
});
