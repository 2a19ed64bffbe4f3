import { describe, expect, it } from "vitest";
import { z } from "zod";
import { targetSchema } from "./schemas.js";

describe("local target services", () => {
  it("take hosts without a port (served on the host names only)", () => {
    const parsed = targetSchema.parse({ kind: "local", services: { web: { hosts: ["mr-1.shop.localhost"] } } });
    expect(parsed).toEqual({ kind: "local", services: { web: { hosts: ["mr-1.shop.localhost"] } } });
  });

  it("still take a port without hosts, and both", () => {
    expect(targetSchema.safeParse({ kind: "local", services: { web: { port: 8080 } } }).success).toBe(true);
    expect(targetSchema.safeParse({ kind: "local", services: { web: { port: 8080, hosts: ["a.example.com"] } } }).success).toBe(true);
  });

  it("refuse a service with neither a port nor hosts, saying what to set", () => {
    for (const web of [{}, { healthPath: "/healthz" }]) {
      const r = targetSchema.safeParse({ kind: "local", services: { web } });
      expect(r.success).toBe(false);
      const text = r.success ? "" : z.prettifyError(r.error);
      expect(text).toContain("a service needs a port (where Caddy listens for it) or hosts");
      expect(text).toContain("services.web.port");
    }
    // An empty hosts list is no host to serve on either (and is refused by hosts' own min(1)).
    expect(targetSchema.safeParse({ kind: "local", services: { web: { hosts: [] } } }).success).toBe(false);
  });
});
