import { afterAll, describe, expect, it } from "vitest";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { buildLogKey, followLog, type LogEntry, LogWriter, readLog, releaseLogKey } from "./stream.js";

describe("log streams", () => {
  const redis = testRedis();
  const prefix = uniquePrefix("logs");
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it("keys sit beside the records", () => {
    expect(buildLogKey("hoist", "bld_1")).toBe("hoist:rec:build:bld_1:log");
    expect(releaseLogKey("hoist", "rel_1")).toBe("hoist:rec:release:rel_1:log");
  });

  it("writes lines with step and time, splits multi-line text, redacts, keeps a tail and caps the stream", async () => {
    const key = buildLogKey(prefix, "bld_cap");
    const w = new LogWriter(redis, key, { maxLines: 100, tailLines: 3, redact: (l) => l.replace(/hunter2/g, "***") });
    w.write("clone", "one\ntwo\r\n\nthree password=hunter2");
    for (let i = 0; i < 250; i++) w.write("build web", `line ${i}`);
    await w.end("succeeded");
    const entries = await readLog(redis, key);
    expect(entries).toHaveLength(100);
    expect(entries.at(-1)).toMatchObject({ kind: "end", status: "succeeded" });
    expect(entries.at(-2)).toMatchObject({ kind: "line", step: "build web", line: "line 249" });
    expect(w.lastLines()).toEqual(["build web: line 247", "build web: line 248", "build web: line 249"]);
    const first = new LogWriter(redis, buildLogKey(prefix, "bld_small"), { redact: (l) => l.replace(/hunter2/g, "***") });
    first.write("clone", "one\ntwo\r\n\nthree password=hunter2");
    await first.flush();
    const small = await readLog(redis, buildLogKey(prefix, "bld_small"));
    expect(small.map((e) => (e.kind === "line" ? e.line : ""))).toEqual(["one", "two", "three password=***"]);
    expect(small[0]).toMatchObject({ step: "clone" });
    expect(Date.parse(small[0]?.time ?? "")).not.toBeNaN();
    // Paging from an id.
    expect(await readLog(redis, buildLogKey(prefix, "bld_small"), { afterId: small[0]?.id as string })).toHaveLength(2);
  });

  it("cuts long lines with a marker, stops at the byte cap with a last line saying so, and ends with its record's time to live", async () => {
    const key = buildLogKey(prefix, "bld_bytes");
    const record = `${prefix}:rec:build:bld_bytes`;
    await redis.set(record, "x", "PX", 60_000);
    const w = new LogWriter(redis, key, { lineMax: 10, maxBytes: 100, recordKey: record });
    w.write("s", "héllo wörld and more");
    for (let i = 0; i < 20; i++) w.write("s", `line ${i}`);
    await w.end("succeeded");
    const lines = (await readLog(redis, key)).flatMap((e) => (e.kind === "line" ? [e.line] : []));
    // Cut at 10 bytes of UTF-8 without splitting a character.
    expect(lines[0]).toBe("héllo wö [line cut: over 10 bytes]");
    expect(lines.at(-1)).toBe("[log truncated: over 100 bytes; later lines were dropped]");
    expect(lines.length).toBeLessThan(12);
    expect(await redis.pttl(key)).toBeGreaterThan(50_000);
    // A log created after its record was kept (a live release's) is kept too.
    await redis.persist(record);
    const kept = new LogWriter(redis, `${key}:2`, { recordKey: record });
    kept.write("s", "x");
    await kept.end("succeeded");
    expect(await redis.pttl(`${key}:2`)).toBe(-1);
  });

  it("follows live lines until the end marker", async () => {
    const key = buildLogKey(prefix, "bld_follow");
    const blocking = testRedis();
    const w = new LogWriter(redis, key, { batchMs: 5 });
    const seen: LogEntry[] = [];
    const following = (async () => {
      for await (const e of followLog(blocking, key, { blockMs: 200 })) seen.push(e);
    })();
    w.write("clone", "first");
    await w.flush();
    w.write("build web", "second");
    await w.end("failed");
    await following;
    blocking.disconnect();
    expect(seen.map((e) => (e.kind === "line" ? e.line : `end:${e.status}`))).toEqual(["first", "second", "end:failed"]);
  });

  it("stops following when the work is over without an end marker, or on abort", async () => {
    const key = buildLogKey(prefix, "bld_orphan");
    const blocking = testRedis();
    const w = new LogWriter(redis, key);
    w.write("clone", "only line");
    await w.flush();
    const seen: string[] = [];
    for await (const e of followLog(blocking, key, { blockMs: 100, isOver: async () => true })) seen.push(e.kind);
    expect(seen).toEqual(["line"]);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 150);
    const more: string[] = [];
    for await (const e of followLog(blocking, key, { blockMs: 100, signal: ctl.signal, afterId: "$" })) more.push(e.kind);
    expect(more).toEqual([]);
    blocking.disconnect();
  });
});
