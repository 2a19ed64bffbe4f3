/** One Dockerfile instruction and the line it starts on (1-based), to name a failing step by its line. */
export interface Instruction {
  line: number;
  keyword: string;
  text: string;
}

/**
 * The escape character, as Docker reads it: parser directives are only the `# name=value` lines at
 * the very top, and the first other line (blank, comment or instruction) ends them. Reading one
 * further down would join lines Docker keeps apart, and hide an instruction from the checks.
 */
export function escapeOf(lines: string[]): string {
  let char = "\\";
  for (const line of lines) {
    const m = /^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(\S*)\s*$/.exec(line);
    if (!m) break;
    if ((m[1] as string).toLowerCase() === "escape" && m[2] === "`") char = "`";
  }
  return char;
}

/**
 * Splits a Dockerfile into instructions, joining `\` continuations and skipping comments and
 * blank lines, with each instruction's starting line number.
 */
export function parseInstructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const out: Instruction[] = [];
  let current: { line: number; parts: string[] } | undefined;
  const escapeChar = escapeOf(lines);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    if (!current && (trimmed === "" || trimmed.startsWith("#"))) continue;
    if (current && trimmed.startsWith("#")) continue;
    const continued = trimmed.endsWith(escapeChar);
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    if (!current) current = { line: i + 1, parts: [] };
    current.parts.push(body);
    if (!continued) {
      const textAll = current.parts.join(" ").trim();
      const keyword = (textAll.split(/\s+/)[0] ?? "").toUpperCase();
      out.push({ line: current.line, keyword, text: textAll });
      current = undefined;
    }
  }
  if (current) {
    const textAll = current.parts.join(" ").trim();
    out.push({ line: current.line, keyword: (textAll.split(/\s+/)[0] ?? "").toUpperCase(), text: textAll });
  }
  return out;
}

/**
 * The Dockerfile line of step `step` (1-based) of stage `stage` (0-based), as podman/buildah
 * number them: every instruction from a stage's FROM on is one step.
 */
export function lineOfStep(instructions: Instruction[], stage: number, step: number): Instruction | undefined {
  const stages: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") stages.push([]);
    // ARGs before the first FROM belong to no stage and are no step.
    stages[stages.length - 1]?.push(ins);
  }
  return stages[stage]?.[step - 1];
}
