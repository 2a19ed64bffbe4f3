import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REGISTRY_ADMIN_USER } from "@hoist/shared";
import type Docker from "dockerode";
import { pack } from "tar-fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld, registryTags } from "../../../../test/support/builder/world.js";
import { busyboxImage, dockerFromEnv, ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { testRegistryAuth } from "../../../../test/support/registry/auth.js";
import { imageTriggers } from "../adapters/image-triggers.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";

async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err, out) => {
      const failed = (out as { error?: string }[] | undefined)?.find((o) => o.error);
      if (err || failed) reject(err ?? new Error(failed?.error));
      else resolve();
    }),
  );
}

/**
 * A base image's ONBUILD triggers run in the build of every image made FROM it, through the
 * engine every app shares: a trigger that copies from another app's image would read that image
 * as the app's own Dockerfile may not. The builder reads the triggers of every FROM image
 * (pulling it with the app's token when the engine lacks it) and checks them before building.
 */
describe("ONBUILD triggers of the images a build starts FROM", () => {
  const docker = dockerFromEnv();
  let world: BuilderWorld;
  let builder: TestBuilder;
  let victim: { app: string; image: string };
  let hostileBase: string;
  let harmlessBase: string;
  const forget = (tag: string) =>
    docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined);

  /** Builds `dockerfile` as the operator would (busybox context), pushes it into base/* as the registry's admin, and drops the engine's copy. */
  async function baseImage(name: string, dockerfile: string): Promise<string> {
    const tag = `${world.registry}/base/${name}-${world.prefix.slice(-8)}:1`;
    const dir = mkdtempSync(join(tmpdir(), "hoist-onbuild-"));
    try {
      writeFileSync(join(dir, "Dockerfile"), dockerfile);
      await follow(docker, await docker.buildImage(pack(dir), { t: tag }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await follow(
      docker,
      await docker.getImage(tag).push({ authconfig: testRegistryAuth(REGISTRY_ADMIN_USER), tlsVerify: false } as object),
    );
    await forget(tag);
    return tag;
  }

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("onbuild");
    builder = await startTestBuilder(world);
    // Another app of this Hoist, built: its image is in the registry and in the engine's store.
    const v = await world.createAppAndBuild({
      sha: world.repo.commit({ Dockerfile: `FROM ${busyboxImage}\nRUN echo victim-secret > /secret.txt\n` }, "victim"),
    });
    expect((await builder.run(v.buildId)).error).toBeUndefined();
    victim = { app: v.app, image: `${world.registry}/${v.app}:web.1` };
    hostileBase = await baseImage("hostile", `FROM ${busyboxImage}\nONBUILD COPY --from=${victim.image} /secret.txt /stolen.txt\n`);
    harmlessBase = await baseImage("harmless", `FROM ${busyboxImage}\nONBUILD RUN echo onbuild-ran > /onbuild.txt\n`);
  }, 180_000);

  afterAll(async () => {
    await builder?.close();
    await world?.close();
    for (const tag of [hostileBase, harmlessBase]) if (tag) await forget(tag);
  });

  const costs: number[] = [];
  const costOf = async (buildId: string) => {
    const line = (await builder.logLines(buildId)).find((l) => l.startsWith("sources: checked the ONBUILD triggers"));
    const ms = Number(/in (\d+) ms/.exec(line ?? "")?.[1]);
    if (Number.isFinite(ms)) costs.push(ms);
    return line;
  };

  it("refuses a base image whose ONBUILD COPY --from names another app's image, pulled or already in the engine, before anything is built", async () => {
    const sha = world.repo.commit({ Dockerfile: `FROM ${hostileBase}\nRUN cat /stolen.txt\n` }, "FROM a hostile base");
    const reason = new RegExp(
      `^build web: Dockerfile:1 FROM ${hostileBase.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the image's ONBUILD trigger \`COPY --from=${victim.image.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} /secret.txt /stolen.txt\` runs in this build: COPY --from=\\S+: another app's image; a build may use its own repository \\(app-[0-9a-f]+\\) and base images \\(base/\\*\\) from this registry$`,
    );
    // First the engine lacks the base image: it is pulled with the app's own token (base/* is granted).
    const first = await world.createAppAndBuild({ sha });
    expect((await builder.run(first.buildId)).error?.message).toMatch(reason);
    expect(await world.records.builds.require(first.buildId)).toMatchObject({ status: "failed", reason: expect.stringMatching(reason) });
    const lines = await builder.logLines(first.buildId);
    expect(lines).toContain(`build web: pulling ${hostileBase} to read its ONBUILD triggers`);
    // Refused before any step ran, so nothing was built or pushed.
    expect(lines.some((l) => /STEP \d/.test(l))).toBe(false);
    expect(await registryTags(world.registry, first.app)).toEqual([]);

    // Now the engine holds it (the check pulled it): read from the store, refused the same.
    await docker.getImage(hostileBase).inspect();
    const again = await world.createAppAndBuild({ sha });
    expect((await builder.run(again.buildId)).error?.message).toMatch(reason);
    expect(await registryTags(world.registry, again.app)).toEqual([]);
  }, 120_000);

  it("allows a harmless ONBUILD trigger, which runs in the build, and says what the check cost", async () => {
    const sha = world.repo.commit({ Dockerfile: `FROM ${harmlessBase}\nRUN cat /onbuild.txt\n` }, "FROM a harmless base");
    const first = await world.createAppAndBuild({ sha });
    expect((await builder.run(first.buildId)).error).toBeUndefined();
    const lines = await builder.logLines(first.buildId);
    expect(await costOf(first.buildId)).toMatch(/^sources: checked the ONBUILD triggers of 1 base image\(s\) in \d+ ms \(1 pulled\)$/);
    // The trigger ran in the app's build (its file is there for the RUN after it).
    expect(lines).toContain("build web: onbuild-ran");
    expect(await registryTags(world.registry, first.app)).toEqual(["web.1"]);

    // The engine has it now: inspected and read, not pulled. Ten builds: the cost per build.
    for (let i = 0; i < 10; i++) {
      const next = await world.createAppAndBuild({ sha });
      expect((await builder.run(next.buildId)).error).toBeUndefined();
      expect(await costOf(next.buildId)).toMatch(/^sources: checked the ONBUILD triggers of 1 base image\(s\) in \d+ ms$/);
    }
    expect(costs).toHaveLength(11);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [pulled, ...fresh] = costs.splice(0);

    // As main.ts wires it: one reader for the process, which reads each image id once.
    builder.deps.pipeline.imageTriggers = imageTriggers(docker);
    try {
      for (let i = 0; i < 6; i++) {
        const next = await world.createAppAndBuild({ sha });
        expect((await builder.run(next.buildId)).error).toBeUndefined();
        await costOf(next.buildId);
      }
    } finally {
      delete builder.deps.pipeline.imageTriggers;
    }
    const [firstRead, ...cached] = costs;
    console.log(
      `ONBUILD check per build (ms): pull + read ${pulled}; read from the engine's store, median of ${fresh.length} ${median(fresh)}; ` +
        `one reader per process: first ${firstRead}, then median of ${cached.length} ${median(cached)}`,
    );
    expect(cached).toHaveLength(5);
  }, 300_000);
});
