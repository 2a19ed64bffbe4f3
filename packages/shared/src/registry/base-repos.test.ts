import { describe, expect, it } from "vitest";
import { parseEnv } from "../config/env.js";
import { baseRepoMatcher, baseReposEnvSchema } from "./base-repos.js";

describe("base repository globs", () => {
  it("match `*` within one path segment and `**` across them, nothing else", () => {
    const base = baseRepoMatcher(["team/base/*", "library/**"]);
    expect(base("team/base/node")).toBe(true);
    expect(base("team/base/a/b")).toBe(false);
    expect(base("team/basex/node")).toBe(false);
    expect(base("library/x/y")).toBe(true);
    expect(base("team/shop")).toBe(false);
    // A dot is a dot, not any character.
    expect(baseRepoMatcher(["base/node.js"])("base/nodexjs")).toBe(false);
    expect(baseRepoMatcher([])("base/node")).toBe(false);
  });

  it("are read from HOIST_REGISTRY_BASE_REPOS, and a malformed list says what is expected", () => {
    expect(parseEnv(baseReposEnvSchema, { HOIST_REGISTRY_BASE_REPOS: "base/*,library/**" }).HOIST_REGISTRY_BASE_REPOS).toEqual([
      "base/*",
      "library/**",
    ]);
    expect(parseEnv(baseReposEnvSchema, {}).HOIST_REGISTRY_BASE_REPOS).toEqual([]);
    expect(() => parseEnv(baseReposEnvSchema, { HOIST_REGISTRY_BASE_REPOS: "Base/*, x" })).toThrow(
      /HOIST_REGISTRY_BASE_REPOS is invalid: comma-separated repository globs/,
    );
  });
});
