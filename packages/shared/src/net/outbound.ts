import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { Agent, fetch as undiciFetch } from "undici";

/**
 * Outbound HTTP to URLs that users configure (Slack, outgoing webhooks, GitLab) must not reach
 * Hoist's own host or private network: a URL could name Redis, the Docker socket proxy, a cloud
 * metadata endpoint or another tenant's service. Addresses are checked where the connection is
 * made (after DNS), so a name that resolves differently a second time (DNS rebinding) cannot pass,
 * and redirects are never followed (a public URL could redirect to a private one).
 */

export class OutboundRefusedError extends Error {
  override name = "OutboundRefusedError";
  readonly code = "EOUTBOUND";
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
  ["64:ff9b::", 96], // NAT64 can reach IPv4 private space
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), else the address itself. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

export interface OutboundPolicy {
  /** Addresses or CIDR ranges that may be reached although they are loopback or private. */
  allow: BlockList;
  /** The text of the allow list, for error messages. */
  allowText: string;
}

/** Parses `HOIST_OUTBOUND_ALLOW`: comma-separated IP addresses or CIDR ranges. */
export function parseOutboundAllow(text: string | undefined): OutboundPolicy {
  const allow = new BlockList();
  const items = (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    const [addr = "", bits] = item.split("/");
    const family = isIP(addr);
    if (!family) throw new Error(`HOIST_OUTBOUND_ALLOW: "${item}" is not an IP address or CIDR range (e.g. 127.0.0.1 or 10.0.0.0/8)`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) {
      allow.addAddress(addr, type);
    } else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) {
        throw new Error(`HOIST_OUTBOUND_ALLOW: "${item}" has a bad prefix length`);
      }
      allow.addSubnet(addr, n, type);
    }
  }
  return { allow, allowText: items.join(",") };
}

/** Throws when `address` is loopback, private, link-local or otherwise internal and not allowed. */
export function assertPublicAddress(policy: OutboundPolicy, host: string, address: string): void {
  const ip = unmapped(address);
  const type = isIP(ip) === 6 ? "ipv6" : "ipv4";
  if (!blocked.check(ip, type) || policy.allow.check(ip, type)) return;
  throw new OutboundRefusedError(
    `refused to connect to ${host} (${ip}): a loopback, private or link-local address; ` +
      "list it in HOIST_OUTBOUND_ALLOW if this service really lives there",
  );
}

type LookupFn = (
  hostname: string,
  options: { all: true; family?: number },
  cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net.connect that resolves the name and refuses the connection when any address
 * it resolved to is internal. `resolve` is dns.lookup, replaceable in tests.
 */
export function guardedLookup(policy: OutboundPolicy, resolve: LookupFn = dnsLookup as unknown as LookupFn) {
  return (
    hostname: string,
    options: { family?: number; all?: boolean },
    cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    resolve(hostname, { all: true, family: options.family }, (err, addresses) => {
      if (err) return cb(err, "");
      try {
        if (addresses.length === 0) throw new Error(`${hostname} resolved to no address`);
        for (const a of addresses) assertPublicAddress(policy, hostname, a.address);
      } catch (refusal) {
        return cb(refusal as Error, "");
      }
      if (options.all) return cb(null, addresses);
      const first = addresses[0] as LookupAddress;
      cb(null, first.address, first.family);
    });
  };
}

export interface OutboundFetchOptions {
  policy: OutboundPolicy;
  /** Replaces dns.lookup (tests). */
  resolve?: LookupFn;
}

export type OutboundFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A fetch that connects only to public addresses (or allowed ones), and never follows a
 * redirect: a 3xx comes back as it is, for the caller to treat as an error.
 */
export function outboundFetch(opts: OutboundFetchOptions): OutboundFetch {
  const lookup = guardedLookup(opts.policy, opts.resolve);
  const dispatcher = new Agent({ connect: { lookup: lookup as never } });
  return async (input, init) => {
    const url = new URL(String(input));
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new OutboundRefusedError(`refused ${url.protocol} URL: only http and https are called`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, "");
    // An IP literal never goes through lookup, so it is checked here.
    if (isIP(host)) assertPublicAddress(opts.policy, host, host);
    const res = await undiciFetch(url, { ...(init as object), redirect: "manual", dispatcher } as never);
    return res as unknown as Response;
  };
}
