// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are compose ${VAR} expressions, not template strings
import { describe, expect, it } from "vitest";
import { parseCompose } from "./compose.js";
import { interpolate, parseDotenv } from "./interpolate.js";

describe("compose interpolation", () => {
  const vars = { NAME: "web", EMPTY: "", VERSION: "1.2" };
  it.each([
    ["$NAME", "web"],
    ["${NAME}", "web"],
    ["${MISSING}", ""],
    ["${MISSING:-fallback}", "fallback"],
    ["${EMPTY:-fallback}", "fallback"],
    ["${EMPTY-fallback}", ""],
    ["${NAME:+set}", "set"],
    ["${MISSING+set}", ""],
    ["v$${NAME}", "v${NAME}"],
    ["app-${NAME}-${VERSION}", "app-web-1.2"],
  ])("%s → %s", (input, out) => {
    expect(interpolate(input, vars, "x")).toBe(out);
  });
  it("fails on a required variable and a malformed expression", () => {
    expect(() => interpolate("${TOKEN:?set TOKEN in .env}", vars, "services.web.build.args.TOKEN")).toThrow(
      "services.web.build.args.TOKEN: required variable TOKEN is missing a value: set TOKEN in .env",
    );
    expect(() => interpolate("${NAME", vars, "x")).not.toThrow();
    expect(() => interpolate("${1BAD}", vars, "x")).toThrow("x: invalid interpolation format ${1BAD}");
  });
  it("reads .env files", () => {
    expect(parseDotenv("# c\nA=1\nexport B=\"two words\"\nC='x#y'\nD=val # comment\nnot a line\n")).toEqual({
      A: "1",
      B: "two words",
      C: "x#y",
      D: "val",
    });
  });
  it("applies to compose build sections", () => {
    const services = parseCompose(
      "services:\n  web:\n    build:\n      context: ./${DIR:-web}\n      args:\n        VERSION: ${VERSION}\n",
      "docker-compose.yml",
      { VERSION: "3.1" },
    );
    expect(services).toEqual([{ service: "web", context: "web", dockerfile: "Dockerfile", args: { VERSION: "3.1" } }]);
  });
});
