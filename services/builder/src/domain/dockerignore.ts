/**
 * `.dockerignore` semantics as Docker's patternmatcher implements them: patterns are
 * filepath.Match globs plus `**`; a leading `!` re-includes; the last matching pattern wins; a
 * pattern that matches a parent directory matches everything below it.
 */
export interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
  /** Literal directory prefix before the first wildcard, to tell whether an exception may reach inside a directory. */
  literalPrefix: string;
}

function globToRegex(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**` matches any number of directories, including none (`a/**/b` matches `a/b`).
        i++;
        if (glob[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c === "?") {
      re += "[^/]";
    } else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end === -1) {
        re += "\\[";
      } else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < glob.length) {
      i++;
      re += (glob[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${re}$`);
}

/** Cleans a pattern as Docker does: trims, drops a leading `/` and `./`, collapses `//` and `/.`. */
function cleanPattern(p: string): string {
  let out = p.trim().replace(/\/+/g, "/");
  while (out.startsWith("/")) out = out.slice(1);
  while (out.startsWith("./")) out = out.slice(2);
  out = out.replace(/\/$/, "");
  return out;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "" || raw.trimStart().startsWith("#")) continue;
    let line = raw.trim();
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1);
    const pattern = cleanPattern(line);
    if (pattern === "" || pattern === ".") continue;
    const wild = pattern.search(/[*?[\\]/);
    rules.push({ negate, regex: globToRegex(pattern), literalPrefix: wild === -1 ? pattern : pattern.slice(0, wild) });
  }
  return rules;
}

/** True when `path` (context-relative, POSIX, no leading `./`) is excluded by the rules. */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const parents: string[] = [];
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join("/"));
  let matched = false;
  for (const rule of rules) {
    if (rule.negate !== matched) continue; // cannot change the outcome
    const hit = rule.regex.test(path) || parents.some((p) => rule.regex.test(p));
    if (hit) matched = !rule.negate;
  }
  return matched;
}

/**
 * Whether a directory excluded by the rules must still be walked, because an exception (`!`)
 * could re-include something below it.
 */
export function mayReincludeBelow(rules: IgnoreRule[], dir: string): boolean {
  return rules.some(
    (r) => r.negate && (r.literalPrefix.startsWith(`${dir}/`) || `${dir}/`.startsWith(r.literalPrefix) || r.literalPrefix === ""),
  );
}
