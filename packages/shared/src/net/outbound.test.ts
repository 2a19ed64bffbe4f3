import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnv } from "../config/env.js";
import { checkOutboundUrl, internalKind, OutboundRefusedError, outboundFetch, outboundRefusal, parseOutboundAllow } from "./outbound.js";
import { outboundEnvSchema } from "./outbound-env.js";

// Every request here goes to 127.0.0.1; refusals are proven by the absence of any connection.
describe("outbound fetch: only public or allowed addresses, no redirects", () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];
  const policy = parseOutboundAllow("127.0.0.1");

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? "");
      if (req.url === "/redirect") {
        res.writeHead(302, { location: `http://127.0.0.2:${port}/inner` }).end();
        return;
      }
      res.end("ok");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const cause = async (p: Promise<unknown>): Promise<unknown> => {
    try {
      await p;
    } catch (err) {
      return err instanceof OutboundRefusedError ? err : (err as { cause?: unknown }).cause;
    }
    throw new Error("expected a refusal");
  };

  it("reaches an allowed loopback address", async () => {
    const res = await outboundFetch({ policy })(`http://127.0.0.1:${port}/hello`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
  });

  it("refuses loopback, private, link-local and mapped addresses not on the allow list, before connecting", async () => {
    const f = outboundFetch({ policy });
    const before = hits.length;
    for (const url of [
      `http://127.0.0.2:${port}/`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.1.2.3/",
      "http://192.168.0.1/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.2]/",
      "http://0.0.0.0/",
    ]) {
      const err = await cause(f(url));
      expect(err, url).toBeInstanceOf(OutboundRefusedError);
      expect(String((err as Error).message)).toMatch(/HOIST_OUTBOUND_ALLOW/);
    }
    expect(hits.length).toBe(before);
  });

  it("says which address was refused, what kind it is and what to do", async () => {
    const f = outboundFetch({ policy });
    const literal = await cause(f(`http://127.0.0.2:${port}/`));
    expect((literal as Error).message).toBe("refused: 127.0.0.2 is a loopback address; add it to HOIST_OUTBOUND_ALLOW if intended");
    const named = outboundFetch({ policy, resolve: (_h, _o, cb) => cb(null, [{ address: "127.0.0.2", family: 4 }]) });
    expect(((await cause(named(`http://hooks.example.test:${port}/`))) as Error).message).toBe(
      "refused: hooks.example.test resolves to 127.0.0.2, a loopback address; add it to HOIST_OUTBOUND_ALLOW if intended",
    );
    // URLs write a mapped address in hex (::ffff:7f00:2): still the IPv4 loopback address it names.
    expect(((await cause(f(`http://[::ffff:127.0.0.2]:${port}/`))) as Error).message).toMatch(
      /^refused: 127\.0\.0\.2 is a loopback address/,
    );
    expect(internalKind("169.254.169.254")).toBe("link-local");
    expect(internalKind("10.1.2.3")).toBe("private");
    expect(internalKind("fd00::1")).toBe("private");
    expect(internalKind("::1")).toBe("loopback");
    expect(internalKind("::7f00:1")).toBe("unspecified");
    expect(internalKind("8.8.8.8")).toBeUndefined();
    expect(internalKind("2a00:1450::1")).toBeUndefined();
  });

  it("refuses localhost when the system resolver maps it to a loopback address not on the list", async () => {
    // Only 127.0.0.2 is allowed; localhost resolves (from /etc/hosts) to 127.0.0.1 and/or ::1.
    const before = hits.length;
    const err = await cause(outboundFetch({ policy: parseOutboundAllow("127.0.0.2") })(`http://localhost:${port}/`));
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect((err as Error).message).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect(hits.length).toBe(before);
  });

  it("checks the address a name resolves to at connect time", async () => {
    let answer = "127.0.0.1";
    const f = outboundFetch({
      policy,
      resolve: (_host, _opts, cb) => cb(null, [{ address: answer, family: 4 }]),
    });
    expect((await f(`http://hooks.example.test:${port}/a`)).status).toBe(200);
    // The same name now resolves to a loopback address not on the list (DNS rebinding): refused.
    answer = "127.0.0.2";
    const g = outboundFetch({ policy, resolve: (_h, _o, cb) => cb(null, [{ address: answer, family: 4 }]) });
    const err = await cause(g(`http://hooks.example.test:${port}/b`));
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect((err as Error).message).toContain("hooks.example.test resolves to 127.0.0.2");
    // A name with one good and one internal address is refused as a whole.
    const h = outboundFetch({
      policy,
      resolve: (_h, _o, cb) =>
        cb(null, [
          { address: "127.0.0.1", family: 4 },
          { address: "10.0.0.7", family: 4 },
        ]),
    });
    expect(await cause(h(`http://mixed.example.test:${port}/c`))).toBeInstanceOf(OutboundRefusedError);
  });

  it("does not follow a redirect", async () => {
    const before = hits.length;
    const res = await outboundFetch({ policy })(`http://127.0.0.1:${port}/redirect`);
    expect(res.status).toBe(302);
    expect(hits.slice(before)).toEqual(["/redirect"]);
  });

  it("refuses schemes other than http and https", async () => {
    await expect(outboundFetch({ policy })("file:///etc/passwd")).rejects.toThrow(/only http and https/);
  });

  it("finds the refusal inside the errors fetch and client libraries wrap it in", async () => {
    const refused = new OutboundRefusedError("refused: x");
    expect(outboundRefusal(new TypeError("fetch failed", { cause: refused }))).toBe(refused);
    expect(outboundRefusal(Object.assign(new Error("request failed"), { original: refused }))).toBe(refused);
    expect(outboundRefusal(new Error("ECONNREFUSED"))).toBeUndefined();
  });

  it("checks a URL being configured: internal literals and names that resolve inside are refused, unresolvable names pass", async () => {
    await expect(checkOutboundUrl(policy, `http://127.0.0.1:${port}/`)).resolves.toBeUndefined();
    await expect(checkOutboundUrl(policy, "http://127.0.0.2/")).rejects.toThrow("refused: 127.0.0.2 is a loopback address");
    const to = (address: string) => (_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) =>
      cb(null, [{ address, family: 4 }]);
    await expect(checkOutboundUrl(policy, "https://hooks.example.test/x", to("127.0.0.3"))).rejects.toThrow(
      "refused: hooks.example.test resolves to 127.0.0.3, a loopback address",
    );
    const unresolvable = (_h: string, _o: unknown, cb: (e: Error, a: never[]) => void) => cb(new Error("ENOTFOUND"), []);
    await expect(checkOutboundUrl(policy, "https://hooks.example.test/x", unresolvable)).resolves.toBeUndefined();
  });

  it("parses the allow list and names a bad entry", () => {
    const p = parseOutboundAllow(" 127.0.0.1, 10.0.0.0/8, ::1 ,");
    expect(p.allowText).toBe("127.0.0.1,10.0.0.0/8,::1");
    expect(p.allow.check("10.9.9.9", "ipv4")).toBe(true);
    expect(p.allow.check("11.0.0.1", "ipv4")).toBe(false);
    expect(parseOutboundAllow(undefined).allowText).toBe("");
    expect(() => parseOutboundAllow("localhost")).toThrow(/"localhost" is not an IP address/);
    expect(() => parseOutboundAllow("10.0.0.0/33")).toThrow(/bad prefix length/);
    // An empty or odd prefix must not turn into /0 (everything allowed).
    for (const bad of ["10.0.0.0/", "10.0.0.0/8/9", "10.0.0.0/0x8", "10.0.0.0/ 8"]) {
      expect(() => parseOutboundAllow(bad), bad).toThrow(/is not an IP address or CIDR range/);
    }
  });
});

describe("HOIST_OUTBOUND_ALLOW in a service's env", () => {
  it("is empty by default and names a bad entry with what to write instead", () => {
    expect(parseEnv(outboundEnvSchema, {}).HOIST_OUTBOUND_ALLOW.allowText).toBe("");
    expect(parseEnv(outboundEnvSchema, { HOIST_OUTBOUND_ALLOW: "127.0.0.1" }).HOIST_OUTBOUND_ALLOW.allow.check("127.0.0.1", "ipv4")).toBe(
      true,
    );
    expect(() => parseEnv(outboundEnvSchema, { HOIST_OUTBOUND_ALLOW: "127.0.0.1,gitlab.internal" })).toThrow(
      'config: HOIST_OUTBOUND_ALLOW is invalid: "gitlab.internal" is not an IP address or CIDR range (e.g. 127.0.0.1 or 10.0.0.0/8); names are not accepted; the list is comma-separated',
    );
  });
});
