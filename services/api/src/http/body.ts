import type { Request } from "express";
import { HttpError } from "./errors.js";

/**
 * Reads the raw body, refusing it with 413 as soon as it is known to exceed `limit` (by
 * Content-Length before reading a byte, or while streaming) and before anything parses it.
 */
export async function readRawBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      // Stop reading; the 413 goes out and the connection is closed rather than drained.
      req.pause();
      throw tooLarge(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "too_large", `request body exceeds ${limit} bytes (HOIST_WEBHOOK_MAX_BYTES)`);
}
