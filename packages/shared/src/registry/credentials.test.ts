import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnv } from "../config/env.js";
import {
  appRegistryUser,
  appRepository,
  registryHost,
  registryPassword,
  registryPasswordMatches,
  registrySecret,
  registrySecretEnvSchema,
  registrySecretSchema,
} from "./credentials.js";

const secret = "s".repeat(40);

describe("derived registry credentials", () => {
  it("derive one password per user from the secret, and check it in constant time", () => {
    const a = registryPassword(secret, appRegistryUser("shop"));
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(registryPassword(secret, "app-shop")).toBe(a);
    expect(registryPassword(secret, "app-blog")).not.toBe(a);
    expect(registryPassword(`${secret}x`, "app-shop")).not.toBe(a);
    expect(registryPasswordMatches(secret, "app-shop", a)).toBe(true);
    expect(registryPasswordMatches(secret, "app-blog", a)).toBe(false);
    expect(registryPasswordMatches(secret, "app-shop", `${a}x`)).toBe(false);
  });

  it("name the app's repository as the builder tags it", () => {
    expect(appRepository("127.0.0.1:5000", "shop")).toBe("shop");
    expect(appRepository("r.example.com/team/ci/", "shop")).toBe("team/ci/shop");
    expect(registryHost("r.example.com:5000/team")).toBe("r.example.com:5000");
  });

  it("refuse a short secret with what to do", () => {
    expect(registrySecretSchema.safeParse("short").error?.issues[0]?.message).toMatch(/at least 32 characters/);
  });
});

describe("the registry secret from the environment", () => {
  it("is read from HOIST_REGISTRY_SECRET_FILE, and a bad file says which and why", () => {
    const dir = mkdtempSync(join(tmpdir(), "hoist-regsecret-"));
    try {
      writeFileSync(join(dir, "ok"), `${secret}\n`);
      writeFileSync(join(dir, "short"), "abc\n");
      const parse = (env: Record<string, string>) => registrySecret(parseEnv(registrySecretEnvSchema, env));
      expect(parse({ HOIST_REGISTRY_SECRET_FILE: join(dir, "ok") })).toBe(secret);
      expect(parse({ HOIST_REGISTRY_SECRET: `${secret}y`, HOIST_REGISTRY_SECRET_FILE: join(dir, "ok") })).toBe(`${secret}y`);
      expect(parse({})).toBeUndefined();
      expect(() => parse({ HOIST_REGISTRY_SECRET_FILE: join(dir, "short") })).toThrow(
        /HOIST_REGISTRY_SECRET_FILE is invalid: its contents: at least 32 characters/,
      );
      expect(() => parse({ HOIST_REGISTRY_SECRET_FILE: join(dir, "missing") })).toThrow(/cannot be read \(ENOENT\)/);
      expect(() => parse({ HOIST_REGISTRY_SECRET: "short" })).toThrow(/HOIST_REGISTRY_SECRET is invalid: at least 32 characters/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
