import { describe, expect, it } from "vitest";
import { environmentUrl, gitlabReviewEnvironment, previewIidOf } from "./preview-url.js";

const svc = { port: 3000 };

describe("environmentUrl", () => {
  it("is the first host of the first service by name that has hosts; http unless that service has tls", () => {
    const target = {
      kind: "local" as const,
      services: {
        worker: { ...svc },
        web: { ...svc, hosts: ["mr-42.shop.localhost", "other.localhost"] },
        api: { ...svc, hosts: ["*.wild.localhost", "api-mr-42.shop.localhost"], tls: "internal" as const },
      },
    };
    expect(environmentUrl(target)).toBe("https://api-mr-42.shop.localhost");
    const { api: _, ...rest } = target.services;
    expect(environmentUrl({ ...target, services: rest })).toBe("http://mr-42.shop.localhost");
  });

  it("is undefined for a target with no host: ports only, or ECS", () => {
    expect(environmentUrl({ kind: "local", services: { web: { ...svc } } })).toBeUndefined();
    expect(environmentUrl({ kind: "local", services: { web: { ...svc, hosts: ["*.shop.localhost"] } } })).toBeUndefined();
    expect(environmentUrl({ kind: "ecs", cluster: "c", service: "s" })).toBeUndefined();
    // Caddy's host listener on a port of its own (pnpm start's 8000): the URL says it, unless it is the scheme's.
    const plain = { kind: "local" as const, services: { web: { ...svc, hosts: ["mr-1.shop.localhost"] } } };
    expect(environmentUrl(plain, 8000)).toBe("http://mr-1.shop.localhost:8000");
    expect(environmentUrl(plain, 80)).toBe("http://mr-1.shop.localhost");
    expect(environmentUrl({ kind: "local", services: { web: { ...svc, hosts: ["a.example.com"], tls: "internal" } } }, 443)).toBe(
      "https://a.example.com",
    );
  });
});

describe("preview names", () => {
  it("reads the merge request number of mr-<iid> only", () => {
    expect(previewIidOf("mr-42")).toBe(42);
    expect(previewIidOf("mr-0")).toBeUndefined();
    expect(previewIidOf("mr-042")).toBeUndefined();
    expect(previewIidOf("staging")).toBeUndefined();
    expect(previewIidOf("mr-42x")).toBeUndefined();
    expect(gitlabReviewEnvironment(42)).toBe("review/mr-42");
  });
});
