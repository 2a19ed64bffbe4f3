import { ConfigError, parseEnv } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { envSchema } from "./config.js";

describe("deployer env: the local target's Caddy", () => {
  it("defaults: no admin URL (the deployer starts its own Caddy), a 10 s drain, a reconcile every 30 s", () => {
    const env = parseEnv(envSchema, {});
    expect(env.HOIST_CADDY_ADMIN_URL).toBeUndefined();
    expect(env.HOIST_LOCAL_DRAIN_S).toBe(10);
    expect(env.HOIST_LOCAL_RECONCILE_S).toBe(30);
  });

  it("takes an admin URL and whole seconds", () => {
    const env = parseEnv(envSchema, {
      HOIST_CADDY_ADMIN_URL: "http://127.0.0.1:2019",
      HOIST_LOCAL_DRAIN_S: "0",
      HOIST_LOCAL_RECONCILE_S: "5",
    });
    expect(env).toMatchObject({ HOIST_CADDY_ADMIN_URL: "http://127.0.0.1:2019", HOIST_LOCAL_DRAIN_S: 0, HOIST_LOCAL_RECONCILE_S: 5 });
  });

  it("names each bad variable and what it wants", () => {
    let err: unknown;
    try {
      parseEnv(envSchema, { HOIST_CADDY_ADMIN_URL: "caddy 2019", HOIST_LOCAL_DRAIN_S: "-1", HOIST_LOCAL_RECONCILE_S: "0" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain("config: HOIST_CADDY_ADMIN_URL is invalid: the URL of Caddy's admin endpoint, such as http://127.0.0.1:2019");
    expect(message).toMatch(/config: HOIST_LOCAL_DRAIN_S is invalid: /);
    expect(message).toMatch(/config: HOIST_LOCAL_RECONCILE_S is invalid: /);
  });
});

describe("deployer env: where Caddy serves host routes", () => {
  it("defaults to :443 with TLS, takes a list of listen addresses and plain HTTP, and names a bad value", () => {
    expect(parseEnv(envSchema, {})).toMatchObject({ HOIST_CADDY_HOSTS_LISTEN: [":443"], HOIST_CADDY_HOSTS_HTTP: false });
    expect(parseEnv(envSchema, { HOIST_CADDY_HOSTS_LISTEN: "127.0.0.1:8080, [::1]:8080", HOIST_CADDY_HOSTS_HTTP: "true" })).toMatchObject({
      HOIST_CADDY_HOSTS_LISTEN: ["127.0.0.1:8080", "[::1]:8080"],
      HOIST_CADDY_HOSTS_HTTP: true,
    });
    expect(() => parseEnv(envSchema, { HOIST_CADDY_HOSTS_LISTEN: "localhost" })).toThrow(
      /HOIST_CADDY_HOSTS_LISTEN is invalid: comma-separated listen addresses, each \[host\]:port/,
    );
    expect(() => parseEnv(envSchema, { HOIST_CADDY_HOSTS_HTTP: "yes" })).toThrow(/HOIST_CADDY_HOSTS_HTTP is invalid: /);
  });
});

describe("deployer env: previews", () => {
  it("defaults HOIST_APPS_DOMAIN to localhost, takes a DNS name and names a bad one", () => {
    expect(parseEnv(envSchema, {}).HOIST_APPS_DOMAIN).toBe("localhost");
    expect(parseEnv(envSchema, { HOIST_APPS_DOMAIN: "apps.example.com" }).HOIST_APPS_DOMAIN).toBe("apps.example.com");
    expect(() => parseEnv(envSchema, { HOIST_APPS_DOMAIN: "Apps_Example" })).toThrow(
      /HOIST_APPS_DOMAIN is invalid: a lowercase DNS name such as apps.example.com/,
    );
  });
});

describe("deployer env: GitLab freeze periods", () => {
  it("reaches no internal address unless HOIST_OUTBOUND_ALLOW lists it, and names a bad list", () => {
    expect(parseEnv(envSchema, {}).HOIST_OUTBOUND_ALLOW).toEqual(parseEnv(envSchema, { HOIST_OUTBOUND_ALLOW: "" }).HOIST_OUTBOUND_ALLOW);
    expect(() => parseEnv(envSchema, { HOIST_OUTBOUND_ALLOW: "127.0.0.1,10.0.0.0/8" })).not.toThrow();
    expect(() => parseEnv(envSchema, { HOIST_OUTBOUND_ALLOW: "gitlab.internal" })).toThrow(
      /HOIST_OUTBOUND_ALLOW is invalid: .*comma-separated/,
    );
  });
});
