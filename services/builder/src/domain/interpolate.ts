import { ComposeError } from "./compose-error.js";

/**
 * Compose's variable interpolation, with variables from the repository's `.env` only (never the
 * builder's own environment, which holds Hoist's secrets): `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for `$`.
 */
export function interpolate(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(/\$(\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, tok: string, braced?: string, bare?: string) => {
    if (tok === "$") return "$";
    if (bare !== undefined) return vars[bare] ?? "";
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])(.*))?$/s.exec(braced ?? "");
    if (!m) throw new ComposeError(`${where}: invalid interpolation format ${whole}`);
    const [, name, colon, op, arg = ""] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
    const value = vars[name];
    const unset = value === undefined || (colon === ":" && value === "");
    if (op === "-") return unset ? arg : (value as string);
    if (op === "?") {
      if (unset) throw new ComposeError(`${where}: required variable ${name} is missing a value${arg ? `: ${arg}` : ""}`);
      return value as string;
    }
    if (op === "+") return unset ? "" : arg;
    return value ?? "";
  });
}

/** Interpolates every string value (not keys) of a parsed YAML document. */
export function interpolateDeep(value: unknown, vars: Record<string, string>, path = ""): unknown {
  if (typeof value === "string") return interpolate(value, vars, path || "value");
  if (Array.isArray(value)) return value.map((v, i) => interpolateDeep(v, vars, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, vars, path ? `${path}.${k}` : k)]));
  }
  return value;
}

/** Parses a `.env` file: `KEY=VALUE` lines, `export ` allowed, quotes stripped, `#` comments. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2] as string;
    if ((v.startsWith('"') && v.endsWith('"') && v.length >= 2) || (v.startsWith("'") && v.endsWith("'") && v.length >= 2)) {
      v = v.slice(1, -1);
    } else {
      v = v.replace(/\s+#.*$/, "");
    }
    out[m[1] as string] = v;
  }
  return out;
}
