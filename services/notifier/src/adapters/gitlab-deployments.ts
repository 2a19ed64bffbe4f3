import { GitbeakerTimeoutError, Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, gitlabRequester, type OutboundFetch, outboundRefusal, type Redis } from "@hoist/shared";
import { z } from "zod";
import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";
import type { DeploymentStatus, DeploymentSubject } from "../domain/gitlab-deployment.js";
import { isRefusedTransition } from "../domain/gitlab-status.js";

const GITLAB_TIMEOUT_MS = 15_000;
/** A deployment's id is kept as long as a release's notify jobs can retry (a month: failed jobs' retention). */
const DEPLOYMENT_TTL_S = 30 * 24 * 3600;

const deploymentAnswer = z.object({ id: z.number(), status: z.string(), sha: z.string() }).loose();
const environmentAnswer = z.object({ id: z.number(), name: z.string(), external_url: z.string().nullable().optional() }).loose();

/**
 * A release's rollout as a GitLab deployment (https://docs.gitlab.com/api/deployments/): created
 * `running` (its environment made first, with the app's URL as external_url), then moved to
 * success, failed or canceled. The deployment's id is kept in Redis under the release; a job that
 * lost it (or ran before the one that creates it) finds the running deployment of that
 * environment and sha before creating one. GitLab refusing a repeated status counts as done.
 */
export class GitlabDeployments {
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(
    host: string,
    token: string,
    fetch: OutboundFetch,
    /** Where the deployment ids are kept: Redis, and the key of a release's (records/keys.ts gitlabDeployment). */
    private readonly store: { redis: Redis; keyOf: (releaseId: string) => string },
  ) {
    this.api = new Gitlab({ host, token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: gitlabRequester(fetch) });
  }

  /** Moves the release's deployment to `status`, creating it (running) first when there is none. */
  async set(projectId: number, subject: DeploymentSubject, status: DeploymentStatus): Promise<"set" | "already"> {
    const id = await this.ensure(projectId, subject);
    if (status === "running") return "set";
    return this.call(`deployment ${status}`, async () => {
      try {
        await this.api.Deployments.edit(projectId, id, status);
        return "set" as const;
      } catch (err) {
        if (err instanceof GitlabAnswerError && err.answerMatches((t) => isRefusedTransition(err.status, t))) return "already" as const;
        throw err;
      }
    });
  }

  private async ensure(projectId: number, s: DeploymentSubject): Promise<number> {
    const key = this.store.keyOf(s.releaseId);
    const stored = await this.store.redis.get(key);
    if (stored && /^\d+$/.test(stored)) return Number(stored);
    await this.environment(projectId, s);
    const existing = await this.call("deployments", async () =>
      z.array(deploymentAnswer).parse(
        await this.api.Deployments.all(projectId, {
          environment: s.environment,
          status: "running",
          orderBy: "id",
          sort: "desc",
          perPage: 100,
          maxPages: 1,
        }),
      ),
    );
    let id = existing.find((d) => d.sha === s.sha)?.id;
    if (id === undefined) {
      const created = await this.call("create deployment", async () =>
        deploymentAnswer.parse(await this.api.Deployments.create(projectId, s.environment, s.sha, s.ref, false, { status: "running" })),
      );
      id = created.id;
    }
    await this.store.redis.set(key, String(id), "EX", DEPLOYMENT_TTL_S);
    return id;
  }

  /** The environment named, created with the app's URL (or given it) as GitLab's external_url. */
  private async environment(projectId: number, s: DeploymentSubject): Promise<void> {
    const found = await this.call("environments", async () =>
      z.array(environmentAnswer).parse(await this.api.Environments.all(projectId, { name: s.environment })),
    );
    const env = found.find((e) => e.name === s.environment);
    if (!env) {
      await this.call("create environment", () =>
        this.api.Environments.create(projectId, s.environment, s.externalUrl ? { externalUrl: s.externalUrl } : {}),
      );
    } else if (s.externalUrl && env.external_url !== s.externalUrl) {
      const externalUrl = s.externalUrl;
      await this.call("edit environment", () => this.api.Environments.edit(projectId, env.id, { externalUrl }));
    }
  }

  /** GitLab's answers as delivery errors: permanent for a refused token or a bad request, transient otherwise. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const destination = `GitLab (${what})`;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof z.ZodError)
        throw new PermanentDeliveryError(`${destination} answered an unexpected shape: check the connection URL`);
      if (err instanceof GitlabAnswerError) {
        const { status } = err;
        if (status >= 300 && status < 400) throw new PermanentDeliveryError(err.describe(destination));
        const failure = classifyHttpAnswer(destination, status, err.fields.length ? `about: ${err.fields.join(", ")}` : "", err.retryAfter);
        if (failure && (status === 401 || status === 403)) {
          throw new PermanentDeliveryError(`${failure.message}: check the GitLab connection's token (it needs the api scope)`);
        }
        if (failure) throw failure;
      }
      const refusal = outboundRefusal(err);
      if (refusal) throw new PermanentDeliveryError(`GitLab ${refusal.message}`);
      if (err instanceof GitbeakerTimeoutError) throw new TransientDeliveryError(`GitLab did not answer within ${GITLAB_TIMEOUT_MS} ms`);
      throw new TransientDeliveryError(`GitLab did not answer (${networkReason(err)})`);
    }
  }
}
