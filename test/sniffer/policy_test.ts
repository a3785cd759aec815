/**
 * Every sniffer alert end to end: a capture file made by the test goes
 * through `runIngest` with a real alert bus; the alert must be stored, in the
 * alerts file, and (for the flood) mailed to a real SMTP server on loopback.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { snifferVerbs } from "../../lib/sniffer/verbs.ts";
import { startSmtp } from "../_helpers.ts";
import { dnsMessage, ethernet, udpIp } from "../capture/_frames.ts";
import { dhcpExchange, dnsPair, type Env, makeEnv, T0, verbEnv, writePcap } from "./_fixtures.ts";

interface StoredAlert {
  kind: string;
  severity: string;
  subject: string;
  details: Record<string, unknown>;
}

function alerts(env: Env, kind: string): StoredAlert[] {
  env.store.flush();
  return env.store.query<{ kind: string; severity: string; subject: string; details: string }>(
    "SELECT kind, severity, subject, details FROM alerts WHERE kind = ? ORDER BY id",
    kind,
  ).map((r) => ({ ...r, details: JSON.parse(r.details) }));
}

Deno.test("alerts: unauthorized-dns for a query to a denied server and for an answer from one", async () => {
  const env = await makeEnv(
    '[sniffer]\nnew_station_alert = false\nunauthorized_dns = ["203.0.113.0/24"]\n',
  );
  // A ctl-added entry counts too.
  await verbNamed(snifferVerbs, "deny dns add").run({ value: "198.51.100.53" }, verbEnv(env));
  const q = dnsMessage({ id: 77, qname: "evil.example", qtype: 1 });
  const records = [
    // A query to a denied server, no answer seen.
    {
      ts: T0,
      data: ethernet(
        "3c:22:fb:00:00:01",
        "00:11:22:33:44:55",
        udpIp({ src: "10.0.0.2", dst: "203.0.113.9" }, 41000, 53, q),
      ),
    },
    // Only an answer from a denied server seen (asymmetric routing).
    ...dnsPair({
      ts: T0 + 100,
      clientMac: "f0:d1:a9:00:00:02",
      clientIp: "10.0.0.3",
      serverIp: "198.51.100.53",
      id: 78,
      qname: "other.example",
    }).slice(1),
    // A permitted server: no alert.
    ...dnsPair({
      ts: T0 + 200,
      clientMac: "f0:d1:a9:00:00:02",
      clientIp: "10.0.0.3",
      serverIp: "10.0.0.1",
      id: 79,
      qname: "fine.example",
    }),
  ];
  const file = await writePcap(env.dir, "u.pcap", records);
  await runIngest(file, { ...env, alerts: env.bus });
  const got = alerts(env, "unauthorized-dns");
  assert.equal(got.length, 2);
  assert.equal(got[0].subject, "10.0.0.2 (3c:22:fb:00:00:01) -> 203.0.113.9");
  assert.equal(got[0].severity, "warning");
  assert.deepEqual(
    [
      got[0].details.client_mac,
      got[0].details.client_vendor,
      got[0].details.direction,
      got[0].details.query,
    ],
    ["3c:22:fb:00:00:01", "Apple", "query", "evil.example"],
  );
  assert.equal(got[1].subject, "10.0.0.3 (f0:d1:a9:00:00:02) -> 198.51.100.53");
  assert.equal(got[1].details.direction, "answer");
  const file2 = env.logFile("alerts-2026-11-21.log");
  assert.equal(file2.split("\n").filter((l) => l.includes("\tunauthorized-dns\t")).length, 2);
  await env.close();
});

Deno.test("alerts: unauthorized-mac for any DHCP from a denied MAC; rogue-dhcp for an unlisted server", async () => {
  const env = await makeEnv(
    '[sniffer]\nnew_station_alert = false\nunauthorized_macs = ["da:a1:19:00:00:07"]\nallowed_dhcp_servers = ["10.0.0.1", "00:11:22:33:44:66"]\n',
  );
  await verbNamed(snifferVerbs, "deny mac add").run({ value: "F0-D1-A9-00-00-09" }, verbEnv(env));
  const records = [
    // A denied client and the real (allowed) server.
    ...dhcpExchange({
      ts: T0,
      clientMac: "da:a1:19:00:00:07",
      serverMac: "00:11:22:33:44:55",
      serverIp: "10.0.0.1",
      offer: "10.0.0.50",
      xid: 1,
    }),
    // The ctl-denied client, served by a server allowed by its MAC.
    ...dhcpExchange({
      ts: T0 + 100,
      clientMac: "f0:d1:a9:00:00:09",
      serverMac: "00:11:22:33:44:66",
      serverIp: "10.0.0.99",
      offer: "10.0.0.51",
      xid: 2,
    }),
    // A fine client answered by a rogue server.
    ...dhcpExchange({
      ts: T0 + 200,
      clientMac: "3c:22:fb:00:00:01",
      serverMac: "02:00:00:00:66:66",
      serverIp: "192.168.66.1",
      offer: "192.168.66.10",
      xid: 3,
    }),
  ];
  const file = await writePcap(env.dir, "d.pcap", records);
  await runIngest(file, { ...env, alerts: env.bus });
  const macs = alerts(env, "unauthorized-mac");
  // One alert per MAC (the bus folds the repeats within its window); the server's answers to it
  // are not "from" it.
  assert.deepEqual(macs.map((a) => [a.subject, a.details.msg_type]), [
    ["da:a1:19:00:00:07 (locally administered) uses DHCP", "DISCOVER"],
    ["f0:d1:a9:00:00:09 (Apple) uses DHCP", "DISCOVER"],
  ]);
  assert.equal(macs[1].details.vendor, "Apple");
  const rogue = alerts(env, "rogue-dhcp");
  assert.deepEqual(rogue.map((a) => [a.subject, a.details.msg_type]), [
    ["DHCP server 192.168.66.1 (02:00:00:00:66:66)", "OFFER"],
  ]);
  assert.equal(rogue[0].severity, "error");
  assert.equal(rogue[0].details.client_mac, "3c:22:fb:00:00:01");
  assert.equal(rogue[0].details.assigned_addr, "192.168.66.10");
  // Its ACK has the same subject: folded into the alert by the bus, not a second alert.
  assert.equal((env.bus.stats() as { suppressed_repeats: number }).suppressed_repeats >= 1, true);
  await env.close();
});

Deno.test("alerts: new-station once per MAC, labelled; none for group or zero MACs", async () => {
  const env = await makeEnv();
  const records = [
    ...dnsPair({
      ts: T0,
      clientMac: "3c:22:fb:00:00:01",
      clientIp: "10.0.0.2",
      serverIp: "10.0.0.1",
      id: 1,
      qname: "a.example",
    }),
    ...dnsPair({
      ts: T0 + 10,
      clientMac: "3c:22:fb:00:00:01",
      clientIp: "10.0.0.2",
      serverIp: "10.0.0.1",
      id: 2,
      qname: "b.example",
    }),
    ...dnsPair({
      ts: T0 + 20,
      clientMac: "da:a1:19:00:00:08",
      clientIp: "10.0.0.4",
      serverIp: "10.0.0.1",
      id: 3,
      qname: "c.example",
    }),
    {
      ts: T0 + 30,
      data: ethernet(
        "01:00:5e:00:00:fb",
        "01:00:5e:00:00:fb",
        udpIp(
          { src: "10.0.0.9", dst: "224.0.0.251" },
          53,
          53,
          dnsMessage({ id: 4, qname: "m.local", qtype: 1 }),
        ),
      ),
    },
  ];
  const file = await writePcap(env.dir, "n.pcap", records);
  await runIngest(file, { ...env, alerts: env.bus });
  const got = alerts(env, "new-station");
  assert.deepEqual(got.map((a) => a.subject), [
    "3c:22:fb:00:00:01 (Apple)",
    "00:11:22:33:44:55 (CIMSYS)",
    "da:a1:19:00:00:08 (locally administered)",
  ]);
  assert.equal(got[0].severity, "notice");
  assert.deepEqual([got[0].details.ip, got[0].details.via], ["10.0.0.2", "dns"]);
  // A second run over the same file (forced: it replaces the first one's events) finds nothing new.
  await runIngest(file, { ...env, alerts: env.bus, force: true });
  assert.equal(alerts(env, "new-station").length, 3);
  await env.close();
});

Deno.test("alerts: a DNS flood (50 packets in 1 s from one source) is mailed with its top talkers", async () => {
  const smtp = await startSmtp();
  const env = await makeEnv(
    `[alerts]\nmail.enabled = true\nmail.server = "127.0.0.1:${smtp.port}"\nmail.tls = "none"\n` +
      `mail.digest_interval = "0s"\nmail.to = ["noc@example.org"]\nmail.from = "vigia@example.org"\n` +
      `[sniffer]\nnew_station_alert = false\n`,
  );
  const records = [];
  // 60 queries in 590 ms from one client; 10 from another.
  for (let i = 0; i < 60; i++) {
    records.push({
      ts: T0 + i * 10,
      data: ethernet(
        "3c:22:fb:00:00:01",
        "00:11:22:33:44:55",
        udpIp(
          { src: "10.0.0.2", dst: "10.0.0.1" },
          30000 + i,
          53,
          dnsMessage({ id: i, qname: `f${i}.example`, qtype: 1 }),
        ),
      ),
    });
  }
  for (let i = 0; i < 10; i++) {
    records.push({
      ts: T0 + i * 10 + 5,
      data: ethernet(
        "f0:d1:a9:00:00:02",
        "00:11:22:33:44:55",
        udpIp(
          { src: "10.0.0.3", dst: "10.0.0.1" },
          31000 + i,
          53,
          dnsMessage({ id: i, qname: "x.example", qtype: 1 }),
        ),
      ),
    });
  }
  const file = await writePcap(env.dir, "flood.pcap", records);
  await runIngest(file, { ...env, alerts: env.bus });
  const got = alerts(env, "dns-flood");
  assert.equal(got.length, 1, "once per cooldown");
  assert.equal(got[0].severity, "error");
  assert.equal(got[0].subject, "50 DNS packets within 1000 ms from 10.0.0.2 (3c:22:fb:00:00:01)");
  assert.equal(got[0].details.scope, "source");
  assert.equal(got[0].details.count, 50);
  assert.deepEqual(got[0].details.top_sources, [
    "10.0.0.2 (3c:22:fb:00:00:01) 50",
    "10.0.0.3 (f0:d1:a9:00:00:02) 10",
  ]);
  const [mail] = await smtp.waitFor(1);
  assert.deepEqual(mail.to, ["noc@example.org"]);
  assert.match(
    mail.raw,
    /Subject: \[vigia\] ERROR dns-flood: 50 DNS packets within 1000 ms from\s+10\.0\.0\.2/,
  );
  assert.match(mail.raw, /top_sources: 10\.0\.0\.2 \(3c:22:fb:00:00:01\) 50, 10\.0\.0\.3/);
  await env.close();
  await smtp.close();
});
