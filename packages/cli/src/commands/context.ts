import type { ApiClient } from "../client.js";
import type { Out } from "../output.js";

export interface Options {
  json: boolean;
  follow: boolean;
  wait: boolean;
  repo?: string;
  branch?: string;
  "target-port"?: string;
  service?: string;
  sha?: string;
  connection?: string;
  timeout?: string;
  "no-cache": boolean;
  role?: string;
  apps?: string;
  expires?: string;
  app?: string;
  actor?: string;
  since?: string;
  jsonl: boolean;
  env?: string;
  reason?: string;
}

export interface CommandContext {
  args: string[];
  opts: Options;
  out: Out;
  client: () => ApiClient;
  env: NodeJS.ProcessEnv;
}
