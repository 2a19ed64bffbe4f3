import type { Build, Records, Release } from "@hoist/shared";
import { type DeliveryMetrics, deliveryMetrics } from "./delivery-metrics.js";

const WINDOWS = [7, 30] as const;
/** Releases per app read for the 30-day window; at a few hundred deploys a month this covers it. */
const MAX_RELEASES_PER_APP = 1_000;

interface DeliveryReport {
  overall: DeliveryMetrics[];
  apps: { app: string; metrics: DeliveryMetrics[] }[];
}

export async function deliveryReport(records: Records, now = Date.now()): Promise<DeliveryReport> {
  const apps = await records.apps.list();
  const all: Release[] = [];
  const builds = new Map<string, Build>();
  const perApp: { app: string; releases: Release[] }[] = [];
  for (const app of apps) {
    const releases = await records.releases.listByApp(app.name, MAX_RELEASES_PER_APP);
    perApp.push({ app: app.name, releases });
    all.push(...releases);
    for (const b of await records.builds.getMany([...new Set(releases.map((r) => r.buildId))])) builds.set(b.id, b);
  }
  return {
    overall: WINDOWS.map((w) => deliveryMetrics(all, builds, w, now)),
    apps: perApp.map((a) => ({ app: a.app, metrics: WINDOWS.map((w) => deliveryMetrics(a.releases, builds, w, now)) })),
  };
}
