import { describe, expect, it } from "vitest";
import { ComposeError, insideRepo, parseCompose, tagFor } from "./compose.js";

describe("parseCompose", () => {
  it("reads string and object build sections, args as map or list, and skips image-only services", () => {
    const services = parseCompose(`
services:
  web:
    build:
      context: ./web
      dockerfile: docker/Prod.Dockerfile
      target: runtime
      args:
        NODE_ENV: production
        VERSION: 3
        FROM_ENV:
  worker:
    build: worker
  jobs:
    build:
      context: .
      args: ["A=1", "B=x=y", "NOVALUE"]
  db:
    image: postgres:16
`);
    expect(services).toEqual([
      {
        service: "web",
        context: "web",
        dockerfile: "docker/Prod.Dockerfile",
        args: { NODE_ENV: "production", VERSION: "3" },
        target: "runtime",
      },
      { service: "worker", context: "worker", dockerfile: "Dockerfile", args: {} },
      { service: "jobs", context: ".", dockerfile: "Dockerfile", args: { A: "1", B: "x=y" } },
    ]);
  });

  it("rejects contexts and Dockerfiles that leave the repository", () => {
    expect(() => parseCompose("services:\n  web:\n    build: ../x\n")).toThrow(new ComposeError("context ../x leaves the repository"));
    expect(() => parseCompose("services:\n  web:\n    build: a/../../x\n")).toThrow("context a/../../x leaves the repository");
    expect(() => parseCompose("services:\n  web:\n    build: /srv/app\n")).toThrow(
      "context /srv/app leaves the repository (absolute path)",
    );
    expect(() => parseCompose("services:\n  web:\n    build:\n      context: web\n      dockerfile: ../../Dockerfile\n")).toThrow(
      "dockerfile ../../Dockerfile leaves the repository",
    );
    // Inside after normalisation is fine.
    expect(parseCompose("services:\n  web:\n    build: a/../web\n")[0]?.context).toBe("web");
  });

  it("says what is wrong with a malformed file", () => {
    expect(() => parseCompose("services: [")).toThrow(/docker-compose.yml is not valid YAML/);
    expect(() => parseCompose("version: '3'\n")).toThrow(
      "docker-compose.yml: services: Invalid input: expected record, received undefined",
    );
    expect(() => parseCompose("services:\n  db:\n    image: x\n")).toThrow(
      "docker-compose.yml has no service with a build: section; nothing to build",
    );
    expect(() => parseCompose("services:\n  web:\n    build: 3\n")).toThrow(ComposeError);
    expect(() => parseCompose('services:\n  "web;touch /tmp/x":\n    build: .\n')).toThrow(
      "docker-compose.yml: services.web;touch /tmp/x: service names are letters, digits, '.', '_' and '-'",
    );
  });

  it("insideRepo normalises", () => {
    expect(insideRepo(".", "./", "context")).toBe(".");
    expect(insideRepo("web", "Dockerfile", "dockerfile")).toBe("web/Dockerfile");
  });

  it("makes tags safe", () => {
    expect(tagFor("web", 12)).toBe("web.12");
    expect(tagFor(".hidden", 1)).toBe("_hidden.1");
    expect(tagFor("x".repeat(200), 7)).toHaveLength(128);
  });
});
