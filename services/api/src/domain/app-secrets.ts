import { type App, type SecretBox, secretContexts } from "@hoist/shared";
import { newSigningSecret } from "./tokens.js";

interface SecretSettings {
  env?: Record<string, string> | null;
  slackWebhookUrl?: string | null;
  outgoingWebhook?: { url: string } | null;
  signingSecret?: string | null;
}

interface SealedSettings {
  set: Partial<Pick<App, "env" | "slackWebhookUrl" | "outgoingWebhook" | "signingSecret">>;
  clear: ("env" | "slackWebhookUrl" | "outgoingWebhook" | "signingSecret")[];
  /** A newly generated outgoing webhook secret: shown to the caller once, never stored in the clear. */
  outgoingWebhookSecret?: string;
}

/** Seals the secret-bearing settings of a create or update; `null` clears one. */
export async function sealSettings(secrets: SecretBox, app: string, input: SecretSettings): Promise<SealedSettings> {
  const out: SealedSettings = { set: {}, clear: [] };
  if (input.env === null) out.clear.push("env");
  else if (input.env) out.set.env = await secrets.seal(JSON.stringify(input.env), secretContexts.appEnv(app));
  if (input.slackWebhookUrl === null) out.clear.push("slackWebhookUrl");
  else if (input.slackWebhookUrl) out.set.slackWebhookUrl = await secrets.seal(input.slackWebhookUrl, secretContexts.slackWebhookUrl(app));
  if (input.signingSecret === null) out.clear.push("signingSecret");
  else if (input.signingSecret) out.set.signingSecret = await secrets.seal(input.signingSecret, secretContexts.signingSecret(app));
  if (input.outgoingWebhook === null) out.clear.push("outgoingWebhook");
  else if (input.outgoingWebhook) {
    out.outgoingWebhookSecret = newSigningSecret();
    out.set.outgoingWebhook = {
      url: input.outgoingWebhook.url,
      secret: await secrets.seal(out.outgoingWebhookSecret, secretContexts.outgoingWebhookSecret(app)),
    };
  }
  return out;
}
