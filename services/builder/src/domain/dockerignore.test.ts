import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cleanPath,
  DockerignoreError,
  isIgnored,
  maxDockerignorePatternLength,
  maxDockerignorePatterns,
  mayReincludeBelow,
  parseDockerignore,
} from "./dockerignore.js";

/**
 * Docker's own matcher, ported line by line from moby/patternmatcher (Pattern.compile, Pattern.match
 * and MatchesOrParentMatches) and buildkit's dockerignore.ReadAll: each pattern becomes a regular
 * expression, or an exact, prefix or suffix test. JavaScript's backtracking engine makes it
 * exponential, so it is only ever run on tiny inputs, as the oracle for the real matcher.
 */
function dockerReference(lines: string[], file: string): boolean {
  type P = { exclusion: boolean; cleaned: string };
  const patterns: P[] = [];
  for (const raw of lines) {
    if (raw.startsWith("#")) continue;
    let p = raw.trim();
    if (p === "") continue;
    const invert = p[0] === "!";
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p[0] === "/") p = p.slice(1);
    }
    // PatternMatcher.New: TrimSpace, Clean again, then the `!`.
    p = cleanPath((invert ? `!${p}` : p).trim());
    const exclusion = p[0] === "!";
    patterns.push({ exclusion, cleaned: exclusion ? p.slice(1) : p });
  }
  const compile = (pattern: string): ((path: string) => boolean) => {
    let reg = "^";
    let type: "exact" | "prefix" | "suffix" | "regexp" = "exact";
    const chars = Array.from(pattern);
    for (let k = 0, i = 0; k < chars.length; i++) {
      const ch = chars[k++] as string;
      if (ch === "*") {
        if (chars[k] === "*") {
          k++;
          if (chars[k] === "/") k++;
          if (k >= chars.length) {
            if (type === "exact") type = "prefix";
            else {
              reg += ".*";
              type = "regexp";
            }
          } else {
            reg += "(.*/)?";
            type = "regexp";
          }
          if (i === 0) type = "suffix";
        } else {
          reg += "[^/]*";
          type = "regexp";
        }
      } else if (ch === "?") {
        reg += "[^/]";
        type = "regexp";
      } else if (".+()|{}$".includes(ch)) {
        reg += `\\${ch}`;
      } else if (ch === "\\") {
        if (k < chars.length) {
          reg += `\\${chars[k++]}`;
          type = "regexp";
        } else reg += "\\\\";
      } else if (ch === "[" || ch === "]") {
        reg += ch;
        type = "regexp";
      } else reg += ch;
    }
    if (type === "exact") return (path) => path === pattern;
    if (type === "prefix") return (path) => path.startsWith(pattern.slice(0, -2));
    if (type === "suffix") {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix[0] === "/" && path === suffix.slice(1));
    }
    const re = new RegExp(`${reg}$`);
    return (path) => re.test(path);
  };
  const path = cleanPath(file);
  const parents = path.includes("/") ? path.split("/").slice(0, -1) : [];
  let matched = false;
  for (const p of patterns) {
    if (p.exclusion !== matched) continue;
    const match = compile(p.cleaned);
    let hit = match(path);
    for (let i = 0; !hit && i < parents.length; i++) hit = match(parents.slice(0, i + 1).join("/"));
    if (hit) matched = !p.exclusion;
  }
  return matched;
}

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
**.go
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
    // A leading `**` before plain text is Docker's suffix test.
    ["cmd/main.go", true],
  ])("%s ignored: %s", (path, ignored) => {
    expect(isIgnored(rules, path)).toBe(ignored);
    expect(
      dockerReference(
        ["node_modules", "/dist/", "*.log", "**/*.tmp", "docs/**", "!docs/keep.md", "secret?.txt", "[ab].bin", "**.go"],
        path,
      ),
    ).toBe(ignored);
  });

  it("walks an ignored directory only when an exception may reach inside", () => {
    expect(mayReincludeBelow(rules, "docs")).toBe(true);
    expect(mayReincludeBelow(rules, "node_modules")).toBe(false);
  });

  it("matches random patterns and names exactly as Docker's matcher does", () => {
    // Pieces of patterns and names drawn from a small alphabet, so that random ones collide often.
    const piece = fc.constantFrom("a", "b", "ab", ".", "/", "*", "**", "?", "[ab]", "[^a]", "[a-b]", "\\*", "./", "../", "]");
    const pattern = fc
      .tuple(fc.boolean(), fc.constantFrom("", "/", "./"), fc.array(piece, { minLength: 1, maxLength: 6 }))
      .map(([neg, lead, parts]) => `${neg ? "!" : ""}${lead}${parts.join("")}`);
    const segment = fc.array(fc.constantFrom("a", "b", ".", "*", "]", "ab"), { minLength: 1, maxLength: 3 }).map((p) => p.join(""));
    const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));
    let compared = 0;
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 4 }), fc.array(name, { minLength: 1, maxLength: 8 }), (lines, names) => {
        let ours: ReturnType<typeof parseDockerignore>;
        try {
          ours = parseDockerignore(lines.join("\n"));
        } catch (err) {
          // Docker refuses these too (filepath.Match's syntax check); the generator only makes ones it accepts.
          throw new Error(`refused ${JSON.stringify(lines)}: ${(err as Error).message}`);
        }
        for (const n of names) {
          if (cleanPath(n).startsWith("..") || cleanPath(n) === ".") continue;
          compared++;
          expect(isIgnored(ours, n), `${JSON.stringify(lines)} on ${n}`).toBe(dockerReference(lines, n));
        }
      }),
      { numRuns: 3000 },
    );
    expect(compared).toBeGreaterThan(5000);
  });

  it("refuses what Docker refuses, saying which line and what to do", () => {
    expect(() => parseDockerignore("ok\n[abc\n")).toThrow(
      /line 2: pattern "\[abc": malformed character class.*escape a literal "\[" as "\\\["/,
    );
    expect(() => parseDockerignore("[]a]")).toThrow(DockerignoreError);
    expect(() => parseDockerignore("[a-]")).toThrow(DockerignoreError);
    expect(() => parseDockerignore("a\\")).toThrow(
      '.dockerignore line 1: pattern "a\\": ends with a lone "\\"; remove it or escape it as "\\\\"',
    );
    expect(() => parseDockerignore("x\n!\n")).toThrow(/line 2: a lone "!" excludes nothing/);
  });

  it("caps the number and length of patterns with a clear error", () => {
    const many = Array.from({ length: maxDockerignorePatterns }, (_, i) => `f${i}`);
    expect(parseDockerignore(many.join("\n"))).toHaveLength(maxDockerignorePatterns);
    expect(() => parseDockerignore([...many, "one-more"].join("\n"))).toThrow(
      `.dockerignore has more than ${maxDockerignorePatterns} patterns; merge them with wildcards`,
    );
    expect(parseDockerignore("a".repeat(maxDockerignorePatternLength))).toHaveLength(1);
    expect(() => parseDockerignore(`ok\n${"a".repeat(maxDockerignorePatternLength + 1)}`)).toThrow(
      `.dockerignore line 2: the pattern is ${maxDockerignorePatternLength + 1} characters long; at most ${maxDockerignorePatternLength} are allowed`,
    );
  });

  it("cannot be made to backtrack: a pathological pattern against a long name finishes at once", () => {
    // The old regexp translation took 138 ms on a 40-character name and grew about n^7.
    const evil = parseDockerignore("**a**a**a**a**a**a**a**b\n*a*a*a*a*a*a*a*a*a*a*a*b\n");
    // CPU time, not wall time: on a loaded machine the wall clock measures the neighbours.
    const cpu0 = process.cpuUsage();
    expect(isIgnored(evil, "a".repeat(255))).toBe(false);
    expect(isIgnored(evil, `${"a".repeat(250)}/${"a".repeat(250)}/${"a".repeat(250)}`)).toBe(false);
    expect(isIgnored(evil, `${"a/".repeat(2000)}c`)).toBe(false);
    const used = process.cpuUsage(cpu0);
    expect((used.user + used.system) / 1000).toBeLessThan(50);
    // And it still matches where it should.
    expect(isIgnored(evil, `${"a".repeat(254)}b`)).toBe(true);
  });
});
