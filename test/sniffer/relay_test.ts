/**
 * Relayed DHCP: a device's addresses are the client's own (ciaddr, yiaddr of
 * an ACK, the source of packets it sent itself), never the relay's (giaddr),
 * which is named in a field of its own. Over a capture the test writes and
 * over the shared `dhcp-mud.pcap`.
 */

import assert from "node:assert/strict";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { macToInt } from "../../lib/sniffer/codec.ts";
import { sharedTestdata, skipUnless } from "../_env.ts";
import { dhcp4, ethernet, ip, type Record as PcapRecord, u32, udpIp } from "../capture/_frames.ts";
import { type Env, makeEnv, T0, writePcap } from "./_fixtures.ts";

const CLIENT = "b8:27:eb:00:00:09";
const RELAY_MAC = "00:23:eb:10:2c:29";
const SERVER_MAC = "00:23:54:c2:57:02";
const RELAY_IP = "10.9.0.1";
const SERVER_IP = "10.0.0.1";

/** A relayed exchange as seen between relay and server: DISCOVER, OFFER, REQUEST, ACK, then a renewal. */
function relayedExchange(): PcapRecord[] {
  const toServer = (ts: number, type: number, ciaddr = "0.0.0.0") => ({
    ts,
    data: ethernet(
      RELAY_MAC,
      SERVER_MAC,
      udpIp(
        { src: RELAY_IP, dst: SERVER_IP },
        67,
        67,
        dhcp4({
          op: 1,
          xid: 0x77,
          chaddr: CLIENT,
          ciaddr,
          giaddr: RELAY_IP,
          options: [[53, new Uint8Array([type])]],
        }),
      ),
    ),
  });
  const toRelay = (ts: number, type: number) => ({
    ts,
    data: ethernet(
      SERVER_MAC,
      RELAY_MAC,
      udpIp(
        { src: SERVER_IP, dst: RELAY_IP },
        67,
        67,
        dhcp4({
          op: 2,
          xid: 0x77,
          chaddr: CLIENT,
          yiaddr: "10.9.0.50",
          giaddr: RELAY_IP,
          options: [[53, new Uint8Array([type])], [54, ip(SERVER_IP)], [51, u32(600)]],
        }),
      ),
    ),
  });
  return [
    toServer(T0, 1),
    toRelay(T0 + 1, 2),
    toServer(T0 + 2, 3),
    toRelay(T0 + 3, 5),
    // A renewal through the relay: the client's address is in ciaddr.
    toServer(T0 + 4, 3, "10.9.0.51"),
  ];
}

function deviceIps(env: Env, mac: string): string {
  const row = env.store.get<{ ips: string }>(
    "SELECT ips FROM devices WHERE mac = ?",
    macToInt(mac),
  );
  return row?.ips ?? "(no device)";
}

function newStationAlert(env: Env, mac: string): Record<string, unknown> {
  const rows = env.store.query<{ subject: string; details: string }>(
    "SELECT subject, details FROM alerts WHERE kind = 'new-station'",
  );
  const row = rows.find((r) => r.subject.startsWith(mac));
  assert.ok(row, `no new-station alert for ${mac}: ${JSON.stringify(rows)}`);
  return JSON.parse(row.details);
}

Deno.test("relayed DHCP: the client's device gets its own addresses, never the relay's", async () => {
  const env = await makeEnv();
  try {
    const file = await writePcap(env.dir, "relay.pcap", relayedExchange());
    await runIngest(file, { ...env, alerts: env.bus });
    env.store.flush();
    const ips = deviceIps(env, CLIENT).split(",");
    assert.deepEqual(ips, ["10.9.0.51", "10.9.0.50"]);
    assert.ok(!ips.includes(RELAY_IP));
    // The relay itself is a device with its own address; the server too.
    assert.equal(deviceIps(env, RELAY_MAC), RELAY_IP);
    assert.equal(deviceIps(env, SERVER_MAC), SERVER_IP);
    // The new-station alert (first packet, a relayed DISCOVER) names the relay, not as the IP.
    const alert = newStationAlert(env, CLIENT);
    assert.equal(alert.relay, RELAY_IP);
    assert.notEqual(alert.ip, RELAY_IP);
    assert.match(env.logFile("alerts-2026-11-21.log"), /new-station.*relay=10\.9\.0\.1/);
  } finally {
    await env.close();
  }
});

Deno.test("relayed DHCP: dhcp-mud.pcap gives b8:27:eb:b8:53:c8 its own .123, relay apart", async () => {
  if (skipUnless(sharedTestdata !== null, "../shared/testdata is absent")) return;
  const file = `${sharedTestdata}/pcap/dhcp-mud.pcap`;
  const env = await makeEnv();
  try {
    await runIngest(file, { ...env, alerts: env.bus });
    env.store.flush();
    assert.equal(deviceIps(env, "b8:27:eb:b8:53:c8"), "62.12.173.123");
    const alert = newStationAlert(env, "b8:27:eb:b8:53:c8");
    assert.equal(alert.ip, "62.12.173.123");
    assert.equal(alert.relay, "62.12.173.121");
  } finally {
    await env.close();
  }
});
