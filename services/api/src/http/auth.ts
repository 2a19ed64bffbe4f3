import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { HttpError } from "./errors.js";

/** Compares in constant time: both sides are hashed first, so length differences leak nothing either. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** `Authorization: Bearer <HOIST_API_TOKEN>` on every /v1 route. */
export function requireApiToken(token: string): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer (.+)$/.exec(header);
    if (!match?.[1] || !safeEqual(match[1], token)) {
      next(new HttpError(401, "unauthorized", "missing or wrong API token: send Authorization: Bearer <HOIST_API_TOKEN>"));
      return;
    }
    next();
  };
}
