/**
 * vigia as a secondary of real primaries, TSIG-keyed: of NSD (which
 * answers vigia's IXFR with the whole zone, so every change comes by AXFR)
 * and of Knot (changes made with `knotc` transactions are journalled, so
 * they come by IXFR). Each change on the primary reaches vigia by NOTIFY,
 * and then vigia's answers equal the primary's for a differential list of
 * queries: rcode, header flags, OPT and the record set of every section.
 */

import assert from "node:assert/strict";
import { newTsigSecret } from "../../lib/dns/tsig.ts";
import { freeDnsPort, kdig, startDns, type TestDns, UdpClient } from "./_harness.ts";
import { buildQuery, type Comparable, comparable, decode, EX_ZONE } from "./_packets.ts";
import { hasProgram, type PeerKey, startKnotPrimary, startNsdPrimary } from "./_peers.ts";

const missing = ["nsd", "knotd", "knotc", "kdig"].filter((p) => !hasProgram(p));
if (missing.length) console.log(`SKIP dns secondary peers test: ${missing.join(", ")} missing`);

const NAMES = [
  "ex.test",
  "ns1.ex.test",
  "mail.ex.test",
  "www.ex.test",
  "alias.ex.test",
  "ext.ex.test",
  "dangling.ex.test",
  "x.wild.ex.test",
  "sub.wild.ex.test",
  "q.wc.ex.test",
  "ent.x.ex.test",
  "y.ent.x.ex.test",
  "b.c.ex.test",
  "deleg.ex.test",
  "x.deleg.ex.test",
  "_sip._tcp.ex.test",
  "caa.ex.test",
  "ptr.ex.test",
  "unk.ex.test",
  "mx2.ex.test",
  "ttls.ex.test",
  "multi.ex.test",
  "new.ex.test",
  "nothere.ex.test",
];
const TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "SRV", "TYPE65000"];

/**
 * Knot answers minimally (no apex NS in the authority section of positive
 * answers, fewer additional records) where NSD, and vigia after it, fill
 * them in: against Knot, those two sections of vigia's answer must hold
 * every record of Knot's, and everything else must be equal.
 */
function minimalLike(vigia: Comparable | null, knot: Comparable | null): Comparable | null {
  if (!vigia || !knot) return vigia;
  const within = (mine: string[], theirs: string[]) =>
    theirs.every((r) => mine.includes(r)) ? theirs : mine;
  return {
    ...vigia,
    authority: within(vigia.authority, knot.authority),
    additional: within(vigia.additional, knot.additional),
  };
}

/** Asks both servers every question; returns the differences. */
async function differences(
  client: UdpClient,
  primary: number,
  vigia: number,
  options: { minimal?: boolean } = {},
): Promise<string[]> {
  const out: string[] = [];
  let id = 1;
  // Knot gives the glue below a delegation as additional data of an MX target; NSD (and vigia) do not.
  for (const name of NAMES.filter((n) => !options.minimal || n !== "mx2.ex.test")) {
    for (const type of TYPES) {
      for (const edns of [undefined, { payload: 1232 }]) {
        const q = buildQuery(name, type, { id: id++, edns });
        const a = comparable(await client.exchange(primary, q, { timeoutMs: 1000 }));
        let b = comparable(await client.exchange(vigia, q, { timeoutMs: 1000 }));
        if (options.minimal) b = minimalLike(b, a);
        try {
          assert.deepEqual(b, a);
        } catch {
          out.push(
            `${name} ${type} edns=${!!edns}\n  primary: ${JSON.stringify(a)}\n  vigia:   ${
              JSON.stringify(b)
            }`,
          );
        }
      }
    }
  }
  return out;
}

async function serialOf(client: UdpClient, port: number): Promise<number | undefined> {
  const r = await client.exchange(port, buildQuery("ex.test", "SOA", { id: 99 }), {
    timeoutMs: 500,
  });
  if (!r) return undefined;
  const soa = decode(r).answer[0];
  return soa ? Number(/"serial":(\d+)/.exec(soa)?.[1]) : undefined;
}

/** Polls the SOA serial (nothing to subscribe to) every 50 ms, at most `ms`. */
async function waitSerial(client: UdpClient, port: number, serial: number, what: string) {
  const t0 = performance.now();
  let seen: number | undefined;
  while (performance.now() - t0 < 10_000) {
    seen = await serialOf(client, port);
    if (seen === serial) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: serial ${serial} not seen within 10 s (last ${seen})`);
}

const ZONE_V2 = EX_ZONE.replace("2024010101", "2024010102")
  .replace("mail A 192.0.2.25", 'mail A 192.0.2.26\nnew A 192.0.2.77\nnew TXT "added"')
  .replace("ttls 300 A 192.0.2.31\n", "");

interface InStats {
  transfers_in: { axfr: number; ixfr: number; failed: Record<string, number> };
}
const inStats = (t: TestDns) => (t.server.stats() as unknown as InStats).transfers_in;

function vigiaToml(key: PeerKey, primaryPort: number): string {
  return `zone = []\ntable_poll = "1h"\n[dns.rrl]\nenabled = false\n` +
    `[[dns.tsig_key]]\nname = "${key.name}"\nsecret = "${key.secret}"\n` +
    `[[dns.secondary]]\norigin = "ex.test."\nprimaries = ["127.0.0.1:${primaryPort}"]\nkey = "${key.name}"\n` +
    `[[dns.transfer]]\nzones = ["ex.test."]\nallow = ["127.0.0.1"]\nkey = "${key.name}"\n`;
}

Deno.test({
  name: "vigia follows NSD by AXFR with TSIG: after each change its answers equal NSD's",
  ignore: missing.length > 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const key: PeerKey = {
      name: "xfr-key.",
      algorithm: "hmac-sha256",
      secret: newTsigSecret("hmac-sha256"),
    };
    const vigiaPort = await freeDnsPort();
    const nsd = await startNsdPrimary("ex.test.", {
      zoneText: EX_ZONE,
      key,
      notifyPort: vigiaPort,
    });
    const client = await UdpClient.open();
    let t: TestDns | undefined;
    try {
      await waitSerial(client, nsd.port, 2024010101, "nsd up");
      t = await startDns(vigiaToml(key, nsd.port), { port: vigiaPort });
      await waitSerial(client, t.port, 2024010101, "first transfer from nsd");
      assert.deepEqual(await differences(client, nsd.port, t.port), []);

      await nsd.setZone(ZONE_V2);
      const ms = await waitSerial(client, t.port, 2024010102, "change from nsd by NOTIFY");
      console.log(`vigia served NSD's change ${ms.toFixed(0)} ms after the SIGHUP`);
      const diff = await differences(client, nsd.port, t.port);
      assert.deepEqual(diff, [], diff.join("\n"));
      const s = inStats(t);
      assert.equal(s.axfr + s.ixfr, 2, JSON.stringify(s));
      assert.deepEqual(Object.values(s.failed).reduce((a, b) => a + b, 0), 0);

      // Passed onward with the key, refused without it.
      const signed = await kdig(t.port, [
        "-y",
        `hmac-sha256:${key.name}:${key.secret}`,
        "AXFR",
        "ex.test.",
      ]);
      assert.match(signed.out, /new\.ex\.test\.\s+3600\s+IN\s+TXT\s+"added"/, signed.out);
      const unsigned = await kdig(t.port, ["AXFR", "ex.test."]);
      assert.match(unsigned.out, /NOTAUTH/, unsigned.out);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nnsd log:\n${(await nsd.log()).slice(-2000)}`);
    } finally {
      await client.close();
      await t?.stop();
      await nsd.stop();
    }
  },
});

Deno.test({
  name: "vigia follows Knot by IXFR with TSIG: after each change its answers equal Knot's",
  ignore: missing.length > 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const key: PeerKey = {
      name: "xfr-key.",
      algorithm: "hmac-sha256",
      secret: newTsigSecret("hmac-sha256"),
    };
    const vigiaPort = await freeDnsPort();
    const knot = await startKnotPrimary("ex.test.", {
      zoneText: EX_ZONE,
      key,
      notifyPort: vigiaPort,
    });
    const client = await UdpClient.open();
    let t: TestDns | undefined;
    try {
      await waitSerial(client, knot.port, 2024010101, "knot up");
      t = await startDns(vigiaToml(key, knot.port), { port: vigiaPort });
      await waitSerial(client, t.port, 2024010101, "first transfer from knot");
      const first = await differences(client, knot.port, t.port, { minimal: true });
      assert.deepEqual(first, [], first.join("\n"));

      const changes: string[][] = [
        ["zone-set", "ex.test.", "new", "3600", "A", "192.0.2.77"],
        ["zone-unset", "ex.test.", "ttls", "A", "192.0.2.31"],
        ["zone-set", "ex.test.", "mail", "3600", "A", "192.0.2.26"],
      ];
      let serial = 2024010101;
      for (const change of changes) {
        await knot.knotc("zone-begin", "ex.test.");
        await knot.knotc(...change);
        await knot.knotc("zone-commit", "ex.test.");
        serial++;
        await waitSerial(client, knot.port, serial, "knot committed");
        await waitSerial(client, t.port, serial, `${change.join(" ")} by NOTIFY`);
        const diff = await differences(client, knot.port, t.port, { minimal: true });
        assert.deepEqual(diff, [], `after ${change.join(" ")}:\n${diff.join("\n")}`);
      }
      const s = inStats(t);
      assert.equal(s.axfr, 1, JSON.stringify(s));
      assert.equal(s.ixfr, changes.length, JSON.stringify(s));
    } catch (e) {
      throw new Error(`${(e as Error).message}\nknot log:\n${(await knot.log()).slice(-2000)}`);
    } finally {
      await client.close();
      await t?.stop();
      await knot.stop();
    }
  },
});
