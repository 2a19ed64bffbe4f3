import { describe, expect, it } from "vitest";
import { grant, parseScopes } from "./grants.js";

const policy = { registry: "r.example.com:5000/team", baseRepos: ["team/base/*", "library/**"] };
const ask = (...scopes: string[]) => parseScopes(scopes);

describe("registry grants", () => {
  it("give an app pull and push on its own repository only, and pull on the base repositories", () => {
    expect(grant("app-shop", ask("repository:team/shop:pull,push"), policy)).toEqual([
      { type: "repository", name: "team/shop", actions: ["pull", "push"] },
    ]);
    expect(grant("app-shop", ask("repository:team/blog:pull,push", "repository:team/shop/x:pull", "repository:shop:pull"), policy)).toEqual(
      [
        { type: "repository", name: "team/blog", actions: [] },
        { type: "repository", name: "team/shop/x", actions: [] },
        { type: "repository", name: "shop", actions: [] },
      ],
    );
    expect(
      grant("app-shop", ask("repository:team/base/node:pull,push repository:team/base/a/b:pull repository:library/x/y:pull"), policy),
    ).toEqual([
      { type: "repository", name: "team/base/node", actions: ["pull"] },
      { type: "repository", name: "team/base/a/b", actions: [] },
      { type: "repository", name: "library/x/y", actions: ["pull"] },
    ]);
    expect(grant("app-shop", ask("registry:catalog:*"), policy)).toEqual([{ type: "registry", name: "catalog", actions: [] }]);
  });

  it("give the deployer pull everywhere and delete on apps' repositories (a preview's tags), the admin everything, and nobody else anything", () => {
    const scope = ask("repository:team/shop:pull,push,delete");
    expect(grant("deployer", scope, policy)[0]?.actions).toEqual(["pull", "delete"]);
    expect(
      grant(
        "deployer",
        ask("repository:team/base/node:pull,delete", "repository:team/shop/x:pull,delete", "repository:other/shop:pull,delete"),
        policy,
      ),
    ).toEqual([
      { type: "repository", name: "team/base/node", actions: ["pull"] },
      { type: "repository", name: "team/shop/x", actions: ["pull"] },
      { type: "repository", name: "other/shop", actions: ["pull"] },
    ]);
    expect(grant("deployer", ask("repository:shop:pull,delete"), { registry: "r.example.com", baseRepos: ["base/*"] })[0]?.actions).toEqual(
      ["pull", "delete"],
    );
    expect(grant("admin", scope, policy)[0]?.actions).toEqual(["pull", "push", "delete"]);
    expect(grant("admin", ask("registry:catalog:*"), policy)[0]?.actions).toEqual(["*"]);
    expect(grant("someone", scope, policy)[0]?.actions).toEqual([]);
    expect(grant(undefined, scope, policy)[0]?.actions).toEqual([]);
  });

  it("read a repository name holding a port-less path and skip malformed scopes", () => {
    expect(ask("repository:a/b/c:pull", "nonsense", "repository:x")).toEqual([{ type: "repository", name: "a/b/c", actions: ["pull"] }]);
  });
});
