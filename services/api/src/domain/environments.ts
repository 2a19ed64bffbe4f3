import {
  type App,
  type Environment,
  EnvironmentExistsError,
  type JobQueues,
  NotFoundError,
  PRODUCTION,
  type Records,
  type Release,
  type SecretBox,
  secretContexts,
} from "@hoist/shared";
import { atLeast, type Role } from "../auth/roles.js";
import { ForbiddenError, StateConflictError } from "./errors.js";
import { enqueueDeploy } from "./releases.js";

interface EnvironmentDeps {
  records: Records;
  queues: JobQueues;
  secrets: SecretBox;
}

/** What the API shows of an environment: variables by name only, and what is live in it. */
interface EnvironmentView {
  name: string;
  target: App["target"];
  auto: boolean;
  requiredApprovals: number;
  freezes: Environment["freezes"];
  live?: { id: string; number: number; buildId: string; liveAt?: string };
}

export async function environmentView(records: Records, env: Environment): Promise<EnvironmentView> {
  const live = await records.releases.live(env.app, env.name);
  return {
    name: env.name,
    target: env.target,
    auto: env.auto,
    requiredApprovals: env.requiredApprovals,
    freezes: env.freezes,
    ...(live ? { live: { id: live.id, number: live.number, buildId: live.buildId, ...(live.liveAt ? { liveAt: live.liveAt } : {}) } } : {}),
  };
}

export async function requireEnvironment(records: Records, app: App, name: string): Promise<Environment> {
  const env = await records.environments.get(app, name);
  if (!env) throw new NotFoundError(`app ${app.name} has no environment ${name}`);
  return env;
}

/** Seals an environment's variables for its deploy unit (production's: the app's own context). */
export async function sealEnvironmentVars(secrets: SecretBox, app: string, environment: string, vars: Record<string, string>) {
  return secrets.seal(JSON.stringify(vars), secretContexts.environmentEnv(app, environment));
}

interface CreateInput {
  name: string;
  target: App["target"];
  env?: Record<string, string> | undefined;
  auto?: boolean | undefined;
  requiredApprovals?: number | undefined;
  freezes?: Environment["freezes"] | undefined;
}

/** Creates an environment other than production; 409 when the name is taken. */
export async function createEnvironment(deps: EnvironmentDeps, app: App, input: CreateInput): Promise<Environment> {
  const env =
    input.env && Object.keys(input.env).length ? await sealEnvironmentVars(deps.secrets, app.name, input.name, input.env) : undefined;
  try {
    return await deps.records.environments.create(app, {
      name: input.name,
      target: input.target,
      ...(env ? { env } : {}),
      ...(input.auto !== undefined ? { auto: input.auto } : {}),
      ...(input.requiredApprovals !== undefined ? { requiredApprovals: input.requiredApprovals } : {}),
      ...(input.freezes !== undefined ? { freezes: input.freezes } : {}),
    });
  } catch (err) {
    if (err instanceof EnvironmentExistsError) throw new StateConflictError("conflict", err.message);
    throw err;
  }
}

/** Deletes an environment; production is the app itself and goes only with it. */
export async function deleteEnvironment(records: Records, app: App, name: string): Promise<void> {
  if (name === PRODUCTION)
    throw new StateConflictError(
      "production",
      `production is app ${app.name} itself: delete the app (DELETE /v1/apps/${app.name}) to remove it`,
    );
  if (!(await records.environments.delete(app.name, name))) throw new NotFoundError(`app ${app.name} has no environment ${name}`);
}

/** The images a promotion deploys: a release's (any environment of the app) or a succeeded build's. */
async function promotionSource(
  records: Records,
  app: App,
  from: { releaseId: string } | { buildId: string },
): Promise<{ buildId: string; images: Release["images"]; sourceReleaseId?: string }> {
  if ("releaseId" in from) {
    const release = await records.releases.get(from.releaseId);
    if (!release || release.app !== app.name) throw new NotFoundError(`release ${from.releaseId} of app ${app.name} not found`);
    return { buildId: release.buildId, images: release.images, sourceReleaseId: release.id };
  }
  const build = await records.builds.get(from.buildId);
  if (!build || build.app !== app.name) throw new NotFoundError(`build ${from.buildId} of app ${app.name} not found`);
  if (build.status !== "succeeded" || !build.images?.length)
    throw new StateConflictError(
      "build_not_succeeded",
      `build ${build.id} is ${build.status}, with no images to promote: only a succeeded build's can be`,
    );
  return { buildId: build.id, images: build.images };
}

/**
 * Promotes a release or a build into an environment: a new release there with the same images
 * (same tags and digests: nothing is rebuilt) and that environment's variables as they are now,
 * then its deploy (which meets the environment's approvals and freezes like any other release).
 */
export async function promoteToEnvironment(
  deps: EnvironmentDeps,
  app: App,
  environment: Environment,
  from: { releaseId: string } | { buildId: string },
  role: Role | undefined,
): Promise<Release> {
  // The route table lets a deployer promote; into a protected environment only a maintainer may.
  if (environment.requiredApprovals > 0 && !atLeast(role, "maintainer"))
    throw new ForbiddenError(
      `environment ${environment.name} of app ${app.name} requires approvals: promoting into it takes the maintainer role on the app`,
    );
  const source = await promotionSource(deps.records, app, from);
  const release = await deps.records.releases.create({
    app: app.name,
    environment: environment.name,
    buildId: source.buildId,
    images: source.images,
    ...(environment.env ? { env: environment.env } : {}),
    ...(source.sourceReleaseId ? { sourceReleaseId: source.sourceReleaseId } : {}),
  });
  await enqueueDeploy(deps, release.id);
  return release;
}
