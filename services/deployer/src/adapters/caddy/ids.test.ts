import { describe, expect, it } from "vitest";
import { hostRouteId, parseRouteId, portRouteId } from "./ids.js";

describe("Caddy route ids", () => {
  it("round-trips an app's production (the app's name) and another environment's unit (<app>@<env>)", () => {
    for (const app of ["shop", "web-2", "shop@staging", "web-2@eu-west"]) {
      for (const service of ["web", "api.v2", "worker_1"]) {
        expect(parseRouteId(portRouteId({ app, service }))).toEqual({ app, service, kind: "port" });
        expect(parseRouteId(hostRouteId({ app, service }))).toEqual({ app, service, kind: "hosts" });
      }
    }
  });

  it("owns nothing that is not Hoist's", () => {
    for (const id of [
      "srv0",
      "hoist-hosts",
      "hoist-Shop.web",
      "hoist-shop@.web",
      "hoist-shop@Staging.web",
      "hoist-shop@1x.web",
      "other-shop.web",
    ])
      expect(parseRouteId(id), id).toBeUndefined();
  });
});
