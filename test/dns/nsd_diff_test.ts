/**
 * Differential test against NSD: the same zone files served by NSD and by
 * vigia on loopback ports, a few hundred queries (existing, missing,
 * wildcard, CNAME, delegation, ANY, odd case, with and without EDNS,
 * truncated, malformed), and for each the rcode, the header flags, the OPT
 * record and the set of records in every section must agree. The
 * deliberate differences listed in lib/dns/mod.ts are not queried here.
 */

import assert from "node:assert/strict";
import { nsdConf } from "../../scripts/nsd_conf.ts";
import { isRoot } from "../_helpers.ts";
import { freeDnsPort, startDns, tcpExchange, UdpClient } from "./_harness.ts";
import { buildQuery, comparable, EX_ZONE, OTHER_ZONE, type QueryOptions } from "./_packets.ts";

function hasNsd(): boolean {
  for (const dir of ["/usr/sbin", "/usr/local/sbin", ...(Deno.env.get("PATH") ?? "").split(":")]) {
    try {
      if (Deno.statSync(`${dir}/nsd`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

const skipReason = !hasNsd()
  ? "nsd is not installed (apt-get install nsd)"
  : !isRoot
  ? "nsd needs root here"
  : "";
if (skipReason) console.log(`SKIP nsd_diff_test: ${skipReason}`);

async function startNsd(dir: string, port: number): Promise<Deno.ChildProcess> {
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({
      dir,
      port,
      zones: [{ name: "ex.test", file: "ex.zone" }, { name: "other.test", file: "other.zone" }],
    }),
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const client = await UdpClient.open();
  try {
    for (let i = 0; i < 100; i++) {
      if (await client.exchange(port, buildQuery("ex.test", "SOA"), { timeoutMs: 100 })) {
        return child;
      }
    }
  } finally {
    await client.close();
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error(
    `nsd did not answer on port ${port}; log: ${await Deno.readTextFile(`${dir}/nsd.log`).catch(
      () => "",
    )}`,
  );
}

/** Seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
}

function oddCase(name: string, rnd: () => number): string {
  return [...name].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join("");
}

interface Case {
  label: string;
  bytes: Uint8Array;
}

function buildCases(): Case[] {
  const rnd = random(4242);
  const names = [
    "ex.test",
    "ns1.ex.test",
    "mail.ex.test",
    "www.ex.test",
    "alias.ex.test",
    "ext.ex.test",
    "ext2.ex.test",
    "loop1.ex.test",
    "dangling.ex.test",
    "x.wild.ex.test",
    "a.b.wild.ex.test",
    "sub.wild.ex.test",
    "*.wild.ex.test",
    "a.*.wild.ex.test",
    "q.wc.ex.test",
    "ent.x.ex.test",
    "zz.ent.x.ex.test",
    "y.ent.x.ex.test",
    "x.ex.test",
    "b.c.ex.test",
    "a.b.c.ex.test",
    "deleg.ex.test",
    "x.deleg.ex.test",
    "ns.deleg.ex.test",
    "x.deleg2.ex.test",
    "tod.ex.test",
    "_sip._tcp.ex.test",
    "sip.ex.test",
    "caa.ex.test",
    "ptr.ex.test",
    "unk.ex.test",
    "mx2.ex.test",
    "ttls.ex.test",
    "multi.ex.test",
    "big.ex.test",
    "nothere.ex.test",
    "deep.nothere.ex.test",
    "other.test",
    "www.other.test",
    "nothere.other.test",
    "example.com",
    "test",
    "ex.test.example",
  ];
  const types = [
    "A",
    "AAAA",
    "MX",
    "TXT",
    "NS",
    "SOA",
    "CNAME",
    "SRV",
    "PTR",
    "CAA",
    "DS",
    "ANY",
    "TYPE65000",
  ];
  const ednsVariants: (QueryOptions["edns"] | undefined)[] = [
    undefined,
    {},
    { payload: 4096, do: true },
    { payload: 512 },
    { payload: 700 },
  ];
  const cases: Case[] = [];
  let id = 1;
  for (const name of names) {
    // Every name with A and a few random types, each with a random EDNS variant and random case.
    const picked = new Set(["A"]);
    while (picked.size < 6) picked.add(types[Math.floor(rnd() * types.length)]);
    for (const type of picked) {
      const edns = ednsVariants[Math.floor(rnd() * ednsVariants.length)];
      const qname = rnd() < 0.3 ? oddCase(name, rnd) : name;
      const rd = rnd() < 0.5;
      cases.push({
        label: `${qname} ${type} edns=${JSON.stringify(edns ?? null)} rd=${rd}`,
        bytes: buildQuery(qname, type, { id: id++, edns, rd }),
      });
    }
  }
  // Header and OPT corner cases, each checked against NSD.
  const base = buildQuery("ex.test", "A", { id: 9000, rd: true });
  const withOpt = buildQuery("ex.test", "A", { id: 9001, edns: {} });
  const edit = (label: string, bytes: number[] | Uint8Array) =>
    cases.push({ label, bytes: new Uint8Array(bytes) });
  edit("qdcount 0", [...base.slice(0, 4), 0, 0, 0, 0, 0, 0, 0, 0]);
  edit("qdcount 2", [...base.slice(0, 5), 2, ...base.slice(6), ...base.slice(12)]);
  edit("ancount 1", [...base.slice(0, 7), 1, ...base.slice(8)]);
  edit("nscount 1", [...base.slice(0, 9), 1, ...base.slice(10)]);
  edit("TC in query", [base[0], base[1], base[2] | 2, ...base.slice(3)]);
  edit("QR set (dropped)", [base[0], base[1], base[2] | 0x80, ...base.slice(3)]);
  edit("Z, AD, CD bits", [base[0], base[1], base[2], base[3] | 0x70, ...base.slice(4)]);
  edit("rcode in query", [base[0], base[1], base[2], base[3] | 5, ...base.slice(4)]);
  edit("opcode IQUERY", [base[0], base[1], base[2] | (1 << 3), ...base.slice(3)]);
  edit("opcode STATUS", [base[0], base[1], base[2] | (2 << 3), ...base.slice(3)]);
  edit("opcode NOTIFY", [base[0], base[1], base[2] | (4 << 3), ...base.slice(3)]);
  edit("opcode UPDATE", [base[0], base[1], base[2] | (5 << 3), ...base.slice(3)]);
  edit("opcode 7", [base[0], base[1], base[2] | (7 << 3), ...base.slice(3)]);
  edit("short question", base.slice(0, 20));
  edit("11 bytes (dropped)", base.slice(0, 11));
  edit("header only", base.slice(0, 12));
  edit("trailing bytes", [...base, 1, 2, 3]);
  edit("pointer in question", [...base.slice(0, 12), 0xc0, 12, 0, 1, 0, 1]);
  edit("label of 64", [...base.slice(0, 12), 64, ...new Array(64).fill(97), 0, 0, 1, 0, 1]);
  edit("two OPT", [
    ...withOpt.slice(0, 11),
    2,
    ...withOpt.slice(12),
    ...withOpt.slice(withOpt.length - 11),
  ]);
  edit("OPT version 1", [
    ...withOpt.slice(0, withOpt.length - 5),
    1,
    ...withOpt.slice(withOpt.length - 4),
  ]);
  edit("OPT not at root", [
    ...withOpt.slice(0, withOpt.length - 11),
    1,
    97,
    ...withOpt.slice(withOpt.length - 11),
  ]);
  edit("OPT bad rdlength", [...withOpt.slice(0, withOpt.length - 1), 9]);
  edit("OPT with cookie", [
    ...withOpt.slice(0, withOpt.length - 2),
    0,
    12,
    0,
    10,
    0,
    8,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
  ]);
  edit("non-OPT additional", [
    ...base.slice(0, 11),
    1,
    ...base.slice(12),
    0,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  edit("class CH", buildQuery("version.bind", "TXT", { id: 9002, qclass: 3, edns: {} }));
  edit("class ANY", buildQuery("ex.test", "A", { id: 9003, qclass: 255 }));
  edit("class NONE", buildQuery("ex.test", "A", { id: 9004, qclass: 254 }));
  edit("AXFR over UDP", buildQuery("ex.test", "AXFR", { id: 9005 }));
  edit("IXFR over UDP", buildQuery("ex.test", "IXFR", { id: 9006 }));
  edit("root name", buildQuery(".", "NS", { id: 9007 }));
  return cases;
}

Deno.test({
  name: "vigia answers like NSD: rcode, flags, OPT and record sets per section (UDP and TCP)",
  ignore: skipReason !== "",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-nsd-diff-" });
    await Deno.writeTextFile(`${dir}/ex.zone`, EX_ZONE);
    await Deno.writeTextFile(`${dir}/other.zone`, OTHER_ZONE);
    const nsdPort = await freeDnsPort();
    const nsd = await startNsd(dir, nsdPort);
    const vigia = await startDns(
      `zone_files = ["${dir}/ex.zone", "${dir}/other.zone"]\nzone = []\n[dns.rrl]\nenabled = false\n`,
    );
    const client = await UdpClient.open();
    try {
      const cases = buildCases();
      assert.ok(cases.length >= 250, `only ${cases.length} cases`);
      const mismatches: string[] = [];
      for (const c of cases) {
        const silentOk = /dropped/.test(c.label);
        const timeout = silentOk ? 300 : 1000;
        const [a, b] = [
          comparable(await client.exchange(nsdPort, c.bytes, { timeoutMs: timeout })),
          comparable(await client.exchange(vigia.port, c.bytes, { timeoutMs: timeout })),
        ];
        try {
          assert.deepEqual(b, a);
        } catch {
          mismatches.push(
            `${c.label}\n  nsd:   ${JSON.stringify(a)}\n  vigia: ${JSON.stringify(b)}`,
          );
        }
      }
      // TCP: pipelined on one connection each, no truncation there.
      const tcpCases = cases.filter((c) =>
        !/dropped|11 bytes|header only|short|AXFR|IXFR/.test(c.label)
      ).slice(0, 120);
      const [fromNsd, fromVigia] = [
        await tcpExchange(nsdPort, tcpCases.map((c) => c.bytes)),
        await tcpExchange(vigia.port, tcpCases.map((c) => c.bytes)),
      ];
      assert.equal(fromVigia.length, fromNsd.length);
      tcpCases.forEach((c, i) => {
        try {
          assert.deepEqual(comparable(fromVigia[i]), comparable(fromNsd[i]));
        } catch {
          mismatches.push(
            `TCP ${c.label}\n  nsd:   ${JSON.stringify(comparable(fromNsd[i]))}\n  vigia: ${
              JSON.stringify(comparable(fromVigia[i]))
            }`,
          );
        }
      });
      assert.deepEqual(
        mismatches,
        [],
        `${mismatches.length} of ${cases.length + tcpCases.length} differ:\n${
          mismatches.join("\n")
        }`,
      );
    } finally {
      await client.close();
      await vigia.stop();
      nsd.kill("SIGTERM");
      await nsd.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
