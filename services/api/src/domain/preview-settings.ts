import { type App, type PreviewSettings, previewSettingsOf, previewSettingsSchema, type SecretBox, secretContexts } from "@hoist/shared";
import { InvalidInputError } from "./errors.js";

/** `previews` in `PATCH /v1/apps/:app` (http/schemas.ts): the fields given replace the app's; `env: null` removes the overrides. */
type PreviewSettingsInput = Partial<Omit<PreviewSettings, "env" | "envKeys">> & { env?: Record<string, string> | null };

/**
 * The app's preview settings with `input` applied: `from` checked against the app's environments
 * (`environments`: their names), the overrides sealed for the app (secretContexts.previewEnv).
 */
export async function nextPreviewSettings(
  secrets: SecretBox,
  app: App,
  environments: string[],
  input: PreviewSettingsInput,
): Promise<PreviewSettings> {
  const current = previewSettingsOf(app);
  const { env, ...plain } = input;
  const next: PreviewSettings = { ...current, ...plain };
  if ((input.from !== undefined || next.enabled) && !environments.includes(next.from)) {
    throw new InvalidInputError(
      "invalid_request",
      `previews.from: app ${app.name} has no environment ${next.from} (its environments: ${environments.join(", ")}); create it or name another`,
    );
  }
  if (env === null) {
    delete next.env;
    delete next.envKeys;
  } else if (env) {
    next.env = await secrets.seal(JSON.stringify(env), secretContexts.previewEnv(app.name));
    next.envKeys = Object.keys(env).sort();
  }
  return previewSettingsSchema.parse(next);
}

/** What the API shows of an app's preview settings: the overrides' names, never their values. */
export function previewSettingsView(app: App) {
  const { env: _sealed, envKeys, ...rest } = previewSettingsOf(app);
  return { ...rest, env: { keys: envKeys ?? [] } };
}
