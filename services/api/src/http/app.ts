import type { Logger, Redis } from "@hoist/shared";
import express, { type Express } from "express";
import { healthRouter } from "./health.js";

export interface AppDeps {
  redis: Redis;
  log: Logger;
}

export function createHttpApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.use(healthRouter(deps));
  return app;
}
