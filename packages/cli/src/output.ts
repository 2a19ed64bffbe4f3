/** Plain aligned columns for people; `--json` prints the API's data as it came for scripts. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const cell = (v: unknown) => (v === undefined || v === null ? "-" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}

export function keyValues(obj: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k.padEnd(width)}  ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join("\n");
}

/**
 * Makes text from the server safe to print on a terminal: every control character but newline and
 * tab (ESC, CR, backspace, BEL, DEL and the C1 set, which terminals read as commands: colours, cursor
 * moves, window titles, clipboard writes) is shown as a visible escape like `\x1b` instead.
 */
export function neutralise(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** JSON for scripts: JSON.stringify escapes C0 controls but leaves DEL and C1 raw; those are escaped too (still valid JSON). */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export interface Out {
  json: boolean;
  print(text: string): void;
  data(value: unknown, human: () => string): void;
  err(text: string): void;
}

export function makeOut(
  json: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Out {
  return {
    json,
    // Everything printed may hold what the server sent (build logs above all): neutralised on the way out.
    print: (text) => void stdout.write(`${neutralise(text)}\n`),
    data: (value, human) => void stdout.write(json ? `${safeJson(value)}\n` : `${neutralise(human())}\n`),
    err: (text) => void stderr.write(`${neutralise(text)}\n`),
  };
}
