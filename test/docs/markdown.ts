import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** The text outside fenced code blocks: links and headings inside examples are not the page's own. */
export function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, "");
}

/** GitHub's anchor of a heading: lowercased, punctuation but '-' and '_' dropped, spaces to '-'. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a page offers, numbered as GitHub numbers repeated headings (`x`, `x-1`, ...). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative links of a page that name no existing file, or an anchor its target lacks. */
export function brokenLinks(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const broken: string[] = [];
  for (const m of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    const href = m[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
    const [path = "", anchor] = href.split("#", 2);
    const target = path === "" ? file : resolve(dirname(file), decodeURIComponent(path));
    if (!existsSync(target)) {
      broken.push(`${href}: no file ${target}`);
      continue;
    }
    if (anchor && target.endsWith(".md") && !anchors(readFileSync(target, "utf8")).has(anchor)) {
      broken.push(`${href}: no heading with anchor #${anchor} in ${target}`);
    }
  }
  return broken;
}

/** Names in the first cell of every table row of docs/configuration.md, with the rows they appear in. */
export function documentedVariables(markdown: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const m of prose(markdown).matchAll(/^\|([^|\n]*)\|/gm)) {
    for (const v of (m[1] as string).matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      const name = v[1] as string;
      rows.set(name, (rows.get(name) ?? 0) + 1);
    }
  }
  return rows;
}

/** Routes documented in docs/api.md: headings such as ### `POST /v1/apps`. */
export function documentedRoutes(markdown: string): string[] {
  return [...prose(markdown).matchAll(/^#{2,4} `([A-Z]+) ([^`]+)`\s*$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/** States of the Mermaid stateDiagram under a page's `## <heading>`, without `[*]`. */
export function diagramStates(markdown: string, heading: string): Set<string> {
  const section = markdown.split(/^## /m).find((part) => part.startsWith(`${heading}\n`)) ?? "";
  const diagram = /^```mermaid\nstateDiagram-v2\n([\s\S]*?)^```$/m.exec(section)?.[1] ?? "";
  const states = new Set<string>();
  for (const m of diagram.matchAll(/^\s*(\S+)\s+-->\s+([^\s:]+)/gm)) {
    for (const s of [m[1], m[2]]) if (s && s !== "[*]") states.add(s);
  }
  return states;
}
