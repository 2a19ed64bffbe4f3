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

/** What each internal range is, for the refusal message. */
type Kind = "loopback" | "private" | "link-local" | "carrier-grade NAT" | "multicast" | "reserved" | "unspecified" | "NAT64";

const ranges: [string, number, "ipv4" | "ipv6", Kind][] = [
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["0.0.0.0", 8, "ipv4", "unspecified"], // "this network": 0.0.0.0 reaches the local host
  ["10.0.0.0", 8, "ipv4", "private"],
  ["172.16.0.0", 12, "ipv4", "private"],
  ["192.168.0.0", 16, "ipv4", "private"],
  ["100.64.0.0", 10, "ipv4", "carrier-grade NAT"],
  ["169.254.0.0", 16, "ipv4", "link-local"], // cloud metadata lives here
  ["192.0.0.0", 24, "ipv4", "reserved"],
  ["198.18.0.0", 15, "ipv4", "reserved"], // benchmarking
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved"], // and broadcast
  ["::1", 128, "ipv6", "loopback"],
  ["::", 96, "ipv6", "unspecified"], // :: and the deprecated IPv4-compatible ::a.b.c.d
  ["fc00::", 7, "ipv6", "private"], // unique local
  ["fe80::", 10, "ipv6", "link-local"],
  ["ff00::", 8, "ipv6", "multicast"],
  ["64:ff9b::", 96, "ipv6", "NAT64"], // NAT64 reaches IPv4 private space
  ["64:ff9b:1::", 48, "ipv6", "NAT64"],
];
const lists = ranges.map(([net, prefix, type, kind]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, kind };
});

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address, in either spelling (`::ffff:127.0.0.1`,
 * or `::ffff:7f00:1` as URLs write it), else the address itself.
 */
function unmapped(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1] as string;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const hi = Number.parseInt(hex[1] as string, 16);
  const lo = Number.parseInt(hex[2] as string, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

/** The kind of internal address `ip` is, or undefined for a public one. */
export function internalKind(ip: string): Kind | undefined {
  const type = isIP(ip) === 6 ? "ipv6" : "ipv4";
  return lists.find(({ list }) => list.check(ip, type))?.kind;
}
export interface OutboundPolicy {
  /** Addresses or CIDR ranges that may be reached although they are loopback or private. */
  allow: BlockList;
  /** The text of the allow list, for error messages. */
  allowText: string;
}

/** Parses `HOIST_OUTBOUND_ALLOW`: comma-separated IP addresses or CIDR ranges; throws naming a bad entry. */
export function parseOutboundAllow(text: string | undefined): OutboundPolicy {
  const allow = new BlockList();
  const items = (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(item);
    const addr = m?.[1] ?? "";
    const family = isIP(addr);
    if (!m || !family) {
      throw new Error(`"${item}" is not an IP address or CIDR range (e.g. 127.0.0.1 or 10.0.0.0/8); names are not accepted`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (m[2] === undefined) {
      allow.addAddress(addr, type);
      continue;
    }
    const bits = Number(m[2]);
    if (bits > (family === 4 ? 32 : 128)) throw new Error(`"${item}" has a bad prefix length (0-${family === 4 ? 32 : 128})`);
    allow.addSubnet(addr, bits, type);
  }
  return { allow, allowText: items.join(",") };
}

/**
 * Throws OutboundRefusedError when `address` (what `host` resolved to, or `host` itself for an IP
 * literal) is loopback, private, link-local or otherwise internal and not allowed.
 */
function assertPublicAddress(policy: OutboundPolicy, host: string, address: string): void {
  const ip = unmapped(address);
  const kind = internalKind(ip);
  if (!kind || policy.allow.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4")) return;
  const what = `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} address`;
  const where = host === address || host === ip ? `${ip} is ${what}` : `${host} resolves to ${ip}, ${what}`;
  throw new OutboundRefusedError(`refused: ${where}; add it to HOIST_OUTBOUND_ALLOW if intended`);
}

/** The OutboundRefusedError behind `err` (fetch and client libraries wrap it in `cause` or `original`). */
export function outboundRefusal(err: unknown): OutboundRefusedError | undefined {
  let e: unknown = err;
  for (let i = 0; i < 6 && e instanceof Error; i++) {
    if (e instanceof OutboundRefusedError) return e;
    const next: unknown = (e as { cause?: unknown }).cause ?? (e as { original?: unknown }).original;
    e = next;
  }
  return undefined;
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
function guardedLookup(policy: OutboundPolicy, resolve: LookupFn = dnsLookup as unknown as LookupFn) {
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

interface OutboundFetchOptions {
  policy: OutboundPolicy;
  /** Replaces dns.lookup (tests). */
  resolve?: LookupFn;
}

export type OutboundFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Throws OutboundRefusedError unless `url` is http(s) and, when its host is an IP literal, an allowed address. */
function checkLiteral(policy: OutboundPolicy, url: URL): string {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new OutboundRefusedError(`refused: ${url.protocol} URL; only http and https are called`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  // An IP literal never goes through lookup, so it is checked here.
  if (isIP(host)) assertPublicAddress(policy, host, host);
  return host;
}

/**
 * A fetch that connects only to public addresses (or allowed ones), and never follows a
 * redirect: a 3xx comes back as it is, for the caller to treat as an error. A refusal rejects
 * with OutboundRefusedError, possibly wrapped by fetch (see outboundRefusal).
 */
export function outboundFetch(opts: OutboundFetchOptions): OutboundFetch {
  const lookup = guardedLookup(opts.policy, opts.resolve);
  const dispatcher = new Agent({ connect: { lookup: lookup as never } });
  return async (input, init) => {
    const url = new URL(String(input));
    checkLiteral(opts.policy, url);
    const res = await undiciFetch(url, { ...(init as object), redirect: "manual", dispatcher } as never);
    return res as unknown as Response;
  };
}

const shared = new WeakMap<OutboundPolicy, OutboundFetch>();

/** One outbound fetch (one connection pool) per policy: services build theirs from their config. */
export function outboundFetchFor(policy: OutboundPolicy): OutboundFetch {
  let f = shared.get(policy);
  if (!f) {
    f = outboundFetch({ policy });
    shared.set(policy, f);
  }
  return f;
}

/**
 * Checks a URL someone is configuring (a Slack or webhook URL, a GitLab instance) before it is
 * stored: an internal IP literal, or a name that resolves to an internal address, is refused
 * with the reason. A name that does not resolve now is let through: the check that counts is
 * the one at connect time.
 */
export async function checkOutboundUrl(
  policy: OutboundPolicy,
  url: string,
  resolve: LookupFn = dnsLookup as unknown as LookupFn,
): Promise<void> {
  const host = checkLiteral(policy, new URL(url));
  if (isIP(host)) return;
  const addresses = await new Promise<LookupAddress[]>((ok) => resolve(host, { all: true }, (err, a) => ok(err ? [] : a)));
  for (const a of addresses) assertPublicAddress(policy, host, a.address);
}
