import type { AddressInfo } from "node:net";
import { buildLogKey, createLogger, JobQueues, LocalSecretBox, LogWriter, parseEnv, Records } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envSchema } from "../../config.js";
import type { ApiDeps } from "../../deps.js";
import { AppCache } from "../../domain/app-cache.js";
import { errorHandler } from "../errors.js";
import { buildLogsRouter } from "./build-logs.js";

describe("GET /builds/:id/logs", () => {
  const prefix = uniquePrefix("logs-api");
  const redis = testRedis("producer");
  const records = new Records(redis, prefix);
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // A producer connection (no offline queue, as the API's) takes commands once it is ready.
    if (redis.status !== "ready") await new Promise((r) => redis.once("ready", r));
    const config = parseEnv(envSchema, { HOIST_API_TOKEN: "x".repeat(32), HOIST_QUEUE_PREFIX: prefix, REDIS_URL: process.env.REDIS_URL });
    const deps: ApiDeps = {
      config,
      log: createLogger({ service: "api-test", level: "silent" }),
      redis,
      records,
      queues: new JobQueues(redis, prefix),
      secrets: new LocalSecretBox(Buffer.alloc(32, 1)),
      apps: new AppCache(records),
    };
    const app = express();
    app.use("/v1", buildLogsRouter(deps));
    app.use(errorHandler(deps.log));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    close = () => new Promise((r) => server.close(() => r()));
  });
  afterAll(async () => {
    await close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  async function newBuild() {
    return records.builds.create({ app: "web-app", ref: "refs/heads/main", sha: "a".repeat(40), trigger: "manual" });
  }

  it("returns the lines as JSON, pages with ?after, 404s an unknown build and 400s a bad id", async () => {
    const build = await newBuild();
    const w = new LogWriter(redis, buildLogKey(prefix, build.id));
    w.write("clone", "fetching\nchecked out");
    await w.flush();
    const res = await fetch(`${base}/builds/${build.id}/logs`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; lines: { step: string; line: string; id: string; time: string }[]; next: string };
    expect(body.status).toBe("queued");
    expect(body.lines.map((l) => [l.step, l.line])).toEqual([
      ["clone", "fetching"],
      ["clone", "checked out"],
    ]);
    const page = (await (await fetch(`${base}/builds/${build.id}/logs?after=${body.lines[0]?.id}`)).json()) as { lines: unknown[] };
    expect(page.lines).toHaveLength(1);

    const missing = await fetch(`${base}/builds/bld_nope/logs`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: "not_found", message: "build bld_nope not found" } });
    expect((await fetch(`${base}/builds/bad%20id/logs`)).status).toBe(400);
    expect((await fetch(`${base}/builds/${build.id}/logs?after=x`)).status).toBe(400);
  });

  it("?follow=1 streams server-sent events as lines arrive and ends when the build ends", async () => {
    const build = await newBuild();
    await records.builds.transition(build.id, ["queued"], { status: "running" });
    const w = new LogWriter(redis, buildLogKey(prefix, build.id), { batchMs: 5 });
    w.write("clone", "before connect");
    await w.flush();
    const res = await fetch(`${base}/builds/${build.id}/logs?follow=1`);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    };
    await readUntil("before connect");
    w.write("build web", "live line");
    await w.flush();
    await readUntil("live line");
    await records.builds.transition(build.id, ["running"], { status: "succeeded" });
    await w.end("succeeded");
    await readUntil("event: end");
    const { done } = await reader.read();
    expect(done).toBe(true);
    const events = text
      .split("\n\n")
      .filter(Boolean)
      .map((block) => Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])));
    expect(events.map((e) => e.event)).toEqual(["line", "line", "end"]);
    expect(JSON.parse(events[1]?.data as string)).toMatchObject({ step: "build web", line: "live line" });
    expect(JSON.parse(events[2]?.data as string)).toEqual({ status: "succeeded" });
    expect(events[0]?.id).toMatch(/^\d+-\d+$/);
  });

  it("ends a follow at once for a build that ended without an end marker (canceled while queued)", async () => {
    const build = await newBuild();
    await records.builds.transition(build.id, ["queued"], { status: "canceled" });
    const res = await fetch(`${base}/builds/${build.id}/logs?follow=1`);
    const text = await res.text();
    expect(text).toBe('event: end\ndata: {"status":"canceled"}\n\n');
  });
});
