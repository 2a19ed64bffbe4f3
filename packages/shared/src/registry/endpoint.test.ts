import { describe, expect, it } from "vitest";
import { ecrRegistryOf, registryBaseUrl } from "./endpoint.js";

describe("registry endpoints", () => {
  it("reads an ECR registry's account and region (namespace or not, FIPS, China), and nothing from any other", () => {
    expect(ecrRegistryOf("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team")).toEqual({ accountId: "123456789012", region: "eu-west-1" });
    expect(ecrRegistryOf("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com")).toEqual({ accountId: "123456789012", region: "us-east-1" });
    expect(ecrRegistryOf("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")).toEqual({ accountId: "123456789012", region: "cn-north-1" });
    expect(ecrRegistryOf("registry.example.com:5000/123456789012.dkr.ecr.eu-west-1.amazonaws.com")).toBeUndefined();
    expect(ecrRegistryOf("12345.dkr.ecr.eu-west-1.amazonaws.com")).toBeUndefined();
  });

  it("speaks plain HTTP on loopback or when told, HTTPS otherwise", () => {
    expect(registryBaseUrl("127.0.0.1:5000/team", false)).toBe("http://127.0.0.1:5000");
    expect(registryBaseUrl("localhost:5000", false)).toBe("http://localhost:5000");
    expect(registryBaseUrl("registry.example.com", false)).toBe("https://registry.example.com");
    expect(registryBaseUrl("registry.example.com:5000", true)).toBe("http://registry.example.com:5000");
  });
});
