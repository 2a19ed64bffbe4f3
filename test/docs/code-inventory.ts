import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Express } from "express";
import { envSchema as apiEnv } from "../../services/api/src/config.js";
import { tokenEnvSchema as tokenEnv } from "../../services/api/src/registry-token/config.js";
import { envSchema as builderEnv } from "../../services/builder/src/config.js";
import { envSchema as deployerEnv } from "../../services/deployer/src/config.js";
import { envSchema as notifierEnv } from "../../services/notifier/src/config.js";
import { repoRoot } from "../support/processes.js";

type Schema = { shape?: Record<string, unknown>; def?: { in?: unknown; innerType?: unknown; schema?: unknown } };

/** The variable names a zod env schema parses, through refinements and transforms (a pipe's input). */
export function schemaKeys(schema: unknown): string[] {
  const s = schema as Schema;
  if (s.shape) return Object.keys(s.shape);
  for (const inner of [s.def?.in, s.def?.innerType, s.def?.schema]) if (inner) return schemaKeys(inner);
  throw new Error("an env schema that is neither an object nor wraps one: teach schemaKeys its shape");
}

/** Each service's env schema: what its config parses at start. */
export const serviceEnvSchemas = {
  api: apiEnv,
  builder: builderEnv,
  deployer: deployerEnv,
  notifier: notifierEnv,
  "registry token service": tokenEnv,
};

function sourceFiles(dir: string): string[] {
  return (readdirSync(join(repoRoot, dir), { recursive: true, encoding: "utf8" }) as string[])
    .filter((f) => /\.(ts|mjs|js)$/.test(f) && !/\.test\.ts$/.test(f))
    .filter((f) => !/(^|\/)(node_modules|dist|testing)(\/|$)/.test(f))
    .map((f) => join(repoRoot, dir, f));
}

export interface EnvRead {
  /** A name, or a pattern when the code builds the name (`HOIST_${name}_HEALTH_PORT`). */
  name: string | RegExp;
  file: string;
}

/**
 * Env names the code reads outside the config schemas: `HOIST_*` read through `process.env` or an
 * `env` object in services, packages and scripts; every name `pnpm start` (scripts/start*) reads;
 * `HOIST_*` names docker-compose.yml interpolates.
 */
export function envReadsInCode(): EnvRead[] {
  const out: EnvRead[] = [];
  const files = [...sourceFiles("services"), ...sourceFiles("packages"), ...sourceFiles("scripts")];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const rel = relative(repoRoot, file);
    const start = /^scripts\/start(\.mjs$|\/)/.test(rel);
    const names = start ? /\benv\.([A-Z][A-Z0-9_]*)\b/g : /\benv(?:\.|\[["'])(HOIST_[A-Z0-9_]*)\b/g;
    for (const m of text.matchAll(names)) out.push({ name: m[1] as string, file: rel });
    // Names built from a template: each ${...} stands for some upper-case part.
    for (const m of text.matchAll(/\benv\[`(HOIST_[A-Z0-9_${}.()a-zA-Z]*)`\]/g)) {
      const pattern = (m[1] as string).split(/\$\{[^}]*\}/).map((part) => part.replace(/[^A-Z0-9_]/g, ""));
      out.push({ name: new RegExp(`^${pattern.join("[A-Z0-9_]+")}$`), file: rel });
    }
  }
  const compose = readFileSync(join(repoRoot, "docker-compose.yml"), "utf8");
  for (const m of compose.matchAll(/\$\{(HOIST_[A-Z0-9_]*)/g)) out.push({ name: m[1] as string, file: "docker-compose.yml" });
  return out;
}

type Layer = {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  /** A router has a stack; a mounted express app (a sub-app) has one on its router. */
  handle?: { stack?: Layer[]; router?: { stack?: Layer[] } };
  rawPath?: unknown;
};

/**
 * `METHOD /path` of every route on an express 5 router stack, sub-routers included. A mount listed
 * in `opaque` (a third-party router such as the queue board) is one entry, `ALL <mount>/*`.
 */
export function routesOf(stack: Layer[], opaque: ReadonlySet<string>, base = ""): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const method of Object.keys(layer.route.methods)) for (const p of paths) out.push(`${method.toUpperCase()} ${base}${p}`);
    } else if (layer.handle?.stack ?? layer.handle?.router?.stack) {
      const sub = (layer.handle.stack ?? layer.handle.router?.stack) as Layer[];
      if (typeof layer.rawPath !== "string") throw new Error(`a router mounted on ${String(layer.rawPath)}: list its routes by hand`);
      const mount = `${base}${layer.rawPath === "/" ? "" : layer.rawPath}`;
      if (opaque.has(mount)) out.push(`ALL ${mount}/*`);
      else out.push(...routesOf(sub, opaque, mount));
    }
  }
  return out;
}

export function appStack(app: Express): Layer[] {
  return (app as unknown as { router: { stack: Layer[] } }).router.stack;
}
