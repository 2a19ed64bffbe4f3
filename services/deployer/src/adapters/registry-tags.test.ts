import { ECRClient } from "@aws-sdk/client-ecr";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_AWS_CREDENTIALS } from "../../../../test/support/aws/index.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { type AuthRegistry, type EcrServer, startAuthRegistry, startEcrServer } from "../../../../test/support/ecr/index.js";
import { pushTestImage } from "../../../../test/support/registry/push.js";
import { createDocker } from "./clients.js";
import { DistributionTags, EcrTags, parseImageTag } from "./registry-tags.js";

/**
 * Tag removal against real registries: a registry v2 behind Basic auth (the Distribution API),
 * and ECR's BatchDeleteImage through the SDK at the ECR test server, whose storage is such a registry.
 */
const docker: Docker = createDocker();
const ACCOUNT = "123456789012";
let registry: AuthRegistry;
let ecr: EcrServer;
const images: string[] = [];
const pushed: string[] = [];
let a = "";
let b = "";

beforeAll(async () => {
  registry = await startAuthRegistry("AWS", "ecr-token-password-2");
  ecr = await startEcrServer({ proxyEndpoint: `http://${registry.host}`, password: registry.password, accountId: ACCOUNT });
  a = await buildHttpAppImage(docker, builderTag("regtags", "web", 1), "image a");
  b = await buildHttpAppImage(docker, builderTag("regtags", "web", 2), "image b");
  images.push(a, b);
}, 120_000);
afterAll(async () => {
  for (const t of [...pushed, ...images])
    await docker
      .getImage(t)
      .remove({ force: true })
      .catch(() => {});
  await ecr?.close();
  await registry?.stop();
});

const auth = () => ({ username: registry.username, password: registry.password, serveraddress: registry.host });
async function push(image: string, repo: string, tag: string) {
  const out = await pushTestImage(docker, image, repo, tag, auth());
  pushed.push(out.ref);
  return out;
}

describe("parseImageTag", () => {
  it("splits host, repository and tag, and names no tag for a digest reference", () => {
    expect(parseImageTag("127.0.0.1:5000/team/shop:web.3")).toEqual({ host: "127.0.0.1:5000", repository: "team/shop", tag: "web.3" });
    expect(parseImageTag("127.0.0.1:5000/shop@sha256:abc")).toBeUndefined();
    expect(parseImageTag("shop:web.1")).toBeUndefined();
  });
});

describe("DistributionTags (registry v2, Basic auth)", () => {
  it("deletes a tag's manifest; keeps a protected digest, a moved tag and another registry's tag; a gone tag is removed", async () => {
    const one = await push(a, "dist", "web.1");
    const two = await push(b, "dist", "web.2");
    const tags = new DistributionTags({ registry: registry.host, insecure: true, auth: auth() });
    const out = await tags.remove(
      [
        { service: "web", tag: one.ref, digest: one.digest },
        { service: "web", tag: two.ref, digest: two.digest },
        { service: "web", tag: `${registry.host}/dist:web.9` },
        { service: "web", tag: "elsewhere.example:5000/dist:web.1" },
      ],
      new Set([two.digest]),
    );
    expect(out).toEqual({
      removed: [one.ref, `${registry.host}/dist:web.9`],
      kept: [
        { tag: two.ref, reason: `another build or release of the app uses its image ${two.digest}` },
        { tag: "elsewhere.example:5000/dist:web.1", reason: `not a tag in Hoist's registry ${registry.host}` },
      ],
    });
    expect(await registry.tags("dist")).toEqual(["web.2"]);

    // web.3 now names image a, not the digest its build recorded: kept.
    await push(a, "dist", "web.3");
    expect(await tags.remove([{ service: "web", tag: `${registry.host}/dist:web.3`, digest: two.digest }], new Set())).toMatchObject({
      removed: [],
      kept: [{ reason: expect.stringMatching(/^the tag now points at sha256:[0-9a-f]{64}, not the build's /) }],
    });
    const denied = new DistributionTags({ registry: registry.host, insecure: true, auth: { ...auth(), password: "wrong" } });
    expect(await denied.remove([{ service: "web", tag: `${registry.host}/dist:web.3` }], new Set())).toEqual({
      removed: [],
      kept: [
        { tag: `${registry.host}/dist:web.3`, reason: "reading the tag was refused (401): the deployer's registry user may not delete" },
      ],
    });
    expect((await registry.tags("dist")).sort()).toEqual(["web.2", "web.3"]);
  }, 120_000);
});

describe("EcrTags (BatchDeleteImage through the SDK)", () => {
  it("removes tags alone (another tag of the same image stays), a missing one counts as gone; a denial keeps them with ECR's reason", async () => {
    ecr.state.repositories.set("shop", { createdAt: Date.now() });
    const one = await push(a, "shop", "web.1");
    const two = await push(b, "shop", "web.2");
    const three = await push(b, "shop", "web.3");
    const client = new ECRClient({ region: "eu-west-1", endpoint: ecr.url, credentials: TEST_AWS_CREDENTIALS, maxAttempts: 1 });
    const tags = new EcrTags({ registry: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, client });
    const out = await tags.remove(
      [
        { service: "web", tag: one.ref, digest: one.digest },
        { service: "web", tag: three.ref, digest: three.digest },
        { service: "web", tag: `${registry.host}/shop:web.8` },
      ],
      new Set(),
    );
    expect(out).toEqual({ removed: [one.ref, three.ref, `${registry.host}/shop:web.8`], kept: [] });
    expect(ecr.state.requests.at(-1)?.body).toEqual({
      registryId: ACCOUNT,
      repositoryName: "shop",
      imageIds: [{ imageTag: "web.1" }, { imageTag: "web.3" }, { imageTag: "web.8" }],
    });
    // web.2 (the same image as web.3) is still there; web.3 is gone from ECR's view.
    expect(ecr.state.untagged).toEqual(new Set(["shop:web.3"]));
    expect((await registry.tags("shop")).sort()).toEqual(["web.2", "web.3"]);
    expect(two.digest).toBe(three.digest);

    ecr.state.failNext("BatchDeleteImage", {
      status: 400,
      type: "AccessDeniedException",
      message: "not authorized to perform: ecr:BatchDeleteImage",
    });
    expect(await tags.remove([{ service: "web", tag: two.ref }], new Set())).toEqual({
      removed: [],
      kept: [{ tag: two.ref, reason: "ECR BatchDeleteImage: AccessDeniedException: not authorized to perform: ecr:BatchDeleteImage" }],
    });
    // A repository deleted meanwhile: nothing of it is left to remove.
    expect(await tags.remove([{ service: "web", tag: `${registry.host}/gone:web.1` }], new Set())).toEqual({
      removed: [`${registry.host}/gone:web.1`],
      kept: [],
    });
  }, 120_000);
});
