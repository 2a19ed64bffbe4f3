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
    print: (text) => void stdout.write(`${text}\n`),
    data: (value, human) => void stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`),
    err: (text) => void stderr.write(`${text}\n`),
  };
}
