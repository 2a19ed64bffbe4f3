import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { demuxDockerLogs, lastLines, waitForHttp2xx } from "./health.js";

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

describe("container logs", () => {
  it("demuxes Docker's multiplexed stream and keeps the last lines", () => {
    const buf = Buffer.concat([frame(1, "one\n"), frame(2, "two\n"), frame(1, "three\n")]);
    expect(demuxDockerLogs(buf)).toBe("one\ntwo\nthree\n");
    expect(lastLines(demuxDockerLogs(buf), 2)).toEqual(["two", "three"]);
    expect(demuxDockerLogs(Buffer.from("plain tty output\n"))).toBe("plain tty output\n");
  });
});

describe("waitForHttp2xx", () => {
  it("waits for a 2xx, and reports the last status on timeout", async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.statusCode = calls < 3 ? 503 : 200;
      res.end();
    }).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    expect(await waitForHttp2xx(url, 5_000, { intervalMs: 10 })).toMatchObject({ ok: true });
    expect(calls).toBe(3);
    calls = -1_000;
    expect(await waitForHttp2xx(url, 200, { intervalMs: 20 })).toEqual({ ok: false, why: "answered 503 after 0 s" });
    server.close();
  });

  it("stops waiting when the process is gone", async () => {
    const started = Date.now();
    const r = await waitForHttp2xx("http://127.0.0.1:9/", 10_000, { intervalMs: 10, stillRunning: async () => false });
    expect(r.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
