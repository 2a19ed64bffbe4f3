#!/usr/bin/env node
// Exports of packages/*/src and services/*/src that no other file uses: dead ones to delete, and
// ones only their own file uses to make private. Uses the TypeScript compiler the repo already has:
// every identifier of every TypeScript file (tests, test/, bench included) is resolved to the
// declaration it names; a re-export (`export ... from`) is not a use. Names that the JavaScript
// entry points (scripts/*.mjs, bench/**/*.mjs, packages/cli/bin) mention count as used.
// Exits 1 when it finds any, listing each as file:line name.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Exports kept on purpose, as `path#name`, with the reason beside each. */
const KEEP = new Map([
  // Named by the emitted types of buildQueue, deployQueue and notifyQueue (TS4023 without it).
  ["packages/shared/src/queues/define.ts#QueueDefinition", "named by emitted types"],
]);

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const tsFiles = ["packages", "services", "test", "bench", "scripts"]
  .flatMap((d) => walk(join(root, d)))
  .filter((f) => /\.tsx?$/.test(f) && !f.endsWith(".d.ts"));
const jsText = ["scripts", "bench", "packages/cli/bin"]
  .flatMap((d) => walk(join(root, d)))
  .filter((f) => /\.(mjs|js)$/.test(f) && f !== fileURLToPath(import.meta.url))
  .map((f) => readFileSync(f, "utf8"))
  .join("\n");

const base = ts.getParsedCommandLineOfConfigFile(
  join(root, "tsconfig.base.json"),
  {},
  { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
);
const program = ts.createProgram(tsFiles, { ...base.options, noEmit: true });
const checker = program.getTypeChecker();

const isChecked = (file) => {
  const rel = relative(root, file);
  return /^(packages|services)\/[^/]+\/src\//.test(rel) && !/\.test\.ts$/.test(rel);
};

/** The exports to account for: declared in a checked file (a re-export is not a declaration). */
const exported = [];
for (const sf of program.getSourceFiles()) {
  if (!isChecked(sf.fileName)) continue;
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  if (!moduleSymbol) continue;
  for (const exp of checker.getExportsOfModule(moduleSymbol)) {
    if (exp.flags & ts.SymbolFlags.Alias || exp.escapedName === "default") continue;
    const decl = exp.declarations?.[0];
    if (decl && decl.getSourceFile() === sf) exported.push({ sf, exp, decl });
  }
}
const names = new Set(exported.map((e) => e.exp.name));

/** The files whose identifiers name each symbol, resolved through imports. */
const usedFrom = new Map();
function markUse(symbol, file) {
  if (!symbol) return;
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  for (const s of [symbol, target]) {
    const files = usedFrom.get(s) ?? new Set();
    files.add(file);
    usedFrom.set(s, files);
  }
}
for (const sf of program.getSourceFiles()) {
  if (sf.isDeclarationFile || !tsFiles.includes(sf.fileName)) continue;
  const visit = (node) => {
    // A re-export passes a name on; only an import of it (or a use in its own file) is a use.
    if (ts.isExportDeclaration(node) && node.moduleSpecifier) return;
    if (ts.isIdentifier(node) && names.has(node.text)) {
      const parent = node.parent;
      const isDeclName = parent && parent.name === node && (ts.isDeclaration(parent) || ts.isVariableDeclaration(parent));
      if (!isDeclName) markUse(checker.getSymbolAtLocation(node), sf.fileName);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}

const findings = [];
const stillKept = new Set();
for (const { sf, exp, decl } of exported) {
  const rel = relative(root, sf.fileName);
  const files = usedFrom.get(exp) ?? new Set();
  const elsewhere = [...files].some((f) => f !== sf.fileName);
  if (elsewhere || new RegExp(`\\b${exp.name}\\b`).test(jsText)) continue;
  if (KEEP.has(`${rel}#${exp.name}`)) {
    stillKept.add(`${rel}#${exp.name}`);
    continue;
  }
  const line = sf.getLineAndCharacterOfPosition(decl.getStart()).line + 1;
  findings.push(
    `${rel}:${line} ${exp.name} (${files.has(sf.fileName) ? "only its own file uses it: drop `export`" : "unused: delete it"})`,
  );
}

const stale = [...KEEP.keys()].filter((k) => !stillKept.has(k));
if (stale.length) console.warn(`dead-exports: these KEEP entries are used (or gone) now; remove them:\n${stale.join("\n")}`);
if (findings.length) {
  console.error(`${findings.length} export(s) no other file uses:\n${findings.sort().join("\n")}`);
  process.exit(1);
}
console.log("dead-exports: every export of packages/*/src and services/*/src is used by another file");
