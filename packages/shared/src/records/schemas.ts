import { z } from "zod";
import { freezesSchema } from "../environments/freezes.js";
import { environmentNameSchema, PRODUCTION } from "../environments/names.js";
import { idSchema, traceContextSchema } from "../queues/define.js";
import { sealedSchema } from "../secrets/sealed.js";

const isoTime = z.iso.datetime({ offset: true });

/** App names are DNS labels: they become image names, container labels and hostnames. */
export const appNameSchema = z
  .string()
  .min(1, "an app name is required")
  .max(63, "an app name is at most 63 characters")
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    "an app name is a DNS label: lowercase letters, digits and '-', not starting or ending with '-'",
  );

/** The most containers one service of a local-target app may run. */
export const MAX_REPLICAS = 20;

/** `PATCH /v1/apps/:app/scale`: containers (local) or ECS desiredCount per service. */
export const scaleSchema = z.record(
  z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "a service name"),
  z.number({ error: "a count is a whole number" }).int("a count is a whole number").min(0, "a count is not negative").max(1000),
);

const localServiceSchema = z
  .object({
    /** Where Caddy listens for the service; optional when `hosts` is set (served on those host names only, as previews are). */
    port: z.number().int().min(1).max(65535).optional(),
    healthPath: z.string().startsWith("/", "healthPath starts with '/'").max(512).optional(),
    healthTimeout: z.number().int().min(1).max(3600).optional(),
    /** Memory limit in MiB (default 512); the container is OOM-killed past it. */
    memoryMb: z
      .number()
      .int()
      .min(16)
      .max(1024 * 1024)
      .optional(),
    /** CPU limit in cores (default 1). */
    cpus: z.number().min(0.01).max(1024).optional(),
    /** Process (pids) limit (default 512): a fork bomb stops there. */
    pids: z.number().int().min(8).max(1_000_000).optional(),
    /** `uid[:gid]` or a user name of the image; default: the image's user, or 65534:65534 (nobody) when that is root. */
    user: z
      .string()
      .regex(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$/, "user is uid[:gid] or a user name")
      .max(64)
      .optional(),
    /** Read-only root filesystem (a tmpfs at /tmp stays writable). */
    readOnly: z.boolean().optional(),
    /** Containers serving the service behind Caddy (default 1); the app's `scale` overrides it. */
    replicas: z.number().int().min(1, "replicas is at least 1").max(MAX_REPLICAS, `replicas is at most ${MAX_REPLICAS}`).optional(),
    /** Host names Caddy also serves the service on (a host-matched route beside the port). */
    hosts: z
      .array(
        z
          .string()
          .regex(
            /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
            "a host is a lowercase DNS name such as web.example.com",
          ),
      )
      .min(1)
      .max(50)
      .optional(),
    /** How the hosts are served over TLS: Caddy's internal CA, or its automatic HTTPS (ACME, the default). */
    tls: z.enum(["internal", "acme"], { error: 'tls is "internal" or "acme"' }).optional(),
  })
  .strict()
  .refine((s) => s.port !== undefined || (s.hosts?.length ?? 0) > 0, {
    message:
      'a service needs a port (where Caddy listens for it) or hosts (host names Caddy serves it on): set port, or hosts such as ["web.example.com"]',
    path: ["port"],
  });

const localTargetSchema = z
  .object({
    kind: z.literal("local"),
    services: z.record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/), localServiceSchema).default({}),
  })
  .strict();

const ecsTargetSchema = z
  .object({
    kind: z.literal("ecs"),
    cluster: z.string().min(1).max(255),
    service: z.string().min(1).max(255),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "an AWS region such as eu-west-1")
      .optional(),
    containers: z.record(z.string(), z.string().min(1)).optional(),
    /**
     * A review app's own service (`service` is `<base>-mr-<iid>`): created from this base service
     * (its task definition, launch type and network) on the first deploy, deleted on teardown.
     * Only a service that names its base here is ever created or deleted by Hoist.
     */
    previewOf: z.string().min(1).max(255).optional(),
    rolloutTimeout: z
      .number()
      .int()
      .min(30)
      .max(24 * 3600)
      .optional(),
  })
  .strict();

export const targetSchema = z.discriminatedUnion("kind", [localTargetSchema, ecsTargetSchema]);

/**
 * How an app's images are built: the network a step sees (the engine's bridge, or `none` for a
 * Dockerfile that needs none; never the host's) and the limits of every build. Unset values take
 * the builder's defaults (HOIST_BUILD_*), which are also the most a build gets.
 */
export const buildSettingsSchema = z
  .object({
    network: z.enum(["bridge", "none"], { error: 'network is "bridge" (the default) or "none"' }).optional(),
    memoryMb: z
      .number({ error: "memoryMb is a whole number of MiB" })
      .int("memoryMb is a whole number of MiB")
      .min(64, "memoryMb is at least 64")
      .max(1024 * 1024, "memoryMb is at most 1048576 (1 TiB)")
      .optional(),
    cpus: z.number({ error: "cpus is a number of cores" }).min(0.1, "cpus is at least 0.1").max(1024, "cpus is at most 1024").optional(),
    pids: z
      .number({ error: "pids is a whole number of processes" })
      .int("pids is a whole number of processes")
      .min(32, "pids is at least 32")
      .max(1_000_000, "pids is at most 1000000")
      .optional(),
    timeoutMinutes: z
      .number({ error: "timeoutMinutes is a whole number of minutes" })
      .int("timeoutMinutes is a whole number of minutes")
      .min(1, "timeoutMinutes is at least 1")
      .max(24 * 60, "timeoutMinutes is at most 1440 (24 h)")
      .optional(),
  })
  .strict();

/** The placeholders a preview host template may hold; `{iid}` is required (each preview its own host). */
const PREVIEW_HOST_PLACEHOLDERS = ["{iid}", "{app}", "{domain}"] as const;
const DEFAULT_PREVIEW_HOSTS = "mr-{iid}.{app}.{domain}";
const dnsName = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** The preview host of merge request `iid` from a `previews.hosts` template (`{domain}`: HOIST_APPS_DOMAIN). */
export function previewHost(template: string, vars: { iid: number; app: string; domain: string }): string {
  return template.replaceAll("{iid}", String(vars.iid)).replaceAll("{app}", vars.app).replaceAll("{domain}", vars.domain);
}

const previewHostsSchema = z
  .string()
  .min(1, "hosts is a host name template such as mr-{iid}.{app}.{domain}")
  .max(253, "hosts is at most 253 characters")
  .refine((t) => t.includes("{iid}"), "hosts must contain {iid}, so each merge request gets a host of its own")
  .refine(
    (t) => !/\{[^}]*\}/.test(PREVIEW_HOST_PLACEHOLDERS.reduce((s, p) => s.replaceAll(p, ""), t)),
    "hosts may only use the placeholders {iid}, {app} and {domain}",
  )
  .refine(
    (t) => dnsName.test(previewHost(t, { iid: 1, app: "app", domain: "example.com" })),
    "hosts must make a lowercase DNS name (letters, digits, '-' and '.') once {iid}, {app} and {domain} are filled in",
  );

/**
 * An app's review apps (docs/previews.md): each merge request's preview is the environment `mr-<iid>`,
 * copied from `from` with `env` (sealed, secretContexts.previewEnv) layered on its variables.
 */
export const previewSettingsSchema = z
  .object({
    enabled: z.boolean({ error: "enabled is true or false" }).default(false),
    /** The environment a preview copies its target and variables from. */
    from: environmentNameSchema.default(PRODUCTION),
    /** A preview with no update for this long is stopped. */
    ttlHours: z
      .number({ error: "ttlHours is a whole number of hours" })
      .int("ttlHours is a whole number of hours")
      .min(1, "ttlHours is at least 1")
      .max(24 * 90, "ttlHours is at most 2160 (90 days)")
      .default(72),
    /** At most this many previews at once: a new one stops the least recently updated. */
    max: z
      .number({ error: "max is a whole number of previews" })
      .int("max is a whole number of previews")
      .min(1, "max is at least 1")
      .max(100, "max is at most 100")
      .default(5),
    hosts: previewHostsSchema.default(DEFAULT_PREVIEW_HOSTS),
    /** Overrides of the `from` environment's variables, sealed as one JSON object; a fork's preview gets only these. */
    env: sealedSchema.optional(),
    /** The names of the variables in `env` (shown by the API; their values never are). */
    envKeys: z.array(z.string().max(255)).max(500).optional(),
    /** Build merge requests from forks (their previews never get the `from` environment's variables). */
    forks: z.boolean({ error: "forks is true or false" }).default(false),
  })
  .strict();
export type PreviewSettings = z.infer<typeof previewSettingsSchema>;

/** An app's preview settings, the defaults for an app that never set any. */
export function previewSettingsOf(app: Pick<App, "previews">): PreviewSettings {
  return app.previews ?? previewSettingsSchema.parse({});
}

export const appSchema = z.object({
  name: appNameSchema,
  /** Branch filter: a branch name or a GitLab-style wildcard such as `release/*`. */
  branch: z.string().min(1).max(255),
  repo: z.object({
    sshUrl: z.string().min(1),
    projectId: z.number().int().positive().optional(),
  }),
  target: targetSchema,
  /** `running` (default): a newer push cancels the ref's queued and running builds; `queued`: only queued ones. */
  supersede: z.enum(["running", "queued"]).default("running"),
  tagBuilds: z.boolean().default(true),
  buildTimeoutSec: z
    .number()
    .int()
    .min(30)
    .max(24 * 3600)
    .default(1800),
  build: buildSettingsSchema.optional(),
  /** Replicas (local) or desiredCount (ECS) per service set by `PATCH /v1/apps/:app/scale`. */
  scale: scaleSchema.optional(),
  /** Webhook routing id: the unguessable last segment of the app's webhook URL. */
  hookId: z.string().optional(),
  /** scrypt/sha256 digest of the webhook token; the token itself is shown once. */
  webhookTokenHash: z.string().optional(),
  /** Standard Webhooks signing secret (`whsec_...`), when the GitLab hook signs its deliveries. */
  signingSecret: sealedSchema.optional(),
  deployKey: z
    .object({
      publicKey: z.string(),
      privateKey: sealedSchema,
    })
    .optional(),
  /** Pinned SSH host key lines (known_hosts format) of the git host. */
  hostKeys: z.array(z.string()).optional(),
  gitlab: z
    .object({
      connectionId: idSchema,
      projectId: z.number().int().positive(),
      hookId: z.number().int().positive().optional(),
      deployKeyId: z.number().int().positive().optional(),
      webUrl: z.string().optional(),
    })
    .optional(),
  /** App environment, sealed as one JSON object. */
  env: sealedSchema.optional(),
  slackWebhookUrl: sealedSchema.optional(),
  outgoingWebhook: z.object({ url: z.string().url(), secret: sealedSchema }).optional(),
  /** Review apps; absent: disabled (previewSettingsOf gives the defaults). */
  previews: previewSettingsSchema.optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type App = z.infer<typeof appSchema>;

export const buildStatuses = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export type BuildStatus = (typeof buildStatuses)[number];

const imageSchema = z.object({
  service: z.string(),
  tag: z.string(),
  digest: z.string().optional(),
});
export type Image = z.infer<typeof imageSchema>;

export const buildSchema = z.object({
  id: idSchema,
  app: appNameSchema,
  number: z.number().int().positive(),
  ref: z.string().min(1),
  sha: z.string().regex(/^[0-9a-f]{40}$/),
  /** The push's `before`: the commit this push moved the branch from. A push delivered late can
   * then be told from its successor (whose `before` is this build's `sha`). */
  before: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
  status: z.enum(buildStatuses),
  reason: z.string().optional(),
  trigger: z.enum(["push", "tag_push", "manual"]).default("manual"),
  commit: z
    .object({
      title: z.string().optional(),
      author: z.string().optional(),
      timestamp: z.string().optional(),
      url: z.string().optional(),
    })
    .optional(),
  noCache: z.boolean().optional(),
  images: z.array(imageSchema).optional(),
  logTail: z.array(z.string()).optional(),
  /** The release it made first (production's, for an app with only production). */
  releaseId: idSchema.optional(),
  /** Every release it made: one per environment with `auto: true` when it succeeded. */
  releases: z.array(z.object({ environment: environmentNameSchema, id: idSchema })).optional(),
  /** A merge request's preview build: it releases only into that MR's preview environment `mr-<iid>`. */
  preview: z.object({ iid: z.number().int().positive() }).strict().optional(),
  /** Set when a user asked for the cancel (as opposed to a superseding push). */
  canceledBy: z.enum(["user", "superseded"]).optional(),
  trace: traceContextSchema.optional(),
  createdAt: isoTime,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
});
export type Build = z.infer<typeof buildSchema>;

export const releaseStatuses = [
  "pending",
  "awaiting_approval",
  "frozen",
  "deploying",
  "live",
  "retired",
  "failed",
  "rolled_back",
  "rejected",
] as const;
export type ReleaseStatus = (typeof releaseStatuses)[number];

/** How a person acted on a release: the API (a personal token), the CLI, the dashboard or a Slack button. */
const approvalViaSchema = z.enum(["api", "cli", "dashboard", "slack"]);

/** One person's approval: `by` is the person (`user:<GitLab user id>`), counted once however often they approve. */
const approvalSchema = z.object({
  by: z.string().min(1).max(128),
  name: z.string().max(255),
  via: approvalViaSchema,
  at: isoTime,
});
export type Approval = z.infer<typeof approvalSchema>;

export const releaseSchema = z.object({
  id: idSchema,
  app: appNameSchema,
  number: z.number().int().positive(),
  buildId: idSchema,
  /** The environment it deploys to; a release stored before environments has none: production. */
  environment: environmentNameSchema.default(PRODUCTION),
  status: z.enum(releaseStatuses),
  reason: z.string().optional(),
  images: z.array(imageSchema),
  /** The app environment at release time, sealed. */
  env: sealedSchema.optional(),
  /** For promote and rollback: the release this one re-deploys. */
  sourceReleaseId: idSchema.optional(),
  /** For a rollback: the live release it undoes; when this one goes live, that one becomes `rolled_back`. */
  rollbackOf: idSchema.optional(),
  trace: traceContextSchema.optional(),
  /** The approvals its environment asked for when it was held (`awaiting_approval`), and those given. */
  requiredApprovals: z.number().int().min(0).optional(),
  approvals: z.array(approvalSchema).optional(),
  /** Who rejected it (`rejected`), how and why. */
  rejection: approvalSchema.extend({ reason: z.string().min(1).max(1000) }).optional(),
  /** `frozen`: when the freeze that holds it ends, and which freeze it is. */
  frozenUntil: isoTime.optional(),
  freeze: z.string().max(500).optional(),
  /** An operator's deploy-now through a freeze: who, why and when. */
  override: z
    .object({ by: z.string().min(1).max(128), name: z.string().max(255), reason: z.string().min(1).max(1000), at: isoTime })
    .optional(),
  createdAt: isoTime,
  deployingAt: isoTime.optional(),
  liveAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
});
export type Release = z.infer<typeof releaseSchema>;

/**
 * An environment of an app, as stored (`records/keys.ts` environment). Production's record holds only
 * its policy (auto, approvals, freezes): its target, variables and scale are the app record's own,
 * so an app made before environments is its production without anything moved. Every other
 * environment has its own target and variables (sealed for its deploy unit, environments/names.ts).
 */
export const environmentSchema = z.object({
  app: appNameSchema,
  name: environmentNameSchema,
  target: targetSchema.optional(),
  /** The environment's variables, sealed as one JSON object (the app's `env` for production). */
  env: sealedSchema.optional(),
  /** A successful build deploys to it (default: true for production, the first environment). */
  auto: z.boolean(),
  /** Distinct people who must approve a release before it deploys (0: none). */
  requiredApprovals: z.number().int().min(0).max(20).default(0),
  freezes: freezesSchema.default([]),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type EnvironmentRecord = z.infer<typeof environmentSchema>;

const previewStatuses = ["building", "deploying", "live", "failed", "refused", "stopping", "stopped"] as const;
export type PreviewStatus = (typeof previewStatuses)[number];

/**
 * The preview of merge request `!iid` of an app (records/keys.ts preview), whose deployment is the
 * environment `mr-<iid>`. Its status moves only through records/lifecycle/previews.ts.
 */
export const previewSchema = z.object({
  app: appNameSchema,
  iid: z.number().int().positive(),
  status: z.enum(previewStatuses),
  /** The MR commit it shows (or is building). */
  sha: z.string().regex(/^[0-9a-f]{40}$/),
  url: z.string().max(2048).optional(),
  mrUrl: z.string().max(2048).optional(),
  title: z.string().max(300).optional(),
  sourceBranch: z.string().min(1).max(255),
  fork: z.boolean(),
  buildId: idSchema.optional(),
  /** Why it failed, was refused or stopped. */
  reason: z.string().max(1000).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Preview = z.infer<typeof previewSchema>;

export const gitlabConnectionSchema = z.object({
  id: idSchema,
  url: z.string().url(),
  token: sealedSchema,
  username: z.string(),
  createdAt: isoTime,
});
export type GitlabConnection = z.infer<typeof gitlabConnectionSchema>;
