import express, { type Express } from "express";
import type { ApiDeps } from "../deps.js";
import { requireApiToken } from "./auth.js";
import { errorHandler, notFoundHandler } from "./errors.js";
import { healthRouter } from "./health.js";
import { appsRouter } from "./routes/apps.js";
import { buildsRouter } from "./routes/builds.js";
import { gitlabRouter } from "./routes/gitlab.js";
import { releasesRouter } from "./routes/releases.js";
import { webhookRouter } from "./routes/webhooks.js";

export function createHttpApp(deps: ApiDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  // API answers are live state: no ETag hashing of every body.
  app.set("etag", false);
  app.use(healthRouter(deps));
  // Webhooks authenticate with their own per-app secret, so they are mounted before the API token check.
  app.use(webhookRouter(deps));
  const v1 = express.Router();
  v1.use(requireApiToken(deps.config.HOIST_API_TOKEN));
  v1.use(express.json({ limit: "256kb" }));
  v1.use(appsRouter(deps));
  v1.use(buildsRouter(deps));
  v1.use(gitlabRouter(deps));
  v1.use(releasesRouter(deps));
  app.use("/v1", v1);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
