import { ECRClient } from "@aws-sdk/client-ecr";
import { buildLogKey, followLog } from "@hoist/shared";
import { testRedis } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_AWS_CREDENTIALS } from "../../../../test/support/aws/json-server.js";
import { builderProcesses } from "../../../../test/support/builder/processes.js";
import { type BuilderWorld, builderWorld } from "../../../../test/support/builder/world.js";
import { type AuthRegistry, type EcrServer, startAuthRegistry, startEcrServer } from "../../../../test/support/ecr/index.js";
import { ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { BuildFailure } from "../domain/failure.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";
import { isEcrRegistry, resolvePushTarget } from "./registry.js";

const ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

describe("registry targets", () => {
  let registry: AuthRegistry;
  let ecr: EcrServer;
  let client: ECRClient;

  beforeAll(async () => {
    registry = await startAuthRegistry("AWS", "ecr-token-password-1");
    ecr = await startEcrServer({ proxyEndpoint: `http://${registry.host}`, password: registry.password });
    client = new ECRClient({
      region: "eu-west-1",
      endpoint: ecr.url,
      credentials: TEST_AWS_CREDENTIALS,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client?.destroy();
    await ecr?.close();
    await registry?.stop();
  });

  it("a plain registry: prefix, optional credentials, insecure flag", async () => {
    expect(isEcrRegistry("registry.example.com:5000/team")).toBe(false);
    expect(await resolvePushTarget({ HOIST_REGISTRY: "registry.example.com:5000/team/", HOIST_REGISTRY_INSECURE: false }, "web")).toEqual({
      prefix: "registry.example.com:5000/team",
      insecure: false,
    });
    const withAuth = await resolvePushTarget(
      { HOIST_REGISTRY: "r.example.com", HOIST_REGISTRY_USERNAME: "u", HOIST_REGISTRY_PASSWORD: "p", HOIST_REGISTRY_INSECURE: true },
      "web",
    );
    expect(withAuth.auth).toEqual({ username: "u", password: "p", serveraddress: "r.example.com" });
  });

  it("ECR: a fresh token per build, the repository created once, pushes go to the proxy endpoint", async () => {
    expect(isEcrRegistry(ECR)).toBe(true);
    const t1 = await resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, "shop", client);
    expect(t1).toEqual({
      prefix: registry.host,
      insecure: true,
      auth: { username: "AWS", password: "ecr-token-password-1", serveraddress: registry.host },
    });
    expect([...ecr.state.repositories.keys()]).toEqual(["shop"]);
    await resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, "shop", client);
    expect(ecr.state.requests.map((r) => r.target.split(".")[1])).toEqual([
      "GetAuthorizationToken",
      "DescribeRepositories",
      "CreateRepository",
      "GetAuthorizationToken",
      "DescribeRepositories",
    ]);
    expect(ecr.state.rejected).toEqual([]);
    expect(ecr.state.requests[0]?.body).toEqual({ registryIds: ["123456789012"] });
  });

  it("ECR errors: access denied is permanent, a throttle or server error is transient", async () => {
    ecr.state.failNext("GetAuthorizationToken", {
      status: 400,
      type: "AccessDeniedException",
      message: "User is not authorized to perform: ecr:GetAuthorizationToken",
    });
    const denied = await resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, "shop", client).catch((e) => e);
    expect(denied).toBeInstanceOf(BuildFailure);
    expect(denied.message).toBe(
      "push: ECR GetAuthorizationToken failed: AccessDeniedException: User is not authorized to perform: ecr:GetAuthorizationToken",
    );
    expect(denied.permanent).toBe(true);

    ecr.state.failNext("DescribeRepositories", { status: 500, type: "ServerException", message: "internal error" });
    const flaky = await resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, "shop", client).catch((e) => e);
    expect(flaky.message).toBe("push: ECR DescribeRepositories failed: ServerException: internal error");
    expect(flaky.permanent).toBe(false);
  });

  it("ECR refuses a wrong secret or an unknown key (SigV4 verified); the push fails for good with AWS's error", async () => {
    for (const [credentials, error] of [
      [
        { ...TEST_AWS_CREDENTIALS, secretAccessKey: "not-the-secret" },
        "InvalidSignatureException: The request signature we calculated does not match",
      ],
      [
        { accessKeyId: "AKIAUNKNOWNECR000001", secretAccessKey: "x" },
        "UnrecognizedClientException: The security token included in the request is invalid.",
      ],
    ] as const) {
      const wrong = new ECRClient({ region: "eu-west-1", endpoint: ecr.url, credentials, maxAttempts: 1 });
      try {
        const err = await resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, "shop", wrong).catch((e) => e);
        expect(err).toBeInstanceOf(BuildFailure);
        expect(err.message.startsWith(`push: ECR GetAuthorizationToken failed: ${error}`)).toBe(true);
        expect(err.permanent).toBe(true);
      } finally {
        wrong.destroy();
      }
    }
    expect(ecr.state.rejected.map((r) => r.type)).toEqual(["InvalidSignatureException", "UnrecognizedClientException"]);
  });

  describe("a build pushed through ECR", () => {
    let world: BuilderWorld;
    let builder: TestBuilder;
    beforeAll(async () => {
      await ensureBaseImages();
      world = await builderWorld("ecr");
      builder = await startTestBuilder(world, {
        pushTarget: (app) => resolvePushTarget({ HOIST_REGISTRY: ECR, HOIST_REGISTRY_INSECURE: false }, app, client),
      });
    }, 60_000);
    afterAll(async () => {
      await builder?.close();
      await world?.close();
    });

    it("lands in the htpasswd registry with the ECR token's credentials, and a wrong password fails the push", async () => {
      const sha = world.repo.commit({ Dockerfile: 'FROM busybox\nCMD ["echo", "via ecr"]\n' }, "ecr");
      const { app, buildId } = await world.createAppAndBuild({ sha });
      const { error } = await builder.run(buildId);
      expect(error).toBeUndefined();
      const build = await world.records.builds.require(buildId);
      expect(build.images).toEqual([{ service: "web", tag: `${registry.host}/${app}:web.1`, digest: expect.stringMatching(/^sha256:/) }]);
      expect(await registry.tags(app)).toEqual(["web.1"]);
      expect(ecr.state.repositories.has(app)).toBe(true);
      expect((await builder.logLines(buildId)).join("\n")).not.toContain(registry.password);

      ecr.state.password = "not-the-registry-password";
      try {
        const second = await world.createAppAndBuild({ sha });
        const res = await builder.run(second.buildId);
        expect(res.error?.message).toMatch(/^push web: registry refused the credentials: /);
        expect(res.error?.message).not.toContain("not-the-registry-password");
        expect((await world.records.builds.require(second.buildId)).status).toBe("failed");
      } finally {
        ecr.state.password = registry.password;
      }
    }, 90_000);
  });

  it("the builder process reaches ECR through the SDK's standard env (AWS_ENDPOINT_URL_ECR)", async () => {
    await ensureBaseImages();
    const world = await builderWorld("ecr-proc");
    const procs = builderProcesses(world);
    try {
      const proc = procs.start({
        HOIST_REGISTRY: ECR,
        HOIST_REGISTRY_INSECURE: "false",
        AWS_ENDPOINT_URL_ECR: ecr.url,
        AWS_ACCESS_KEY_ID: TEST_AWS_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_AWS_CREDENTIALS.secretAccessKey,
        AWS_REGION: "eu-west-1",
      });
      await proc.waitForLog(/"msg":"ready"/);
      const sha = world.repo.commit({ Dockerfile: 'FROM busybox\nCMD ["echo", "process"]\n' }, "ecr via env");
      const { app, buildId } = await world.createAppAndBuild({ sha });
      await world.queues.enqueue("build", { kind: "build", buildId });
      const blocking = testRedis();
      let end: string | undefined;
      for await (const e of followLog(blocking, buildLogKey(world.prefix, buildId), { blockMs: 500 })) if (e.kind === "end") end = e.status;
      blocking.disconnect();
      const build = await world.records.builds.require(buildId);
      expect({ end, status: build.status, reason: build.reason }).toEqual({ end: "succeeded", status: "succeeded", reason: undefined });
      expect(await registry.tags(app)).toEqual(["web.1"]);
      expect(proc.lines.join("\n")).not.toContain(registry.password);
    } finally {
      await procs.stopAll();
      await world.close();
    }
  }, 90_000);
});
