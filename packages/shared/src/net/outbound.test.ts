import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutboundRefusedError, outboundFetch, parseOutboundAllow } from "./outbound.js";

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
    expect((err as Error).message).toContain("hooks.example.test (127.0.0.2)");
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

  it("parses the allow list and names a bad entry", () => {
    expect(() => parseOutboundAllow("127.0.0.1, 10.0.0.0/8, ::1")).not.toThrow();
    expect(() => parseOutboundAllow("localhost")).toThrow(/"localhost" is not an IP address/);
    expect(() => parseOutboundAllow("10.0.0.0/33")).toThrow(/bad prefix length/);
  });
});
