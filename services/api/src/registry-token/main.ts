import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { bootService, listenOrExit, registrySecretOrExit } from "@hoist/shared";
import { tokenEnvSchema } from "./config.js";
import { signerFrom } from "./jwt.js";
import { createTokenServer } from "./server.js";

// The registry's token service: stateless (no Redis), so it starts before and apart from the API.
const { config, log, shutdown } = bootService("registry-token", tokenEnvSchema);
let signer: ReturnType<typeof signerFrom>;
const secret = registrySecretOrExit(config);
if (!secret) {
  process.stderr.write(
    "config: HOIST_REGISTRY_SECRET is missing: set it (openssl rand -hex 32) or HOIST_REGISTRY_SECRET_FILE, the same for the builder and the deployer\n",
  );
  process.exit(78);
}
try {
  signer = signerFrom(
    createPrivateKey(readFileSync(config.HOIST_REGISTRY_SIGNING_KEY_FILE)),
    readFileSync(config.HOIST_REGISTRY_SIGNING_CERT_FILE, "utf8"),
  );
} catch (err) {
  // The key's contents never reach the message: only which file and why.
  process.stderr.write(
    `config: HOIST_REGISTRY_SIGNING_KEY_FILE / HOIST_REGISTRY_SIGNING_CERT_FILE cannot be used: ${(err as Error).message.split("\n")[0]}\n`,
  );
  process.exit(78);
}
const server = createTokenServer({
  secret,
  signer,
  service: config.HOIST_REGISTRY_TOKEN_SERVICE,
  issuer: config.HOIST_REGISTRY_TOKEN_ISSUER,
  ttlS: config.HOIST_REGISTRY_TOKEN_TTL_S,
  policy: { registry: config.HOIST_REGISTRY, baseRepos: config.HOIST_REGISTRY_BASE_REPOS },
  log,
});
await listenOrExit(server, config.HOIST_REGISTRY_TOKEN_PORT, config.HOIST_REGISTRY_TOKEN_HOST, "HOIST_REGISTRY_TOKEN_PORT");
shutdown.register("http server", async () => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
});
const address = server.address();
log.info({ port: typeof address === "object" && address ? address.port : config.HOIST_REGISTRY_TOKEN_PORT }, "ready");
