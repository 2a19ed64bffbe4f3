import { z } from "zod";

/** `GET /reverse_proxy/upstreams`: every upstream some handler of the running config names. */
export const upstreamStatusSchema = z.array(
  z.object({ address: z.string(), num_requests: z.number().int(), fails: z.number().int() }).loose(),
);

/** `GET /pki/ca/<id>`. */
export const caSchema = z
  .object({
    id: z.string(),
    root_certificate: z.string().startsWith("-----BEGIN CERTIFICATE-----"),
    intermediate_certificate: z.string().startsWith("-----BEGIN CERTIFICATE-----"),
  })
  .loose();

const dialsSchema = z.array(z.object({ dial: z.string() }).loose());

const proxySchema = z
  .object({
    handler: z.literal("reverse_proxy"),
    upstreams: dialsSchema.default([]),
    load_balancing: z
      .object({ selection_policy: z.object({ policy: z.string() }).loose().optional() })
      .loose()
      .optional(),
    health_checks: z
      .object({
        active: z
          .object({ path: z.string().optional(), interval: z.string().optional(), timeout: z.string().optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

const subrouteSchema = z
  .object({
    handler: z.literal("subroute"),
    routes: z
      .array(z.object({ handle: z.tuple([proxySchema]) }).loose())
      .min(1)
      .max(2),
  })
  .loose();

/** A port route as Hoist writes it (config.ts routeHandle): a subroute of the serving proxy and, while draining, a parked one. */
export const portRouteSchema = z
  .object({
    "@id": z.string(),
    handle: z.tuple([subrouteSchema]),
  })
  .loose();
export type PortRouteConfig = z.infer<typeof portRouteSchema>;

const serverSchema = z
  .object({ listen: z.array(z.string()).default([]), routes: z.array(z.record(z.string(), z.unknown())).default([]) })
  .loose();

export const serversSchema = z.record(z.string(), serverSchema).nullable();

export const hostRouteSchema = z
  .object({
    "@id": z.string(),
    match: z.tuple([z.object({ host: z.array(z.string()) }).loose()]),
    // A proxy to the service's port route, or (a service with no port) a port route's subroute of its containers.
    handle: z.tuple([z.union([proxySchema, subrouteSchema])]),
  })
  .loose();

export const policiesSchema = z
  .array(z.object({ "@id": z.string().optional(), subjects: z.array(z.string()).optional() }).loose())
  .nullable();

export function dials(upstreams: { dial: string }[]): string[] {
  return upstreams.map((u) => u.dial);
}
