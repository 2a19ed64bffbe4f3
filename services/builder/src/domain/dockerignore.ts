import { ComposeError } from "./compose-error.js";

/**
 * `.dockerignore` semantics as Docker implements them (buildkit's dockerignore reader and
 * moby/patternmatcher): `*` and `?` stop at `/`, `**` spans directories, `[...]` classes, `\`
 * escapes; a leading `!` re-includes; the last matching pattern wins; a pattern that matches a
 * parent directory matches everything below it.
 *
 * Docker compiles each pattern to a regular expression. A backtracking engine (JavaScript's) turns
 * that into a denial of service: `**a**a**a**b` against a long name takes hours. Each pattern here is
 * compiled to a small program for a Thompson NFA instead, run over the path once with a set of
 * live states, so matching costs at most O(pattern length × path length), whatever the input.
 */

/** More patterns than this, or a longer pattern, is refused: the cost of matching grows with both. */
export const maxDockerignorePatterns = 1000;
export const maxDockerignorePatternLength = 1024;

export class DockerignoreError extends ComposeError {
  override name = "DockerignoreError";
}

/** One instruction: consume a code point that `test` accepts, fork, or accept. */
type Op =
  | { op: "char"; test: (cp: number) => boolean }
  | { op: "split"; a: number; b: number }
  | { op: "jmp"; to: number }
  | { op: "match" };

interface IgnoreRule {
  negate: boolean;
  /** The cleaned pattern, as Docker keeps it. */
  pattern: string;
  program: Machine;
  /** Literal directory prefix before the first wildcard, to tell whether an exception may reach inside a directory. */
  literalPrefix: string;
}

const SLASH = 0x2f;
const notSlash = (cp: number) => cp !== SLASH;
// Docker's `**` is Go's `.*` (which would stop at a newline in a name) or a plain prefix or suffix
// test (which would not); names with newlines are too rare to be worth the split, so `**` takes all.
const any = () => true;
const cp = (s: string) => s.codePointAt(0) as number;

/** Parses `[...]` starting after the `[`; returns the predicate and the index after `]`. Errors as Go's filepath.Match does. */
function parseClass(chars: string[], start: number, pattern: string): { test: (cp: number) => boolean; next: number } {
  let i = start;
  const negate = chars[i] === "^";
  if (negate) i++;
  const ranges: [number, number][] = [];
  const bad = () =>
    new DockerignoreError(
      `pattern "${pattern}": malformed character class (an unclosed "[", an empty "[]" or a stray "-"); escape a literal "[" as "\\["`,
    );
  const single = (): number => {
    let c = chars[i];
    if (c === undefined || c === "-" || c === "]") throw bad();
    if (c === "\\") {
      i++;
      c = chars[i];
      if (c === undefined) throw bad();
    }
    i++;
    return cp(c);
  };
  for (;;) {
    if (chars[i] === "]" && ranges.length > 0) {
      i++;
      break;
    }
    const lo = single();
    let hi = lo;
    if (chars[i] === "-") {
      i++;
      hi = single();
    }
    ranges.push([lo, hi]);
  }
  const inSet = (c: number) => ranges.some(([lo, hi]) => lo <= c && c <= hi);
  return { test: negate ? (c) => !inSet(c) : inSet, next: i };
}

/** Compiles a cleaned pattern to an NFA program with Docker's meaning of every construct. */
function compile(pattern: string): Op[] {
  const chars = Array.from(pattern);
  const prog: Op[] = [];
  const star = (test: (cp: number) => boolean) => {
    // L: split(L+1, L+3); L+1: char; L+2: jmp L; L+3:
    const at = prog.length;
    prog.push({ op: "split", a: at + 1, b: at + 3 }, { op: "char", test }, { op: "jmp", to: at });
  };
  // Docker turns a leading `**` followed by nothing but plain characters into a suffix test
  // (`**.go` matches `a.go` and `x/y.go`): `.*` then the literal is that same test.
  const plainRest = (from: number) => !chars.slice(from).some((c) => "*?[]\\".includes(c));
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === "*" && chars[i + 1] === "*") {
      const start = i;
      i++;
      // `**/` is taken as `**`.
      const slash = chars[i + 1] === "/";
      if (slash) i++;
      const leadingSuffix = start === 0 && !slash && plainRest(i + 1);
      if (i + 1 >= chars.length || leadingSuffix) {
        star(any);
      } else {
        // `**` inside a pattern is the regexp `(.*/)?`: any number of whole directories, or none.
        const at = prog.length;
        prog.push({ op: "split", a: at + 1, b: at + 6 });
        star(any);
        prog.push({ op: "char", test: (x) => x === SLASH }, { op: "jmp", to: at + 6 });
      }
    } else if (c === "*") {
      star(notSlash);
    } else if (c === "?") {
      prog.push({ op: "char", test: notSlash });
    } else if (c === "[") {
      const cls = parseClass(chars, i + 1, pattern);
      prog.push({ op: "char", test: cls.test });
      i = cls.next - 1;
    } else if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw new DockerignoreError(`pattern "${pattern}": ends with a lone "\\"; remove it or escape it as "\\\\"`);
      i++;
      const want = cp(next);
      prog.push({ op: "char", test: (x) => x === want });
    } else {
      const want = cp(c);
      prog.push({ op: "char", test: (x) => x === want });
    }
  }
  prog.push({ op: "match" });
  return prog;
}

/** A set of live NFA states, with the sets it steps to memoised per character (a lazily built DFA). */
interface DState {
  pcs: Int32Array;
  accepting: boolean;
  next: Map<number, DState>;
}

/** DFA states kept per pattern; past this, steps are still computed (in linear time) but not kept. */
const maxCachedStates = 2000;

/**
 * A pattern's program with every fork and jump resolved ahead (for each instruction, the
 * consuming or accepting instructions reachable without reading a character), and the DFA states
 * met so far, shared by every path matched against it.
 */
class Machine {
  private readonly closure: Int32Array[];
  private readonly states = new Map<string, DState>();
  readonly start: DState;

  constructor(private readonly prog: Op[]) {
    this.closure = prog.map((_, pc0) => {
      const out: number[] = [];
      const seen = new Set<number>();
      const stack = [pc0];
      while (stack.length) {
        const pc = stack.pop() as number;
        if (seen.has(pc)) continue;
        seen.add(pc);
        const op = prog[pc] as Op;
        if (op.op === "split") stack.push(op.b, op.a);
        else if (op.op === "jmp") stack.push(op.to);
        else out.push(pc);
      }
      return Int32Array.from(out);
    });
    this.start = this.state(this.closure[0] as Int32Array);
  }

  private state(pcs: Int32Array): DState {
    const key = pcs.join(",");
    const known = this.states.get(key);
    if (known) return known;
    const made: DState = { pcs, accepting: pcs.includes(this.prog.length - 1), next: new Map() };
    if (this.states.size < maxCachedStates) this.states.set(key, made);
    return made;
  }

  step(from: DState, c: number): DState {
    const known = from.next.get(c);
    if (known) return known;
    const live = new Set<number>();
    for (const pc of from.pcs) {
      const op = this.prog[pc] as Op;
      if (op.op === "char" && op.test(c)) for (const to of this.closure[pc + 1] as Int32Array) live.add(to);
    }
    const to = this.state(Int32Array.from([...live].sort((a, b) => a - b)));
    if (this.states.size < maxCachedStates) from.next.set(c, to);
    return to;
  }

  /** True when the pattern matches the whole path or any parent directory of it (a prefix ending before a `/`). */
  matchesOrParent(path: string): boolean {
    let s = this.start;
    for (let i = 0; i < path.length; i++) {
      const c = path.codePointAt(i) as number;
      if (c > 0xffff) i++;
      // A parent directory ends here: the pattern matching it excludes everything below.
      if (c === SLASH && s.accepting) return true;
      if (s.pcs.length === 0) return false;
      s = this.step(s, c);
    }
    return s.accepting;
  }
}

/** Go's filepath.Clean for `/`-separated paths. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
    } else out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** Reads a `.dockerignore` as buildkit does. Throws DockerignoreError, naming the line, for a pattern Docker refuses or one over the caps. */
export function parseDockerignore(text: string, fileName = ".dockerignore"): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    // Only a `#` in the first column starts a comment, as in buildkit.
    if (raw.startsWith("#")) continue;
    let line = raw.trim();
    if (line === "") continue;
    const where = `${fileName} line ${index + 1}`;
    const negated = line.startsWith("!");
    if (negated) {
      line = line.slice(1).trim();
      if (line === "") throw new DockerignoreError(`${where}: a lone "!" excludes nothing; write "!path" or remove the line`);
    }
    if (line.length > maxDockerignorePatternLength) {
      throw new DockerignoreError(
        `${where}: the pattern is ${line.length} characters long; at most ${maxDockerignorePatternLength} are allowed`,
      );
    }
    let pattern = cleanPath(line);
    if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    // Docker's matcher cleans the line again with its `!` still on, so `!..` eats the `!`
    // (`!../x` is `x`, an exclusion no more): kept, to match what Docker sends.
    let negate = negated;
    if (negated) {
      const again = cleanPath(`!${pattern}`);
      negate = again.startsWith("!");
      pattern = negate ? again.slice(1) : again;
    }
    if (rules.length >= maxDockerignorePatterns) {
      throw new DockerignoreError(`${fileName} has more than ${maxDockerignorePatterns} patterns; merge them with wildcards`);
    }
    let program: Machine;
    try {
      program = new Machine(compile(pattern));
    } catch (err) {
      if (err instanceof DockerignoreError) throw new DockerignoreError(`${where}: ${err.message}`);
      throw err;
    }
    const wild = pattern.search(/[*?[\\]/);
    rules.push({ negate, pattern, program, literalPrefix: wild === -1 ? pattern : pattern.slice(0, wild) });
  }
  return rules;
}

/** True when `path` (context-relative, POSIX, no leading `./`) is excluded by the rules. */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const file = cleanPath(path);
  if (file === ".") return false;
  let matched = false;
  for (const rule of rules) {
    if (rule.negate !== matched) continue; // cannot change the outcome
    if (rule.program.matchesOrParent(file)) matched = !rule.negate;
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
