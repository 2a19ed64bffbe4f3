import type { IncomingMessage } from "node:http";
import { HttpError } from "./errors.js";

/**
 * Reads the raw body, refusing it with 413 as soon as it is known to exceed `limit` (by
 * Content-Length before reading a byte, or while streaming) and before anything parses it.
 */
export async function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  if (req.readableEnded) return Buffer.alloc(0);
  // Plain stream events: an async iterator per request costs measurably on the webhook hot path.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the 413 goes out and the connection is closed rather than drained.
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new HttpError(400, "aborted", "the request body ended before Content-Length bytes arrived"));
    };
    function cleanup() {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "too_large", `request body exceeds ${limit} bytes (HOIST_WEBHOOK_MAX_BYTES)`);
}
