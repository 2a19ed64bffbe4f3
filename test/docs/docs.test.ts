import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildStatuses, releaseStatuses } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpApp } from "../../services/api/src/http/app.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { repoRoot } from "../support/processes.js";
import { appStack, envReadsInCode, routesOf, schemaKeys, serviceEnvSchemas } from "./code-inventory.js";
import { brokenLinks, diagramStates, documentedRoutes, documentedVariables } from "./markdown.js";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");
const pages = [
  "README.md",
  ...readdirSync(join(repoRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

describe("docs/configuration.md: every variable Hoist reads", () => {
  const documented = documentedVariables(read("docs/configuration.md"));

  it("has a row for every variable a service's config parses", () => {
    const missing = Object.entries(serviceEnvSchemas).flatMap(([service, schema]) =>
      schemaKeys(schema)
        .filter((name) => !documented.has(name))
        .map((name) => `${name} (parsed by ${service})`),
    );
    expect(missing, "add a row to docs/configuration.md for each").toEqual([]);
  });

  it("has a row for every variable pnpm start, the code and docker-compose.yml read", () => {
    const reads = envReadsInCode();
    // The scan must see what it is meant to see, or an empty result would pass.
    expect(reads.map((r) => r.name)).toEqual(expect.arrayContaining(["HOIST_URL", "HOIST_REGISTRY", "HOIST_REDIS_PORT", "REDIS_URL"]));
    const names = [...documented.keys()];
    const missing = reads
      .filter((r) => (typeof r.name === "string" ? !documented.has(r.name) : !names.some((n) => (r.name as RegExp).test(n))))
      .map((r) => `${String(r.name)} (read in ${r.file})`);
    expect([...new Set(missing)], "add a row to docs/configuration.md for each").toEqual([]);
  });

  it("documents each variable in one row", () => {
    expect([...documented].filter(([, rows]) => rows > 1).map(([name]) => name)).toEqual([]);
  });
});

describe("docs/api.md: every route the API mounts", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("documents every mounted route, and no route the API does not serve", () => {
    const documented = documentedRoutes(read("docs/api.md"));
    // A third-party router documented as `ALL <mount>/*` is taken as one route.
    const opaque = new Set(documented.filter((r) => r.startsWith("ALL ") && r.endsWith("/*")).map((r) => r.slice(4, -2)));
    // The dashboard's router is mounted on the app too (it passes on paths it has no rule for).
    const mounted = routesOf(appStack(createHttpApp(h.deps)), opaque);
    expect(mounted).toEqual(expect.arrayContaining(["POST /v1/apps", "POST /webhooks/gitlab/:hookId", "GET /login"]));
    expect(
      [...new Set(mounted)].filter((r) => !documented.includes(r)),
      "add a ### `METHOD /path` section to docs/api.md",
    ).toEqual([]);
    expect(
      documented.filter((r) => !mounted.includes(r)),
      "docs/api.md documents routes the API does not mount",
    ).toEqual([]);
  });
});

describe("docs/architecture.md: the lifecycles", () => {
  it.each([
    ["Build lifecycle", buildStatuses],
    ["Release lifecycle", releaseStatuses],
  ])("%s draws exactly the statuses of the records' schema", (heading, statuses) => {
    expect([...diagramStates(read("docs/architecture.md"), heading)].sort()).toEqual([...statuses].sort());
  });
});

describe("README and docs/", () => {
  it("keeps the README to a screenful or so (at most 150 lines)", () => {
    expect(read("README.md").trimEnd().split("\n").length).toBeLessThanOrEqual(150);
  });

  it.each(pages)("%s: every relative link names a file (and a heading) that exists", (page) => {
    expect(brokenLinks(join(repoRoot, page))).toEqual([]);
  });
});
