/**
 * vigia as the primary of real secondaries: NSD and Knot, started in temp
 * dirs on loopback, transfer the zone from vigia with TSIG; after `ctl zone
 * add` both answer the new record within 2 s thanks to NOTIFY (the SOA
 * refresh is an hour), and Knot's request is answered with an IXFR.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { hasCommand } from "../_helpers.ts";
import { dnsVerbs } from "../../lib/dns/mod.ts";
import { newTsigSecret } from "../../lib/dns/tsig.ts";
import { freeDnsPort, startDns } from "./_harness.ts";
import {
  hasProgram,
  type Peer,
  type PeerKey,
  startKnotSecondary,
  startNsdSecondary,
  waitForAnswer,
} from "./_peers.ts";

const missing = ["nsd", "knotd"].filter((p) => !hasProgram(p));
if (!hasCommand("dig")) missing.push("dig");
if (missing.length) console.log(`SKIP dns peers test: ${missing.join(", ")} not installed`);

const ZONE = `$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 900 604800 300
@ NS ns1
ns1 A 127.0.0.1
www A 192.0.2.1
mail MX 10 www
`;

Deno.test({
  name: "NSD and Knot follow vigia by AXFR/IXFR with TSIG and pick up changes by NOTIFY",
  ignore: missing.length > 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const key: PeerKey = {
      name: "xfr-key.",
      algorithm: "hmac-sha256",
      secret: newTsigSecret("hmac-sha256"),
    };
    const dir = await Deno.makeTempDir({ prefix: "vigia-peers-" });
    await Deno.writeTextFile(`${dir}/example.test.zone`, ZONE);
    const peers: Peer[] = [];
    // vigia first (a secondary that finds no primary waits for its retry timer), told the peers' ports.
    const vigiaPort = await freeDnsPort();
    const nsdPort = await freeDnsPort();
    const knotPort = await freeDnsPort();
    try {
      const t = await startDns(
        `zone_files = ["${dir}/example.test.zone"]\nzone = []\ntable_poll = "1h"\n` +
          `[[dns.tsig_key]]\nname = "${key.name}"\nsecret = "${key.secret}"\n` +
          `[[dns.transfer]]\nzones = ["example.test."]\nallow = ["127.0.0.1"]\nkey = "${key.name}"\n` +
          `notify = ["127.0.0.1:${nsdPort}", "127.0.0.1:${knotPort}"]\n`,
        { port: vigiaPort },
      );
      try {
        const nsd = await startNsdSecondary("example.test.", {
          primaryPort: vigiaPort,
          key,
          port: nsdPort,
        });
        peers.push(nsd);
        const knot = await startKnotSecondary("example.test.", {
          primaryPort: vigiaPort,
          key,
          port: knotPort,
        });
        peers.push(knot);
        for (const [name, p] of [["nsd", nsd], ["knot", knot]] as const) {
          await waitForAnswer(p.port, { name: "www.example.test", type: "A" }, {
            accept: (a) => a === "192.0.2.1",
            timeoutMs: 20_000,
            what: `${name} first transfer; log:\n${await p.log()}`,
          }).catch(async (e) => {
            throw new Error(`${e.message}\n${name} log:\n${(await p.log()).slice(-3000)}`);
          });
        }
        const before = t.server.stats() as { transfers_out: { axfr: number; ixfr: number } };
        assert.ok(before.transfers_out.axfr >= 2, JSON.stringify(before.transfers_out));

        await verbNamed(dnsVerbs, "zone add").run(
          { name: "new.example.test", type: "A", value: "192.0.2.77" },
          t.env,
        );
        const [nsdMs, knotMs] = await Promise.all(
          [nsd, knot].map((p, i) =>
            waitForAnswer(p.port, { name: "new.example.test", type: "A" }, {
              accept: (a) => a === "192.0.2.77",
              timeoutMs: 2000,
              what: i === 0 ? "nsd after NOTIFY" : "knot after NOTIFY",
            }).catch(async (e) => {
              throw new Error(`${e.message}\nlog:\n${(await p.log()).slice(-3000)}`);
            })
          ),
        );
        console.log(
          `new record answered by nsd after ${nsdMs.toFixed(0)} ms, knot ${knotMs.toFixed(0)} ms`,
        );
        const serial = await waitForAnswer(knot.port, { name: "example.test", type: "SOA" }, {
          accept: (a) => a.split(" ")[2] === "2",
          timeoutMs: 2000,
          what: "knot serial 2",
        });
        assert.ok(serial >= 0);
        const after = t.server.stats() as {
          transfers_out: { ixfr: number };
          notify_out: { answered: number };
        };
        assert.ok(
          after.transfers_out.ixfr >= 1,
          `an IXFR was served: ${JSON.stringify(after.transfers_out)}`,
        );
        assert.ok(after.notify_out.answered >= 2, JSON.stringify(after.notify_out));
        assert.match(await knot.log(), /IXFR/i);
        const status = t.server.zoneStatus().find((z) => z.zone === "example.test.");
        assert.ok(status?.last_transfer_out && status.last_notify_answered, JSON.stringify(status));
      } finally {
        await t.stop();
      }
    } finally {
      for (const p of peers) await p.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
