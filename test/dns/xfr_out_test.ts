/**
 * Zone transfers out, asked with the real `kdig`: AXFR streamed in many
 * messages, IXFR from the journal after `ctl zone add`, IXFR falling back to
 * the whole zone, IXFR over UDP (SOA only), TSIG (sound, BADSIG, BADKEY,
 * BADTIME, unsigned where a key is required) and REFUSED for a network not
 * allowed — while plain queries keep being answered.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { hasCommand } from "../_helpers.ts";
import { dnsVerbs } from "../../lib/dns/mod.ts";
import { newTsigSecret, parseTsigKey, signMessage, TSIG_ERROR } from "../../lib/dns/tsig.ts";
import { findTsig, keyring, verifyTsig } from "../../lib/dns/tsig.ts";
import { dig, kdig, startDns } from "./_harness.ts";

const ready = hasCommand("kdig") && hasCommand("dig");
if (!ready) console.log("SKIP dns transfer-out test: kdig and dig are needed (knot-dnsutils)");

const SECRET = newTsigSecret("hmac-sha256");
const OTHER = newTsigSecret("hmac-sha256");

function zoneText(n: number): string {
  let text = `$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 100 3600 900 604800 300\n` +
    `@ NS ns1\nns1 A 192.0.2.53\n`;
  for (let i = 0; i < n; i++) {
    text += `h${i} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\n`;
  }
  return text;
}

/** Records of a kdig transfer answer (lines of RRs), and its summary. */
function parseXfr(out: string): { records: string[]; messages: number; rcode?: string } {
  const records = out.split("\n").filter((l) => /^\S+\s+\d+\s+IN\s+\w+/.test(l));
  const messages = Number(/Received \d+ B \((\d+) messages?/.exec(out)?.[1] ?? 0);
  const rcode = /status: (\w+)|rcode: (\w+)/i.exec(out);
  return { records, messages, rcode: rcode?.[1] ?? rcode?.[2] };
}

Deno.test({
  name: "AXFR/IXFR out with TSIG and network rules, asked with kdig",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-xfr-" });
    const file = `${dir}/big.test.zone`;
    await Deno.writeTextFile(file, zoneText(3000));
    const t = await startDns(
      `zone_files = ["${file}"]\ntable_poll = "1h"\nixfr_journal_changes = 3\n` +
        `[[dns.tsig_key]]\nname = "xfr-key."\nsecret = "${SECRET}"\n` +
        `[[dns.tsig_key]]\nname = "other-key."\nalgorithm = "hmac-sha512"\nsecret = "${OTHER}"\n` +
        `[[dns.transfer]]\nzones = ["vigia.test."]\nallow = ["127.0.0.0/8"]\n` +
        `[[dns.transfer]]\nzones = ["big.test."]\nallow = ["127.0.0.1"]\nkey = "xfr-key."\n` +
        `[[dns.transfer]]\nzones = ["*"]\nallow = ["192.0.2.0/24"]\n`,
    );
    const key = ["-y", `hmac-sha256:xfr-key.:${SECRET}`];
    try {
      // Unsigned AXFR of a zone that needs no key: the whole zone, SOA first and last.
      let r = parseXfr((await kdig(t.port, ["+tcp", "AXFR", "vigia.test."])).out);
      assert.equal(r.records.length, 11, r.records.join("\n"));
      assert.match(r.records[0], /\sSOA\s/);
      assert.match(r.records.at(-1)!, /\sSOA\s/);

      // A signed AXFR of 3000+ records: many messages, each signed (kdig checks them all).
      const axfr = await kdig(t.port, [...key, "+tcp", "AXFR", "big.test."]);
      r = parseXfr(axfr.out);
      assert.equal(r.records.length, 3000 + 4, axfr.out.slice(-500));
      assert.ok(r.messages > 1, `${r.messages} messages`);
      assert.doesNotMatch(axfr.out, /WARNING|failed|BADSIG/i, axfr.out.slice(-400));

      // Without the key where one is required: NOTAUTH; a wrong secret: NOTAUTH BADSIG; unknown key: BADKEY.
      const unsigned = await kdig(t.port, ["+tcp", "AXFR", "big.test."]);
      assert.match(unsigned.out, /NOTAUTH/, unsigned.out);
      const badSig = await kdig(t.port, [
        "-y",
        `hmac-sha256:xfr-key.:${OTHER}`,
        "+tcp",
        "AXFR",
        "big.test.",
      ]);
      assert.match(badSig.out, /NOTAUTH|BADSIG/, badSig.out);
      assert.match(badSig.out, /BADSIG/, badSig.out);
      const badKey = await kdig(t.port, [
        "-y",
        `hmac-sha256:nope.:${SECRET}`,
        "+tcp",
        "AXFR",
        "big.test.",
      ]);
      assert.match(badKey.out, /BADKEY/, badKey.out);
      // Signed with a known key that is not the one required: NOTAUTH.
      const otherKey = await kdig(t.port, [
        "-y",
        `hmac-sha512:other-key.:${OTHER}`,
        "+tcp",
        "AXFR",
        "big.test.",
      ]);
      assert.match(otherKey.out, /NOTAUTH/, otherKey.out);

      // BADTIME: a request signed 20 minutes ago, over TCP, checked by hand.
      const xfrKey = parseTsigKey({ name: "xfr-key.", algorithm: "hmac-sha256", secret: SECRET });
      const query = soaQuery("big.test.");
      const old = signMessage(query, xfrKey, {
        timeSigned: Math.floor(Date.now() / 1000) - 1200,
      });
      const reply = await tcpExchange(t.port, old.message);
      assert.equal(reply[3] & 15, 9, "NOTAUTH");
      const tsig = findTsig(reply);
      assert.ok(tsig && tsig !== "malformed");
      assert.equal(tsig.error, TSIG_ERROR.BADTIME);
      assert.equal(
        verifyTsig(reply, tsig, {
          keys: keyring([xfrKey]),
          priorMac: old.mac,
          now: tsig.timeSigned,
        }).error,
        0,
        "BADTIME answer is signed",
      );

      // A signed plain SOA query over UDP is answered signed (as secondaries check serials).
      const soa = await kdig(t.port, [...key, "big.test.", "SOA"]);
      assert.match(soa.out, /NOERROR/);
      assert.match(soa.out, /TSIG PSEUDOSECTION|xfr-key\.\s+0\s+ANY\s+TSIG/i, soa.out);

      // A network not allowed: REFUSED (the rules name 127.0.0.1 and 127/8 for other zones only).
      const refusedZone = await kdig(t.port, ["-b", "127.0.0.2", "+tcp", "AXFR", "big.test."]);
      assert.match(refusedZone.out, /REFUSED/, refusedZone.out);

      // ctl zone add: a new serial, and IXFR from the old one gives just that change.
      await verbNamed(dnsVerbs, "zone add").run({
        name: "new.big.test",
        type: "A",
        value: "192.0.2.99",
      }, t.env);
      const ixfr = await kdig(t.port, [...key, "+tcp", "IXFR=100", "big.test."]);
      r = parseXfr(ixfr.out);
      assert.deepEqual(
        r.records.map((l) => l.split(/\s+/)[3]),
        ["SOA", "SOA", "SOA", "A", "SOA"],
        ixfr.out,
      );
      assert.match(r.records[3], /new\.big\.test\.\s+3600\s+IN\s+A\s+192\.0\.2\.99/);
      assert.match(r.records[0], /\s101\s/);
      assert.match(r.records[1], /\s100\s/);

      // Up to date: the SOA alone. Over UDP: the SOA alone too.
      r = parseXfr((await kdig(t.port, [...key, "+tcp", "IXFR=101", "big.test."])).out);
      assert.equal(r.records.length, 1);
      const udp = await kdig(t.port, [...key, "+notcp", "IXFR=100", "big.test."]);
      assert.match(udp.out, /big\.test\.\s+300\s+IN\s+SOA\s.*\s101\s/, udp.out);

      // Four more changes with a journal of 3: IXFR from 100 gets the whole zone.
      for (let i = 0; i < 4; i++) {
        await verbNamed(dnsVerbs, "zone add").run(
          { name: `n${i}.big.test`, type: "A", value: `192.0.2.${i}` },
          t.env,
        );
      }
      r = parseXfr((await kdig(t.port, [...key, "+tcp", "IXFR=100", "big.test."])).out);
      assert.equal(r.records.length, 3000 + 4 + 5);
      r = parseXfr((await kdig(t.port, [...key, "+tcp", "IXFR=103", "big.test."])).out);
      assert.equal(r.records.length, 1 + 2 * (2 + 1) + 1, "two changes from the journal");

      // Plain queries all along.
      assert.match((await dig(t.port, ["+short", "h42.big.test", "A"])).out, /10\.0\.0\.42/);
      const stats = t.server.stats() as {
        transfers_out: { axfr: number; refused: number; notauth: number };
      };
      assert.ok(
        stats.transfers_out.axfr >= 2 && stats.transfers_out.refused >= 1 &&
          stats.transfers_out.notauth >= 3,
        JSON.stringify(stats.transfers_out),
      );
    } finally {
      await t.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function soaQuery(zone: string): Uint8Array {
  const labels = zone.replace(/\.$/, "").split(".");
  const name = [...labels.flatMap((l) => [l.length, ...new TextEncoder().encode(l)]), 0];
  return new Uint8Array([0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...name, 0, 6, 0, 1]);
}

async function tcpExchange(port: number, message: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const frame = new Uint8Array(message.length + 2);
    frame[0] = message.length >> 8;
    frame[1] = message.length & 0xff;
    frame.set(message, 2);
    await conn.write(frame);
    const buf = new Uint8Array(65537);
    let have = 0;
    while (have < 2 || have < 2 + ((buf[0] << 8) | buf[1])) {
      const n = await conn.read(buf.subarray(have));
      if (n === null) throw new Error("connection closed");
      have += n;
    }
    return buf.slice(2, 2 + ((buf[0] << 8) | buf[1]));
  } finally {
    conn.close();
  }
}
