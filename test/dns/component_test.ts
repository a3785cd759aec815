/**
 * The component on real loopback sockets, asked by the real `dig` and
 * `kdig` over UDP and TCP, on the FFI fast path and on the portable path.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { hasCommand } from "../_helpers.ts";
import { dnsVerbs } from "../../lib/dns/mod.ts";
import {
  dig,
  freeDnsPort,
  kdig,
  startDns,
  tcpExchange,
  type TestDns,
  UdpClient,
  udpExchange,
} from "./_harness.ts";
import { buildQuery, decode } from "./_packets.ts";

const haveTools = hasCommand("dig") && hasCommand("kdig");
if (!haveTools) {
  console.log(
    "SKIP dns server dig/kdig tests: dig and kdig are needed (bind9-dnsutils, knot-dnsutils)",
  );
}

/** Header line, flags line and sections of a dig/kdig answer. */
function status(out: string): string {
  return /status: (\w+)/.exec(out)?.[1] ?? `no status in:\n${out}`;
}

function flags(out: string): string[] {
  const m = /;; flags: ([a-z ]*);/i.exec(out);
  return m ? m[1].trim().split(/\s+/).sort() : [];
}

function section(out: string, name: string): string[] {
  // dig prints ";; ANSWER SECTION:", kdig ";; ANSWER SECTION:" too; records until a blank line.
  const start = out.indexOf(`;; ${name} SECTION:`);
  if (start < 0) return [];
  const lines = out.slice(start).split("\n").slice(1);
  const end = lines.findIndex((l) => l.trim() === "" || l.startsWith(";;"));
  return lines.slice(0, end < 0 ? lines.length : end).map((l) => l.trim().split(/\s+/).join(" "));
}

function dnsTest(name: string, fn: () => Promise<void>, options: { ignore?: boolean } = {}) {
  Deno.test({
    name,
    ignore: options.ignore ?? !haveTools,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

async function withDns(toml: string, fn: (t: TestDns) => Promise<void>): Promise<void> {
  const t = await startDns(toml);
  try {
    await fn(t);
  } finally {
    await t.stop();
  }
}

for (const path of ["auto", "off"]) {
  dnsTest(
    `dig and kdig over UDP and TCP get the example zone (fast_path = "${path}")`,
    async () => {
      await withDns(`fast_path = "${path}"\n`, async (t) => {
        const udp = t.server.status().listen as { udp: string }[];
        assert.match(udp[0].udp, path === "auto" ? /recvmmsg/ : /listenDatagram|dgram/);
        for (const transport of ["+notcp", "+tcp"]) {
          const soa = await dig(t.port, ["+norec", transport, "vigia.test", "SOA"]);
          assert.equal(status(soa.out), "NOERROR", soa.out);
          assert.deepEqual(flags(soa.out), ["aa", "qr"]);
          assert.match(
            section(soa.out, "ANSWER")[0],
            /^vigia\.test\. 3600 IN SOA ns1\.vigia\.test\. hostmaster\.vigia\.test\. 1 /,
          );
          assert.deepEqual(section(soa.out, "AUTHORITY"), [
            "vigia.test. 3600 IN NS ns1.vigia.test.",
          ]);
          const cname = await dig(t.port, ["+norec", transport, "WWW.Vigia.Test", "A"]);
          assert.equal(status(cname.out), "NOERROR", cname.out);
          assert.deepEqual(section(cname.out, "ANSWER"), [
            "WWW.Vigia.Test. 3600 IN CNAME Vigia.Test.",
            "Vigia.Test. 3600 IN A 127.0.0.1",
          ]);
          // kdig prints names in lower case; the records are the same.
          const k = await kdig(t.port, ["+norec", transport, "www.vigia.test", "A"]);
          assert.deepEqual(flags(k.out), ["aa", "qr"]);
          assert.deepEqual(section(k.out, "ANSWER").length, 2);
          const nx = await kdig(t.port, ["+norec", transport, "nope.vigia.test", "AAAA"]);
          assert.equal(status(nx.out), "NXDOMAIN", nx.out);
          assert.match(section(nx.out, "AUTHORITY")[0], /^vigia\.test\. 300 IN SOA /);
          const refused = await dig(t.port, [transport, "example.com", "A"]);
          assert.equal(status(refused.out), "REFUSED");
          assert.ok(flags(refused.out).includes("rd"), "RD copied");
          assert.match(refused.out, /EDE: 20/);
          const mx = await dig(t.port, ["+norec", transport, "+bufsize=512", "vigia.test", "MX"]);
          assert.deepEqual(section(mx.out, "ANSWER"), [
            "vigia.test. 3600 IN MX 10 mail.vigia.test.",
          ]);
          assert.ok(section(mx.out, "ADDITIONAL").includes("mail.vigia.test. 3600 IN A 127.0.0.1"));
          assert.match(mx.out, /udp: 1232/);
          const txt = await kdig(t.port, ["+norec", transport, "+nsid", "vigia.test", "TXT"]);
          assert.deepEqual(section(txt.out, "ANSWER"), ['vigia.test. 3600 IN TXT "v=spf1 -all"']);
        }
        const stats = t.server.stats();
        assert.equal((stats.transport as { udp: number; tcp: number }).tcp, 7);
        assert.equal((stats.zones as Record<string, number>)["vigia.test."], 12);
        assert.equal((stats.rcode as Record<string, number>).REFUSED, 2);
        assert.equal(stats.queries, 14);
      });
    },
  );
}

dnsTest("truncated UDP answers make dig retry over TCP", async () => {
  const txt = Array.from({ length: 6 }, (_, i) => `"big TXT ${"x".repeat(150)} ${i}"`);
  const records = txt.map((t) => `"big TXT ${t.replaceAll('"', '\\"')}"`).join(", ");
  await withDns(
    `[[dns.zone]]\norigin = "t.test."\nrecords = ["@ SOA ns h 1 2 3 4 5", "@ NS ns", "ns A 192.0.2.1", ${records}]\n`,
    async (t) => {
      const ignoreTc = await dig(t.port, [
        "+norec",
        "+ignore",
        "+bufsize=512",
        "big.t.test",
        "TXT",
      ]);
      assert.ok(flags(ignoreTc.out).includes("tc"), ignoreTc.out);
      assert.deepEqual(section(ignoreTc.out, "ANSWER"), []);
      const retried = await dig(t.port, ["+norec", "+bufsize=512", "big.t.test", "TXT"]);
      assert.match(retried.out, /Truncated, retrying in TCP mode/);
      assert.equal(section(retried.out, "ANSWER").length, 6);
      assert.equal(t.server.stats().truncated as number, 2);
    },
  );
});

dnsTest("TCP: pipelined queries answered in order, idle timeout, connection limit", async () => {
  await withDns(`tcp_idle_timeout = "300ms"\ntcp_max_connections = 2\n`, async (t) => {
    const names = [
      "vigia.test",
      "www.vigia.test",
      "nx.vigia.test",
      "mail.vigia.test",
      "example.org",
    ];
    const replies = await tcpExchange(
      t.port,
      names.map((n, i) => buildQuery(n, "A", { id: 100 + i })),
    );
    assert.deepEqual(replies.map((r) => decode(r).id), [100, 101, 102, 103, 104]);
    assert.deepEqual(replies.map((r) => decode(r).rcode), [0, 0, 3, 0, 5]);
    // Two connections are allowed; the third is closed at once; an idle one is closed after 300 ms.
    const a = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const b = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    try {
      const buf = new Uint8Array(512);
      const closed = await c.read(buf).catch(() => null);
      assert.equal(closed, null, "third connection closed");
      const q = buildQuery("vigia.test", "A");
      await b.write(new Uint8Array([0, q.length, ...q]));
      assert.ok((await b.read(buf))! > 12, "second connection answered");
      const t0 = performance.now();
      assert.equal(await a.read(buf).catch(() => null), null, "idle connection closed");
      const waited = performance.now() - t0;
      assert.ok(waited > 150 && waited < 3000, `closed after ${waited} ms`);
      const s = t.server.stats().tcp_connections as Record<string, number>;
      assert.ok(s.refused >= 1 && s.timed_out >= 1, JSON.stringify(s));
    } finally {
      for (const conn of [a, b, c]) {
        try {
          conn.close();
        } catch { /* closed by the server */ }
      }
    }
  });
});

dnsTest(
  "ctl zone add/del/list edit the zone table and the running server answers at once",
  async () => {
    await withDns("", async (t) => {
      const add = verbNamed(dnsVerbs, "zone add").run;
      const added = await add({
        name: "printer.vigia.test",
        type: "A",
        value: "192.0.2.50",
        ttl: 120,
      }, t.env) as Record<
        string,
        unknown
      >;
      assert.equal(added.zone, "vigia.test.");
      const a = await dig(t.port, ["+norec", "+short", "printer.vigia.test", "A"]);
      assert.equal(a.out.trim(), "192.0.2.50");
      const tcp = await kdig(t.port, ["+norec", "+tcp", "+short", "printer.vigia.test", "A"]);
      assert.equal(tcp.out.trim(), "192.0.2.50");
      await add({ name: "printer.vigia.test.", type: "TXT", value: '"floor 2"' }, t.env);
      const list = await verbNamed(dnsVerbs, "zone list").run({}, t.env) as Record<
        string,
        unknown
      >[];
      const mine = list.filter((r) => r.name === "printer.vigia.test.");
      assert.deepEqual(
        mine.map((r) => [r.type, r.value, r.ttl, String(r.source).startsWith("table #")]),
        [
          ["A", "192.0.2.50", 120, true],
          ["TXT", '"floor 2"', 3600, true],
        ],
      );
      assert.ok(list.some((r) => r.type === "SOA" && r.source === "config dns.zone[0].records[0]"));
      await assert.rejects(
        async () =>
          await add({ name: "printer.vigia.test", type: "CNAME", value: "www.vigia.test." }, t.env),
        /beside a CNAME|CNAME and other data/,
      );
      await assert.rejects(
        async () => await add({ name: "x.example.org", type: "A", value: "192.0.2.1" }, t.env),
        /not inside any served zone/,
      );
      await assert.rejects(
        async () => await add({ name: "y.vigia.test", type: "A", value: "300.1.1.1" }, t.env),
        /IPv4/,
      );
      await assert.rejects(
        async () => await add({ name: "y.vigia.test", type: "BOGUS", value: "x" }, t.env),
        /unknown type/,
      );
      await assert.rejects(
        async () =>
          await add({ name: "printer.vigia.test", type: "A", value: "192.0.2.50" }, t.env),
        /already served/,
      );
      const del = await verbNamed(dnsVerbs, "zone del").run({
        name: "printer.vigia.test",
        type: "A",
      }, t.env) as {
        deleted: number;
      };
      assert.equal(del.deleted, 1);
      const gone = await dig(t.port, ["+norec", "printer.vigia.test", "A"]);
      assert.equal(status(gone.out), "NOERROR", "NODATA: the TXT is still there");
      assert.deepEqual(section(gone.out, "ANSWER"), []);
      await verbNamed(dnsVerbs, "zone del").run({ name: "printer.vigia.test" }, t.env);
      assert.equal(
        status((await dig(t.port, ["+norec", "printer.vigia.test", "TXT"])).out),
        "NXDOMAIN",
      );
      await assert.rejects(
        async () => await verbNamed(dnsVerbs, "zone del").run({ name: "www.vigia.test" }, t.env),
        /config or zone files/,
      );
    });
  },
);

dnsTest(
  "edits by another process and zone file changes are picked up without a restart",
  async () => {
    const dir = await Deno.makeTempDir();
    const zonePath = `${dir}/lan.zone`;
    await Deno.writeTextFile(
      zonePath,
      "$ORIGIN lan.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 10.0.0.1\n",
    );
    try {
      await withDns(`zone_files = ["${zonePath}"]\ntable_poll = "100ms"\n`, async (t) => {
        // The daemon is "not running" for this env: the verb only edits the table, as the CLI would offline.
        await verbNamed(dnsVerbs, "zone add").run({
          name: "nas.lan.test",
          type: "A",
          value: "10.0.0.9",
        }, {
          ...t.env,
          running: () => undefined,
        });
        await eventually(async () =>
          (await dig(t.port, ["+short", "nas.lan.test", "A"])).out.trim() === "10.0.0.9"
        );
        await Deno.writeTextFile(zonePath, "host A 10.0.0.7\n", { append: true });
        await eventually(async () =>
          (await dig(t.port, ["+short", "host.lan.test", "A"])).out.trim() === "10.0.0.7"
        );
        assert.equal((await dig(t.port, ["+short", "nas.lan.test", "A"])).out.trim(), "10.0.0.9");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

dnsTest("RRL on by default: a flood from one address is limited, with slips", async () => {
  await withDns(`[dns.rrl]\nresponses_per_second = 20\nslip = 2\n`, async (t) => {
    const dgram = (await import("node:dgram")).default;
    const s = dgram.createSocket("udp4");
    let replies = 0, truncated = 0;
    s.on("message", (m: Uint8Array) => {
      replies++;
      if (m[2] & 2) truncated++;
    });
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    const q = buildQuery("vigia.test", "A");
    for (let i = 0; i < 200; i++) s.send(q, t.port, "127.0.0.1");
    // Every query has its outcome once each was either dropped or answered (fully or slipped)
    // and every answer has arrived: no fixed wait, and a timeout here fails the test.
    await eventually(async () => {
      const rrl = t.server.stats().rrl as { dropped: number };
      return await Promise.resolve(replies + rrl.dropped >= 200);
    });
    await new Promise<void>((r) => s.close(() => r()));
    const rrl = t.server.stats().rrl as { dropped: number; slipped: number };
    assert.ok(rrl.dropped > 50 && rrl.slipped > 50, JSON.stringify(rrl));
    assert.ok(replies < 200 && replies >= 20 + rrl.slipped - 5, `${replies} replies`);
    assert.ok(truncated > 50, `${truncated} truncated`);
    // Another client network is not affected (a different /24 is not possible on 127/8 from here;
    // another kind of answer is its own bucket).
    const other = await udpExchange(t.port, buildQuery("nx.vigia.test", "A"));
    assert.equal(decode(other!).rcode, 3);
  });
});

dnsTest("malformed and random datagrams never crash the server; it keeps answering", async () => {
  await withDns("", async (t) => {
    const dgram = (await import("node:dgram")).default;
    const s = dgram.createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    let seed = 99;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
    const valid = buildQuery("vigia.test", "A", { edns: {} });
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) {
        bytes = new Uint8Array(Math.floor(rnd() * 600));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rnd() * 256);
      } else {
        bytes = valid.slice(0, Math.max(0, valid.length - Math.floor(rnd() * 8)));
        for (let k = 0; k < 3; k++) {
          bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        }
      }
      s.send(bytes, t.port, "127.0.0.1");
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    // TCP garbage too: a frame of random bytes and a frame longer than what follows.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    await conn.write(new Uint8Array([0, 5, 1, 2, 3, 4, 5, 0xff, 0xff, 1, 2]));
    conn.close();
    await new Promise<void>((r) => s.close(() => r()));
    const client = await UdpClient.open();
    try {
      const r = await client.exchange(t.port, buildQuery("vigia.test", "SOA", { id: 7 }));
      assert.ok(r, "still answering");
      assert.equal(decode(r).answer.length, 1);
    } finally {
      await client.close();
    }
    const st = t.server.stats();
    assert.ok((st.malformed_dropped as number) > 0);
    assert.ok(((st.rcode as Record<string, number>).FORMERR ?? 0) > 0);
  });
});

dnsTest("a port already in use fails the start with a clear message", async () => {
  const port = await freeDnsPort();
  const t = await startDns("", { port });
  try {
    await assert.rejects(async () => await startDns("", { port }), /in use|bind/i);
  } finally {
    await t.stop();
  }
});

let ipv6 = false;
try {
  Deno.listen({ hostname: "::1", port: 0 }).close();
  ipv6 = true;
} catch { /* no IPv6 loopback */ }
if (!ipv6) console.log("SKIP dns IPv6 test: no ::1 here");

dnsTest("IPv6: UDP fast path and TCP on [::1]", async () => {
  const port = await freeDnsPort();
  await withDns(`listen = ["[::1]:${port}"]\n`, async () => {
    for (const transport of ["+notcp", "+tcp"]) {
      const r = await new Deno.Command("dig", {
        args: [
          "@::1",
          "-p",
          String(port),
          "+time=2",
          "+tries=1",
          transport,
          "+short",
          "vigia.test",
          "AAAA",
        ],
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(r.stdout).trim(), "::1");
    }
  });
}, { ignore: !haveTools || !ipv6 });

dnsTest(
  "two UDP workers share the port (SO_REUSEPORT); both get zone updates; stop frees the port",
  async () => {
    const port = await freeDnsPort();
    const t = await startDns(`udp_workers = 2\nfast_path = "ffi"\n`, { port });
    try {
      assert.match((t.server.status().listen as { udp: string }[])[0].udp, /2 worker/);
      await verbNamed(dnsVerbs, "zone add").run({
        name: "two.vigia.test",
        type: "A",
        value: "192.0.2.2",
      }, t.env);
      // Many source ports, so the kernel spreads the queries over both sockets.
      const answers = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const r = await udpExchange(port, buildQuery("two.vigia.test", "A", { id: i + 1 }));
        return r ? decode(r).answer[0] : "none";
      }));
      assert.deepEqual(new Set(answers), new Set(["two.vigia.test. 3600 IN A 192.0.2.2"]));
      const perWorker =
        (t.server.status().listen as { udp_worker_queries: number[] }[])[0].udp_worker_queries;
      assert.equal(perWorker.length, 2);
      assert.ok(perWorker.every((n) => n > 0), `queries per worker: ${perWorker}`);
    } finally {
      await t.stop();
    }
    // The sockets are closed (not just the workers terminated): nothing answers, and the port binds again.
    assert.equal(await udpExchange(port, buildQuery("vigia.test", "A"), { timeoutMs: 300 }), null);
    const again = await startDns("", { port });
    await again.stop();
  },
);

for (const path of ["auto", "off"]) {
  dnsTest(
    `the reference listen pair 0.0.0.0 + [::] on one port works (fast_path = "${path}")`,
    async () => {
      const port = await freeDnsPort();
      await withDns(
        `listen = ["0.0.0.0:${port}", "[::]:${port}"]\nfast_path = "${path}"\n`,
        async (t) => {
          for (const server of ["127.0.0.1", "::1"]) {
            for (const transport of ["+notcp", "+tcp"]) {
              const r = await new Deno.Command("dig", {
                args: [
                  `@${server}`,
                  "-p",
                  String(port),
                  "+time=2",
                  "+tries=1",
                  transport,
                  "+short",
                  "vigia.test",
                  "A",
                ],
                stdout: "piped",
              }).output();
              assert.equal(
                new TextDecoder().decode(r.stdout).trim(),
                "127.0.0.1",
                `${server} ${transport}`,
              );
            }
          }
          assert.equal((t.server.status().listen as unknown[]).length, 2);
        },
      );
    },
    { ignore: !haveTools || !ipv6 },
  );
}

Deno.test("the node:dgram portable path answers like the others", async () => {
  const { Responder } = await import("../../lib/dns/engine.ts");
  const { startPortableUdp } = await import("../../lib/dns/udp_portable.ts");
  const { buildZoneDb } = await import("../../lib/dns/zone_db.ts");
  const { parseZoneText } = await import("../../lib/dns/zone_file.ts");
  const { records } = parseZoneText(
    "$ORIGIN p.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
    {
      file: "p",
    },
  );
  const responder = new Responder(buildZoneDb(records).db, {
    maxUdpPayload: 1232,
    cacheEntries: 10,
  });
  const port = await freeDnsPort();
  const udp = await startPortableUdp({ host: "127.0.0.1", port }, responder, {
    maxUdpPayload: 1232,
    onError: (e) => {
      throw e;
    },
    api: "node:dgram",
  });
  try {
    assert.equal(udp.api, "node:dgram");
    const r = decode((await udpExchange(port, buildQuery("ns.P.test", "A")))!);
    assert.deepEqual(r.answer, ["ns.P.test. 60 IN A 192.0.2.1"]);
  } finally {
    await udp.stop();
  }
});
