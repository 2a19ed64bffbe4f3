import { randomUUID } from "node:crypto";
import { type App, type JobQueues, NotFoundError, type Preview, previewHost, previewSettingsOf, type Records } from "@hoist/shared";

/**
 * What the API shows of a preview. `url`: the deployer's once it knows it, else the one the app's
 * host template gives (http; the deployer's says https when the from-service serves TLS).
 */
export function previewView(p: Preview, app: App, domain: string) {
  const host = previewHost(previewSettingsOf(app).hosts, { iid: p.iid, app: app.name, domain });
  return {
    iid: p.iid,
    url: p.url ?? `http://${host}`,
    status: p.status,
    sha: p.sha,
    updatedAt: p.updatedAt,
    ...(p.mrUrl ? { mrUrl: p.mrUrl } : {}),
    ...(p.title ? { title: p.title } : {}),
  };
}

/**
 * A person stops a preview (`DELETE /v1/apps/:app/previews/:iid`): a `close` job with reason
 * `deleted`, stored before the caller hears 202. NotFoundError when the app has no preview of that MR.
 */
export async function stopPreview(deps: { records: Records; queues: JobQueues }, app: string, iid: number): Promise<Preview> {
  const preview = await deps.records.previews.get(app, iid);
  if (!preview) throw new NotFoundError(`app ${app} has no preview of merge request !${iid}`);
  await deps.queues.enqueue("previews", { kind: "close", app, iid, reason: "deleted", deliveryId: `del-${randomUUID()}` });
  return preview;
}
