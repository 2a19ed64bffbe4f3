import type { App, Logger, Records, Sealed, SecretBox, SecretContext } from "@hoist/shared";
import { PRODUCTION, secretContexts } from "@hoist/shared";

type Reseal = (sealed: Sealed, context: SecretContext) => Promise<Sealed>;

/**
 * Seals again, under the purpose keys, every secret an older Hoist sealed under the master key
 * itself: a worker holds its keyring only and could not open those. Idempotent (a re-sealed secret
 * is left alone), so every API start may run it; returns how many it re-sealed.
 */
export async function resealLegacySecrets(records: Records, secrets: SecretBox, log: Logger): Promise<number> {
  let count = 0;
  const reseal: Reseal = async (sealed, context) => {
    count += 1;
    return secrets.seal(await secrets.open(sealed, context), context);
  };
  const stale = (s: Sealed | undefined): s is Sealed => s !== undefined && secrets.needsReseal(s);
  for (const app of await records.apps.list()) {
    const fields = await appFields(app, stale, reseal);
    if (Object.keys(fields).length) await records.apps.update(app.name, fields);
    for (const environment of await records.environments.names(app.name)) {
      const context = secretContexts.environmentEnv(app.name, environment);
      const env = environment === PRODUCTION ? undefined : await records.environments.get(app, environment);
      if (stale(env?.env)) await records.environments.update(app, environment, { env: await reseal(env.env, context) });
      for (let offset = 0; ; offset += 100) {
        const page = await records.releases.listByEnvironment(app.name, environment, 100, offset);
        for (const release of page) {
          if (stale(release.env)) await records.releases.patch(release.id, { env: await reseal(release.env, context) });
        }
        if (page.length < 100) break;
      }
    }
  }
  for (const conn of await records.gitlabConnections.list()) {
    if (stale(conn.token))
      await records.gitlabConnections.patch(conn.id, { token: await reseal(conn.token, secretContexts.gitlabToken(conn.id)) });
  }
  if (count)
    log.info({ resealed: count }, "secrets sealed by an older Hoist under the master key are sealed again under their purpose keys");
  return count;
}

async function appFields(app: App, stale: (s: Sealed | undefined) => s is Sealed, reseal: Reseal): Promise<Partial<App>> {
  const out: Partial<App> = {};
  if (stale(app.deployKey?.privateKey) && app.deployKey) {
    out.deployKey = { ...app.deployKey, privateKey: await reseal(app.deployKey.privateKey, secretContexts.deployKey(app.name)) };
  }
  if (stale(app.env)) out.env = await reseal(app.env, secretContexts.appEnv(app.name));
  if (stale(app.slackWebhookUrl)) out.slackWebhookUrl = await reseal(app.slackWebhookUrl, secretContexts.slackWebhookUrl(app.name));
  if (stale(app.signingSecret)) out.signingSecret = await reseal(app.signingSecret, secretContexts.signingSecret(app.name));
  if (stale(app.outgoingWebhook?.secret) && app.outgoingWebhook) {
    out.outgoingWebhook = {
      ...app.outgoingWebhook,
      secret: await reseal(app.outgoingWebhook.secret, secretContexts.outgoingWebhookSecret(app.name)),
    };
  }
  return out;
}
