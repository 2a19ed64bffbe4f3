import { baseRepoMatcher } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import {
  baseImagesOf,
  type ImageSourcePolicy,
  imageSourceViolations,
  isOnRegistry,
  onbuildViolations,
  processWord,
} from "./image-sources.js";

const policy: ImageSourcePolicy = {
  registryHost: "127.0.0.1:5000",
  ownRepository: "hoist/shop",
  baseGlobs: ["base/*"],
  isBase: baseRepoMatcher(["base/*"]),
  otherApps: new Set(["other"]),
};
const R = "127.0.0.1:5000";

/** `line instruction` of each refused reference. */
const refused = (text: string, args: Record<string, string> = {}, p = policy) =>
  imageSourceViolations(text, args, p).map((v) => `${v.line} ${v.instruction}`);
const reasons = (text: string, args: Record<string, string> = {}, p = policy) => imageSourceViolations(text, args, p).map((v) => v.reason);

describe("the images a Dockerfile may use", () => {
  it("allow the app's own repository, base images, other registries and earlier stages", () => {
    const text = [
      `FROM ${R}/base/node:20 AS deps`,
      `FROM ${R}/hoist/shop:web.3 AS prev`,
      "FROM docker.io/library/node:20-slim",
      "FROM node:20-slim",
      "FROM quay.io/org/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "FROM deps AS build",
      "COPY --from=prev /owner.txt /",
      "COPY --from=0 /x /x",
      "COPY --from=Build /y /y",
      `COPY --from=${R}/base/tools:1 /bin/t /bin/t`,
      "RUN --mount=type=bind,from=deps,target=/d true",
      "FROM scratch",
      "",
    ].join("\n");
    expect(refused(text)).toEqual([]);
  });

  it("refuse another app's image in FROM, COPY --from and RUN --mount from=, naming the line and the rule", () => {
    const text = [
      "FROM busybox AS a",
      `FROM ${R}/hoist/other:web.3`,
      `COPY --from=${R}/hoist/other:web.3 / /stolen`,
      `RUN --mount=type=bind,from=${R}/hoist/other:web.3,target=/o cat /o/x`,
      `ONBUILD COPY --from=${R}/hoist/other:web.3 / /later`,
      "",
    ].join("\n");
    expect(refused(text)).toEqual([
      `2 FROM ${R}/hoist/other:web.3`,
      `3 COPY --from=${R}/hoist/other:web.3`,
      `4 RUN --mount=from=${R}/hoist/other:web.3`,
      `5 ONBUILD COPY --from=${R}/hoist/other:web.3`,
    ]);
    expect(reasons(`FROM ${R}/hoist/other:web.3\n`)).toEqual([
      "another app's image; a build may use its own repository (hoist/shop) and base images (base/*) from this registry",
    ]);
    // Not a base glob: `*` stays within one segment; and a repository outside the namespace is no better.
    expect(refused(`FROM ${R}/base/a/b:1\nFROM ${R}/shop:1\nFROM ${R}/hoist/shop/x:1\n`)).toEqual([
      `1 FROM ${R}/base/a/b:1`,
      `2 FROM ${R}/shop:1`,
      `3 FROM ${R}/hoist/shop/x:1`,
    ]);
  });

  it("read lowercase instructions, flags, AS names and continuations as Docker does", () => {
    const text = [
      "from --platform=linux/amd64 \\",
      `   ${R}/hoist/other:web.3 \\`,
      "   as build",
      "# a comment inside nothing",
      "copy --chown=1:1 \\",
      "  # a comment line inside the continuation",
      `  --from=${R}/hoist/other:web.3 / /x`,
      `run --network=none --mount=type=cache,target=/c --mount="type=bind,FROM=${R}/hoist/other:web.3,target=/o" true`,
      "",
    ].join("\n");
    expect(refused(text)).toEqual([
      `1 FROM ${R}/hoist/other:web.3`,
      `5 COPY --from=${R}/hoist/other:web.3`,
      `8 RUN --mount=from=${R}/hoist/other:web.3`,
    ]);
  });

  it("substitute the ARGs before the first FROM and the service's build args, and refuse what stays unresolved", () => {
    const text = `ARG REG=${R}\nARG NS=hoist APP\nFROM \${REG}/\${NS}/other:1\nFROM $REG/base/node:20\n`;
    expect(refused(text)).toEqual([`3 FROM \${REG}/\${NS}/other:1 (${R}/hoist/other:1)`]);
    // A build arg for a declared ARG wins over its default.
    expect(refused(text, { REG: "quay.io" })).toEqual([]);
    expect(refused(`ARG APP\nFROM ${R}/hoist/\${APP}:1\n`, { APP: "shop" })).toEqual([]);
    expect(refused(`ARG APP\nFROM ${R}/hoist/\${APP}:1\n`, { APP: "other" })).toEqual([`2 FROM ${R}/hoist/\${APP}:1 (${R}/hoist/other:1)`]);
    // A build arg the file does not declare before FROM is not seen by FROM, nor is an ARG inside a stage.
    expect(reasons(`FROM ${R}/hoist/\${APP}:1\n`, { APP: "shop" })[0]).toMatch(/a variable Hoist cannot resolve/);
    expect(refused(`FROM busybox\nARG APP=shop\nFROM ${R}/hoist/\${APP}:1\n`)).toEqual([`3 FROM ${R}/hoist/\${APP}:1`]);
    // Defaults, alternatives and quotes, as the shell-word processing does them.
    expect(refused(`ARG T\nFROM "${R}/hoist/\${T:-other}:1"\n`)).toEqual([`2 FROM "${R}/hoist/\${T:-other}:1" (${R}/hoist/other:1)`]);
    expect(refused(`ARG T=x\nFROM ${R}/hoist/\${T:+other}:1\n`)).toHaveLength(1);
    expect(refused(`ARG A=${R} B=\${A}/hoist\nFROM \${B}/other:1\n`)).toHaveLength(1);
    // Platform variables and other forms are not known before the build: refused, not guessed.
    expect(reasons(`FROM \${TARGETARCH}/busybox\n`)[0]).toMatch(/cannot resolve/);
    expect(reasons(`ARG X=${R}/hoist/other:1\nFROM \${X%:1}\n`)[0]).toMatch(/cannot resolve/);
    expect(reasons(`FROM '${R}/hoist/other:1\n`)[0]).toMatch(/cannot resolve/);
    // A variable in --from may come from the base image's ENV: refused.
    expect(refused(`ARG S=build\nFROM busybox AS build\nCOPY --from=$S /a /a\n`)).toEqual(["3 COPY --from=$S"]);
    expect(reasons("FROM busybox\nRUN --mount=from=$X,target=/x true\n")[0]).toMatch(/cannot resolve/);
    // An escaped `$` stays a `$`: refused, the image is not named.
    expect(reasons("FROM busy\\$box\n")[0]).toMatch(/still holds a `\$`/);
  });

  it("refuse image ids, which name any image in the engine's store", () => {
    const id = "4ae9f780e45db905ee46a3c5b38364192221a1ded57e08099ce1e209b1e923de";
    expect(refused(`FROM ${id}\nFROM sha256:${id}\nFROM 4ae9f780\nFROM busybox\nCOPY --from=4ae9 / /\n`)).toEqual([
      `1 FROM ${id}`,
      `2 FROM sha256:${id}`,
      "3 FROM 4ae9f780",
      "5 COPY --from=4ae9",
    ]);
    expect(reasons("FROM 4ae9f780\n")[0]).toMatch(/^an image id names whatever image the engine holds/);
  });

  it("refuse short names podman could match to another app's local image, and say how to write them", () => {
    // Podman finds `<registry>/hoist/other:web.3` for `other:web.3` and for `hoist/other:web.3`.
    const withNode = { ...policy, otherApps: new Set(["other", "node"]) };
    expect(refused("FROM other:web.3\nFROM hoist/other:web.3\nFROM other@sha256:abc\nFROM other\nFROM node:20\n", {}, withNode)).toEqual([
      "1 FROM other:web.3",
      "2 FROM hoist/other:web.3",
      "3 FROM other@sha256:abc",
      "4 FROM other",
      "5 FROM node:20",
    ]);
    expect(reasons("FROM other:web.3\n")[0]).toMatch(
      /^a short name that podman may resolve to app other's image in the engine's local store \(127\.0\.0\.1:5000\/hoist\/other\); write the full name \(e\.g\. docker\.io\/library\/other:web\.3\)/,
    );
    // Not another app's name, its own name, another namespace, or Docker Hub's library: allowed, whatever the tag.
    expect(
      refused(
        "FROM python:3.12\nFROM alpine:3.20@sha256:abc\nFROM shop:web.2\nFROM library/other:web.3\nFROM bitnami/redis:7.2\nFROM acme/other:1\n",
      ),
    ).toEqual([]);
  });

  it("treat loopback aliases of the registry's port as the registry, and Docker Hub as Docker Hub", () => {
    expect(refused("FROM localhost:5000/hoist/other:1\nFROM localhost:5001/hoist/other:1\n")).toEqual([
      "1 FROM localhost:5000/hoist/other:1",
    ]);
    const hub: ImageSourcePolicy = {
      ...policy,
      registryHost: "docker.io",
      isBase: baseRepoMatcher(["library/*"]),
      baseGlobs: ["library/*"],
    };
    expect(refused("FROM node:20\nFROM index.docker.io/hoist/other:1\nFROM hoist/shop:1\nFROM evil/x:1\n", {}, hub)).toEqual([
      "2 FROM index.docker.io/hoist/other:1",
      "4 FROM evil/x:1",
    ]);
  });

  it("follow Docker's escape directive only at the very top of the file", () => {
    // Docker reads this escape line as a comment (a comment came first): the RUN ends at its
    // backtick and the FROM below is an instruction of its own.
    const late = `# hi\n# escape=\`\nFROM busybox\nRUN echo \`\nFROM ${R}/hoist/other:1\n`;
    expect(refused(late)).toEqual([`5 FROM ${R}/hoist/other:1`]);
    const early = `# escape=\`\nFROM busybox\nRUN echo \`\n  FROM ${R}/hoist/other:1\nFROM ${R}/base/x:1\n`;
    expect(refused(early)).toEqual([]);
  });

  it("process words as Docker's shell-word processing does", () => {
    const vars = new Map([
      ["A", "a"],
      ["E", ""],
    ]);
    expect(processWord(`"$A"'$A'\\$A`, vars)).toBe("a$A$A");
    expect(processWord(`\${E:-d}\${E-d}\${A:+p}\${U+p}`, vars)).toBe("dp");
    expect(processWord("$U", vars)).toBeUndefined();
    expect(processWord("`$A", vars, "`")).toBe("$A");
  });

  it("list the images the stages start from: not earlier stages, not scratch, each once, after substitution", () => {
    const text = `ARG BASE=${R}/base/node:20\nFROM $BASE AS deps\nFROM deps AS build\nFROM scratch\nFROM busybox\nFROM \${BASE}\nCOPY --from=${R}/base/tools:1 / /\n`;
    expect(baseImagesOf(text, {})).toEqual([
      { line: 2, instruction: "FROM $BASE (127.0.0.1:5000/base/node:20)", ref: `${R}/base/node:20` },
      { line: 5, instruction: "FROM busybox", ref: "busybox" },
    ]);
    expect(baseImagesOf(text, { BASE: `${R}/base/other:1` }).map((b) => b.ref)).toEqual([`${R}/base/other:1`, "busybox"]);
  });

  it("refuse a base image's ONBUILD trigger that reads another app's image, naming the FROM and the trigger", () => {
    const text = `FROM ${R}/base/node:20 AS deps\nRUN true\nFROM deps\n`;
    const [base] = baseImagesOf(text, {});
    if (!base) throw new Error("no base image");
    const triggers = [
      "RUN echo harmless",
      "COPY --from=deps /x /y",
      "COPY --from=0 /x /y",
      `COPY --from=${R}/base/tools:1 /t /t`,
      `COPY --from=${R}/hoist/other:web.3 / /x`,
      `RUN --mount=type=bind,from=other:web.3,target=/o cat /o/x`,
      "COPY --from=$IMAGE / /x",
      "ONBUILD RUN true",
    ];
    expect(onbuildViolations(text, base, triggers, policy).map((v) => `${v.line} ${v.instruction}: ${v.reason}`)).toEqual([
      `1 FROM ${R}/base/node:20: the image's ONBUILD trigger \`COPY --from=${R}/hoist/other:web.3 / /x\` runs in this build: COPY --from=${R}/hoist/other:web.3: another app's image; a build may use its own repository (hoist/shop) and base images (base/*) from this registry`,
      expect.stringMatching(
        /^1 FROM \S+: the image's ONBUILD trigger `RUN --mount=type=bind,from=other:web.3,target=\/o cat \/o\/x` runs in this build: RUN --mount=from=other:web.3: a short name that podman may resolve to app other's image/,
      ),
      expect.stringMatching(
        /^1 FROM \S+: the image's ONBUILD trigger `COPY --from=\$IMAGE \/ \/x` runs in this build: COPY --from=\$IMAGE: the image name uses a variable/,
      ),
      `1 FROM ${R}/base/node:20: the image's ONBUILD trigger \`ONBUILD RUN true\` runs in this build, and Docker allows no ONBUILD trigger`,
    ]);
    expect(onbuildViolations(text, base, ["RUN echo harmless", "COPY . /app"], policy)).toEqual([]);
  });

  it("send the app's registry credentials only with a pull from that registry", () => {
    expect(isOnRegistry(`${R}/base/node:20`, R)).toBe(true);
    expect(isOnRegistry("localhost:5000/base/node:20", R)).toBe(true);
    expect(isOnRegistry("127.0.0.1:5001/base/node:20", R)).toBe(false);
    expect(isOnRegistry("node:20", R)).toBe(false);
    expect(isOnRegistry("evil.example/x:1", R)).toBe(false);
    expect(isOnRegistry("node:20", "docker.io")).toBe(true);
  });
});
