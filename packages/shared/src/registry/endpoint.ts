import { registryHost } from "./credentials.js";

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The account and region of an ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com[/namespace]`); undefined for any other registry. */
export function ecrRegistryOf(registry: string): { accountId: string; region: string } | undefined {
  const m = ECR_HOST.exec(registryHost(registry));
  return m ? { accountId: m[1] as string, region: m[2] as string } : undefined;
}

/** Where a registry's API answers: plain HTTP when told so (`HOIST_REGISTRY_INSECURE`) or on loopback, else HTTPS. */
export function registryBaseUrl(registry: string, insecure: boolean): string {
  const host = registryHost(registry);
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  return `${insecure || loopback ? "http" : "https"}://${host}`;
}
