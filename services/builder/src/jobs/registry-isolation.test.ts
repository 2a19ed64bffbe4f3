import { REGISTRY_ADMIN_USER } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld, registryTags } from "../../../../test/support/builder/world.js";
import { busyboxImage, dockerFromEnv, ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { testRegistryAuth } from "../../../../test/support/registry/auth.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";

/**
 * The registry takes tokens only, and each app's builds get one for their own repository and the
 * base images (HOIST_REGISTRY_BASE_REPOS, `base/*` in the suite): a Dockerfile naming another
 * app's image is refused by the registry itself.
 */
describe("each app's build pulls only its own repository and the base images", () => {
  const docker = dockerFromEnv();
  let world: BuilderWorld;
  let builder: TestBuilder;
  let base: string;

  /** Drops the engine's copy of `tag`, so a FROM of it must go to the registry. */
  const forget = (tag: string) =>
    docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined);

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("regiso");
    builder = await startTestBuilder(world);
    // The operator's base image, pushed as the admin user into base/*.
    base = `${world.registry}/base/busybox-${world.prefix.slice(-8)}:1`;
    await docker.getImage(busyboxImage).tag({ repo: base.slice(0, base.lastIndexOf(":")), tag: "1" });
    const stream = await docker.getImage(base).push({ authconfig: testRegistryAuth(REGISTRY_ADMIN_USER), tlsVerify: false } as object);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err, out) => {
        const failed = (out as { error?: string }[] | undefined)?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(failed?.error));
        else resolve();
      }),
    );
    await forget(base);
  }, 120_000);

  afterAll(async () => {
    await builder?.close();
    await world?.close();
    await forget(base);
  });

  it("app A builds FROM a base image and pushes, and pulls its own image back; app B's FROM of A's image is denied", async () => {
    const shaA = world.repo.commit(
      { Dockerfile: `FROM ${base}\nRUN echo built by A > /owner.txt\nCMD ["cat", "/owner.txt"]\n` },
      "A from base",
    );
    const a = await world.createAppAndBuild({ sha: shaA });
    const builtA = await builder.run(a.buildId);
    expect(builtA.error).toBeUndefined();
    const imageA = `${world.registry}/${a.app}:web.1`;
    expect(await registryTags(world.registry, a.app)).toEqual(["web.1"]);

    // A's next build starts FROM its own previous image, pulled from the registry with A's token.
    await forget(imageA);
    await forget(base);
    const shaA2 = world.repo.commit({ Dockerfile: `FROM ${imageA}\nRUN echo again >> /owner.txt\n` }, "A from its own image");
    const a2 = await world.records.builds.create({ app: a.app, ref: "refs/heads/main", sha: shaA2, trigger: "manual" });
    const builtA2 = await builder.run(a2.id);
    expect(builtA2.error).toBeUndefined();
    expect((await registryTags(world.registry, a.app)).sort()).toEqual(["web.1", "web.2"]);

    // B names A's image: the engine has no copy, the registry refuses B's token (to the pull
    // that reads the image's ONBUILD triggers, before the build's own). The builder's own check
    // would refuse it first: lifted here (every repository counts as a base image to it) so the
    // registry alone decides.
    await forget(imageA);
    const shaB = world.repo.commit({ Dockerfile: `FROM ${imageA}\nRUN cat /owner.txt\n` }, "B steals A's image");
    const b = await world.createAppAndBuild({ sha: shaB });
    const checked = builder.deps.pipeline.baseRepos;
    builder.deps.pipeline.baseRepos = ["**"];
    const builtB = await builder.run(b.buildId).finally(() => {
      builder.deps.pipeline.baseRepos = checked;
    });
    expect(builtB.error?.message).toMatch(/^build web: .*Dockerfile:1 FROM.*(denied|unauthorized|authentication required)/is);
    const record = await world.records.builds.require(b.buildId);
    expect(record.status).toBe("failed");
    expect(await registryTags(world.registry, b.app)).toEqual([]);
  });

  it("app B's Dockerfile naming A's image, which the engine holds from A's build, fails before building, whichever way it names it", async () => {
    const shaA = world.repo.commit({ Dockerfile: `FROM ${base}\nRUN echo built by A > /owner.txt\n` }, "A from base");
    const a = await world.createAppAndBuild({ sha: shaA });
    expect((await builder.run(a.buildId)).error).toBeUndefined();
    // A's build left its image in the engine's store: no registry is asked for it.
    const imageA = `${world.registry}/${a.app}:web.1`;
    const { Id: idA } = await docker.getImage(imageA).inspect();

    const hostile: [string, RegExp][] = [
      [
        `FROM ${imageA}\nRUN cat /owner.txt\n`,
        /^build web: Dockerfile:1 FROM \S+: another app's image; a build may use its own repository \(app-[0-9a-f]+\) and base images \(base\/\*\) from this registry$/,
      ],
      // Podman matches the short name to A's local tag.
      [
        `FROM ${a.app}:web.1\nRUN cat /owner.txt\n`,
        /^build web: Dockerfile:1 FROM app-[0-9a-f]+:web\.1: a short name that podman may resolve to app app-[0-9a-f]+'s image in the engine's local store/,
      ],
      [
        `FROM ${base}\nCOPY --from=${idA.replace(/^sha256:/, "").slice(0, 12)} /owner.txt /stolen.txt\n`,
        /^build web: Dockerfile:2 COPY --from=[0-9a-f]{12}: an image id names whatever image the engine holds/,
      ],
    ];
    for (const [dockerfile, reason] of hostile) {
      const b = await world.createAppAndBuild({ sha: world.repo.commit({ Dockerfile: dockerfile }, "B names A's image") });
      const builtB = await builder.run(b.buildId);
      expect(builtB.error?.message).toMatch(reason);
      expect((await world.records.builds.require(b.buildId)).status).toBe("failed");
      expect(await registryTags(world.registry, b.app)).toEqual([]);
    }
  });
});
