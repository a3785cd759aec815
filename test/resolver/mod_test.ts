import assert from "node:assert/strict";
import {
  parseResolver,
  query,
  resolveAddresses,
  ResolverError,
  systemResolvers,
} from "../../lib/resolver/mod.ts";
import { startZoneServer, type UdpBehaviour, type ZoneRecord } from "./_zone_server.ts";

const SOA = {
  mname: "ns1.example.test",
  rname: "hostmaster.example.test",
  serial: 1,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 60,
};

const records: ZoneRecord[] = [
  { name: "example.test", type: "SOA", data: SOA },
  { name: "example.test", type: "NS", data: "ns1.example.test" },
  { name: "example.test", type: "NS", data: "ns2.example.test" },
  { name: "www.example.test", type: "A", ttl: 120, data: "192.0.2.1" },
  { name: "www.example.test", type: "A", ttl: 120, data: "192.0.2.2" },
  { name: "www.example.test", type: "AAAA", ttl: 60, data: "2001:db8::1" },
  { name: "alias.example.test", type: "CNAME", data: "www.example.test" },
  { name: "alias2.example.test", type: "CNAME", data: "alias.example.test" },
  { name: "loop1.example.test", type: "CNAME", data: "loop2.example.test" },
  { name: "loop2.example.test", type: "CNAME", data: "loop1.example.test" },
  // Points outside the served data: the client must re-ask for the target.
  { name: "out.example.test", type: "CNAME", data: "other.example.test" },
  { name: "big.example.test", type: "A", ttl: 30, data: "198.51.100.7" },
];

async function withServer(
  fn: (
    server: { host: string; port: number },
    counts: { udp: number; tcp: number },
  ) => Promise<void>,
  udp?: (name: string, type: string) => UdpBehaviour,
) {
  const s = await startZoneServer({ records, udp });
  try {
    await fn({ host: s.host, port: s.port }, s.counts);
  } finally {
    await s.close();
  }
}

Deno.test("parseResolver reads IP, IP:PORT, [v6]:PORT and rejects junk", () => {
  assert.deepEqual(parseResolver("192.0.2.53"), [{ host: "192.0.2.53", port: 53 }]);
  assert.deepEqual(parseResolver("127.0.0.1:5300"), [{ host: "127.0.0.1", port: 5300 }]);
  assert.deepEqual(parseResolver("[::1]:5353"), [{ host: "::1", port: 5353 }]);
  assert.deepEqual(parseResolver("2001:db8::53"), [{ host: "2001:db8::53", port: 53 }]);
  assert.throws(() => parseResolver("resolver.example"), /resolver\.example/);
  assert.throws(() => parseResolver("127.0.0.1:99999"), /65535/);
});

Deno.test("systemResolvers reads nameserver lines from a resolv.conf", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/resolv.conf`;
  Deno.writeTextFileSync(
    path,
    "# comment\nsearch lan\nnameserver 10.0.0.1\nnameserver  2001:db8::35\nnameserver bogus\noptions ndots:1\n",
  );
  assert.deepEqual(systemResolvers(path), [
    { host: "10.0.0.1", port: 53 },
    { host: "2001:db8::35", port: 53 },
  ]);
  assert.deepEqual(parseResolver("system", { resolvConf: path }).length, 2);
  assert.deepEqual(systemResolvers(`${dir}/missing`), []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("query over UDP returns decoded records", async () => {
  await withServer(async (server, counts) => {
    const r = await query(server, "WWW.Example.Test.", { type: "A" });
    assert.equal(r.rcode, "NOERROR");
    assert.equal(r.tcp, false);
    assert.deepEqual(r.answers.map((a) => a.data).sort(), ["192.0.2.1", "192.0.2.2"]);
    assert.equal(r.answers[0].ttl, 120);
    assert.equal(r.answers[0].name, "www.example.test");
    assert.equal(r.server, `127.0.0.1:${server.port}`);
    assert.equal(counts.udp, 1);
    const ns = await query(server, "example.test", { type: "NS" });
    assert.deepEqual(ns.answers.map((a) => a.data).sort(), [
      "ns1.example.test",
      "ns2.example.test",
    ]);
    const nx = await query(server, "nope.example.test", { type: "A" });
    assert.equal(nx.rcode, "NXDOMAIN");
    const nodata = await query(server, "www.example.test", { type: "MX" });
    assert.equal(nodata.rcode, "NOERROR");
    assert.equal(nodata.answers.length, 0);
    assert.equal(nodata.authority[0].type, "SOA");
    assert.equal(nodata.authority[0].name, "example.test");
  });
});

Deno.test("a truncated UDP answer is retried over TCP", async () => {
  await withServer(async (server, counts) => {
    const r = await query(server, "big.example.test", { type: "A" });
    assert.equal(r.tcp, true);
    assert.equal(r.truncated, false);
    assert.deepEqual(r.answers.map((a) => a.data), ["198.51.100.7"]);
    assert.equal(counts.udp, 1);
    assert.equal(counts.tcp, 1);
    // Other names are not truncated and stay on UDP.
    const w = await query(server, "www.example.test", { type: "AAAA" });
    assert.equal(w.tcp, false);
    assert.equal(counts.tcp, 1);
  }, (name) => name === "big.example.test" ? "truncate" : "answer");
});

Deno.test("tcp option asks over TCP only", async () => {
  await withServer(async (server, counts) => {
    const r = await query(server, "www.example.test", { type: "AAAA", tcp: true });
    assert.deepEqual(r.answers.map((a) => a.data), ["2001:db8::1"]);
    assert.equal(counts.udp, 0);
    assert.equal(counts.tcp, 1);
  });
});

Deno.test("a spoofed answer with the wrong id is ignored, the real one accepted", async () => {
  await withServer(async (server) => {
    const r = await query(server, "www.example.test", { type: "A" });
    assert.equal(r.answers.length, 2);
  }, () => "spoof-then-answer");
});

Deno.test("no answer rejects with timeout; garbage rejects with malformed", async () => {
  await withServer(async (server) => {
    const t0 = performance.now();
    await assert.rejects(
      query(server, "www.example.test", { type: "A", timeoutMs: 150 }),
      (e) => e instanceof ResolverError && e.reason === "timeout",
    );
    assert.ok(performance.now() - t0 < 1500);
    await assert.rejects(
      query(server, "bad.example.test", { type: "A", timeoutMs: 150 }),
      (e) => e instanceof ResolverError && e.reason === "malformed",
    );
  }, (name) => name === "bad.example.test" ? "garbage" : "drop");
});

Deno.test("an aborted query rejects promptly", async () => {
  await withServer(async (server) => {
    const ac = new AbortController();
    const p = query(server, "www.example.test", { type: "A", timeoutMs: 5000, signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e) => e instanceof ResolverError && e.reason === "timeout");
  }, () => "drop");
});

Deno.test("a closed TCP port is a network error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    query({ host: "127.0.0.1", port }, "x.test", { type: "A", tcp: true, timeoutMs: 500 }),
    (e) => e instanceof ResolverError && e.reason === "network",
  );
});

Deno.test("resolveAddresses follows CNAME chains and merges A and AAAA", async () => {
  await withServer(async (server) => {
    const r = await resolveAddresses(server, "alias2.example.test");
    assert.equal(r.rcode, "NOERROR");
    assert.deepEqual(r.cnames, ["alias.example.test", "www.example.test"]);
    assert.deepEqual(
      r.addresses.map((a) => `${a.type} ${a.ip} ${a.ttl}`),
      ["A 192.0.2.1 120", "A 192.0.2.2 120", "AAAA 2001:db8::1 60"],
    );
    const only4 = await resolveAddresses(server, "www.example.test", { types: ["A"] });
    assert.equal(only4.addresses.length, 2);
    const loop = await resolveAddresses(server, "loop1.example.test");
    assert.deepEqual(loop.addresses, []);
    assert.deepEqual(loop.cnames, ["loop2.example.test"]);
    const nx = await resolveAddresses(server, "nope.example.test");
    assert.equal(nx.rcode, "NXDOMAIN");
    assert.deepEqual(nx.addresses, []);
  });
});

Deno.test("resolveAddresses re-asks for a CNAME target the server did not expand", async () => {
  const s = await startZoneServer({
    records: [
      ...records,
      { name: "other.example.test", type: "A", ttl: 99, data: "203.0.113.5" },
    ],
    // Serve the CNAME without following it, as an authoritative server for another zone would.
    rewrite: (answers) => answers.slice(0, 1),
  });
  try {
    const r = await resolveAddresses(s, "out.example.test", { types: ["A"] });
    assert.deepEqual(r.cnames, ["other.example.test"]);
    assert.deepEqual(r.addresses, [{ ip: "203.0.113.5", ttl: 99, type: "A" }]);
  } finally {
    await s.close();
  }
});

Deno.test("resolveAddresses rejects when every type fails", async () => {
  await withServer(async (server) => {
    await assert.rejects(
      resolveAddresses(server, "www.example.test", { timeoutMs: 100 }),
      (e) => e instanceof ResolverError && e.reason === "timeout",
    );
  }, () => "drop");
});

const hasV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();
if (!hasV6) console.log("SKIP IPv6 resolver test: ::1 is not available");

Deno.test({
  name: "query over IPv6 loopback, UDP and TCP",
  ignore: !hasV6,
  fn: async () => {
    const s = await startZoneServer({
      records,
      hostname: "::1",
      udp: (name) => (name === "big.example.test" ? "truncate" : "answer"),
    });
    try {
      const [server] = parseResolver(`[::1]:${s.port}`);
      const r = await query(server, "www.example.test", { type: "AAAA" });
      assert.equal(r.server, `[::1]:${s.port}`);
      assert.deepEqual(r.answers.map((a) => a.data), ["2001:db8::1"]);
      const t = await query(server, "big.example.test", { type: "A" });
      assert.equal(t.tcp, true);
      assert.deepEqual(t.answers.map((a) => a.data), ["198.51.100.7"]);
    } finally {
      await s.close();
    }
  },
});
