import { describe, expect, it } from "vitest";
import { isIgnored, mayReincludeBelow, parseDockerignore } from "./dockerignore.js";

describe(".dockerignore matching", () => {
  const rules = parseDockerignore(`
# comment
node_modules
/dist/
*.log
**/*.tmp
docs/**
!docs/keep.md
secret?.txt
[ab].bin
`);

  it.each([
    ["node_modules", true],
    ["node_modules/x/index.js", true],
    ["dist/app.js", true],
    ["src/dist/app.js", false],
    ["error.log", true],
    ["src/error.log", false],
    ["a/b/c.tmp", true],
    ["c.tmp", true],
    ["docs/guide.md", true],
    ["docs/keep.md", false],
    ["secret1.txt", true],
    ["secret12.txt", false],
    ["a.bin", true],
    ["c.bin", false],
    ["src/index.ts", false],
  ])("%s ignored: %s", (path, ignored) => {
    expect(isIgnored(rules, path)).toBe(ignored);
  });

  it("walks an ignored directory only when an exception may reach inside", () => {
    expect(mayReincludeBelow(rules, "docs")).toBe(true);
    expect(mayReincludeBelow(rules, "node_modules")).toBe(false);
  });
});
