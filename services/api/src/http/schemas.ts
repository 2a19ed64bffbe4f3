import {
  appNameSchema,
  buildSettingsSchema,
  isPreviewEnvironment,
  localRepoPath,
  previewSettingsSchema,
  targetSchema,
} from "@hoist/shared";
import { z } from "zod";
import { isValidGitRef } from "../domain/push-event.js";
import { parseSshUrl } from "../domain/ssh-url.js";

/** An SSH clone URL, or a local repository (allowed only with HOIST_LOCAL_REPOS: the route checks). */
const sshUrl = z
  .string()
  .max(1024)
  .refine(
    (u) => parseSshUrl(u) !== undefined || localRepoPath(u) !== undefined,
    "an SSH clone URL: git@host:group/app.git or ssh://user@host:port/group/app.git (with HOIST_LOCAL_REPOS also an absolute path or file:// URL of a local repository)",
  );

const branchFilter = z
  .string()
  .min(1, "a branch name or wildcard such as release/*")
  .max(255)
  .regex(/^[^\s~^:?[\\]+$/, "a branch name or wildcard such as release/*");

export const envVars = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names are letters, digits and '_', not starting with a digit"),
    z.string().max(65536),
  )
  .refine((e) => Object.keys(e).length <= 500, "at most 500 variables");

const httpUrl = z.url({ protocol: /^https?$/, error: "an http(s) URL" }).max(2048);

/** Fields both create and update accept. */
const settings = {
  branch: branchFilter,
  target: targetSchema,
  supersede: z.enum(["running", "queued"]),
  tagBuilds: z.boolean(),
  buildTimeoutSec: z
    .number()
    .int()
    .min(30)
    .max(24 * 3600),
  /** Network and limits of the app's builds; a PATCH replaces the whole object. */
  build: buildSettingsSchema,
  env: envVars.nullable(),
  slackWebhookUrl: httpUrl.nullable(),
  outgoingWebhook: z.object({ url: httpUrl }).strict().nullable(),
  signingSecret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{22,}={0,2}$/, "a Standard Webhooks signing secret: whsec_ followed by base64")
    .nullable(),
};

export const createAppSchema = z
  .object({
    name: appNameSchema,
    branch: settings.branch.default("main"),
    repo: z.object({ sshUrl, projectId: z.number().int().positive().optional() }).strict(),
    target: settings.target.default({ kind: "local", services: {} }),
    supersede: settings.supersede.optional(),
    tagBuilds: settings.tagBuilds.optional(),
    buildTimeoutSec: settings.buildTimeoutSec.optional(),
    build: settings.build.optional(),
    env: settings.env.optional(),
    slackWebhookUrl: settings.slackWebhookUrl.optional(),
    outgoingWebhook: settings.outgoingWebhook.optional(),
    signingSecret: settings.signingSecret.optional(),
  })
  .strict();

const previewFields = previewSettingsSchema.shape;

/**
 * `previews` in `PATCH /v1/apps/:app` (docs/previews.md): the fields given replace the app's, the
 * others stay; `env` replaces the overrides (sealed), `null` removes them.
 */
const previewSettingsInputSchema = z
  .object({
    enabled: previewFields.enabled.unwrap(),
    from: previewFields.from
      .unwrap()
      .refine((n) => !isPreviewEnvironment(n), "from names the environment previews copy, not a preview (mr-<number>)"),
    ttlHours: previewFields.ttlHours.unwrap(),
    max: previewFields.max.unwrap(),
    hosts: previewFields.hosts.unwrap(),
    env: envVars.nullable(),
    forks: previewFields.forks.unwrap(),
  })
  .partial()
  .strict();

export const updateAppSchema = z
  .object({
    branch: settings.branch,
    repo: z.object({ sshUrl, projectId: z.number().int().positive().optional() }).strict(),
    target: settings.target,
    supersede: settings.supersede,
    tagBuilds: settings.tagBuilds,
    buildTimeoutSec: settings.buildTimeoutSec,
    build: settings.build,
    env: settings.env,
    slackWebhookUrl: settings.slackWebhookUrl,
    outgoingWebhook: settings.outgoingWebhook,
    signingSecret: settings.signingSecret,
    previews: previewSettingsInputSchema,
  })
  .partial()
  .strict();

const commitSha = z.string().regex(/^[0-9a-f]{40}$/, "a full 40-character lowercase hex commit SHA");

/** Without `sha`, the API resolves `ref` on the app's repository. */
export const manualBuildSchema = z
  .object({
    ref: z
      .string()
      .min(1)
      .max(255)
      .refine((r) => !r.startsWith("-") && isValidGitRef(r), "a branch or tag name (or full ref) git accepts, such as main or v1.2")
      .refine((r) => !commitSha.safeParse(r).success, "a branch or tag: give the commit as sha"),
    sha: commitSha.optional(),
    /** Build every step again, ignoring the engine's layer cache. */
    noCache: z.boolean().optional(),
  })
  .strict();

export const gitlabConnectionInputSchema = z
  .object({
    url: httpUrl,
    token: z.string().min(1, "a GitLab personal, project or group access token").max(1024),
  })
  .strict();

export const gitlabLinkSchema = z
  .object({
    connection: z.string().min(1).max(64),
    projectId: z.number().int().positive(),
  })
  .strict();
