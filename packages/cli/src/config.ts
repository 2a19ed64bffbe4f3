import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UsageError } from "./errors.js";

interface CliConfig {
  url: string;
  token: string;
}

function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "hoist", "config.json");
}

/** HOIST_URL and HOIST_TOKEN take precedence over what `hoist login` stored. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  let stored: Partial<CliConfig> = {};
  try {
    stored = JSON.parse(readFileSync(configPath(env), "utf8")) as Partial<CliConfig>;
  } catch {
    // No stored login: the environment must say where and who.
  }
  const url = env.HOIST_URL || stored.url;
  const token = env.HOIST_TOKEN || stored.token;
  if (!url || !token) throw new UsageError("not logged in: run `hoist login <url>`, or set HOIST_URL and HOIST_TOKEN");
  return { url: url.replace(/\/+$/, ""), token };
}

export function saveConfig(config: CliConfig, env: NodeJS.ProcessEnv = process.env): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
