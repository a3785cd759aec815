import assert from "node:assert/strict";
import { openEventWriter } from "../../lib/sniffer/event_writer.ts";
import { Pipeline } from "../../lib/sniffer/pipeline.ts";
import type { SnifferConfig } from "../../lib/sniffer/config.ts";
import { dhcpEvent, dnsEvent, type Env, makeEnv, meta, readable, T0 } from "./_fixtures.ts";

async function pipelineFor(env: Env) {
  const writer = await openEventWriter(env.store, { log: env.log });
  const pipeline = new Pipeline({
    section: env.config.sniffer as SnifferConfig,
    store: env.store,
    writer,
    dailyLog: env.dailyLog,
    alerts: env.bus,
    log: env.log,
    timeZone: "UTC",
    backpressure: "wait",
  });
  return {
    pipeline,
    async close() {
      await pipeline.close();
      await writer.close();
    },
  };
}

Deno.test("pipeline: DNS and DHCP events become rows, daily lines, devices and new-station events", async () => {
  const env = await makeEnv();
  const { pipeline, close } = await pipelineFor(env);
  const client = { srcMac: "3c:22:fb:00:00:01", srcIp: "10.0.0.2" };
  const server = {
    srcMac: "00:11:22:33:44:55",
    dstMac: "3c:22:fb:00:00:01",
    srcIp: "10.0.0.1",
    dstIp: "10.0.0.2",
    srcPort: 53,
    dstPort: 40000,
  };
  await pipeline.process([
    dnsEvent(meta({ ts: T0, ...client }), { trans_id: 4660, query: "tab\there.example" }),
    dnsEvent(meta({ ts: T0 + 1.5, ...server }), {
      trans_id: 4660,
      qr: true,
      RA: true,
      query: "tab\there.example",
      answers: [
        { name: "tab\there.example", type: "CNAME", ttl: 60, data: "www.example.net" },
        { name: "www.example.net", type: "A", ttl: 300, data: "93.184.216.34" },
      ],
    }),
    dhcpEvent(
      meta({
        ts: T0 + 10,
        srcMac: "da:a1:19:00:00:07",
        dstMac: "ff:ff:ff:ff:ff:ff",
        srcIp: "0.0.0.0",
        dstIp: "255.255.255.255",
        srcPort: 68,
        dstPort: 67,
        vlan: 12,
      }),
      {
        msg_type: "REQUEST",
        trans_id: 0xabcd,
        mac: "da:a1:19:00:00:07",
        client_addr: "0.0.0.0",
        requested_addr: "10.0.0.50",
        host_name: "phone",
        vendor_class: "android-dhcp-14",
        param_list: [1, 3, 6],
      },
    ),
    dhcpEvent(
      meta({
        ts: T0 + 11,
        srcMac: "00:11:22:33:44:55",
        dstMac: "ff:ff:ff:ff:ff:ff",
        srcIp: "10.0.0.1",
        dstIp: "255.255.255.255",
        srcPort: 67,
        dstPort: 68,
        vlan: 12,
      }),
      {
        msg_type: "ACK",
        trans_id: 0xabcd,
        mac: "da:a1:19:00:00:07",
        assigned_addr: "10.0.0.50",
        server_id: "10.0.0.1",
        lease_time: 3600,
      },
    ),
  ]);
  await pipeline.flush();

  const rows = readable(env);
  assert.equal(rows.length, 4);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.to_client, r.client_mac, r.vendor, r.src_ip, r.dst_ip]),
    [
      ["dns", 0, "3c:22:fb:00:00:01", "Apple", "10.0.0.2", "10.0.0.1"],
      ["dns", 1, "3c:22:fb:00:00:01", "Apple", "10.0.0.1", "10.0.0.2"],
      ["dhcp", 0, "da:a1:19:00:00:07", "(locally administered)", "0.0.0.0", "255.255.255.255"],
      ["dhcp", 1, "da:a1:19:00:00:07", "(locally administered)", "10.0.0.1", "255.255.255.255"],
    ],
  );
  assert.equal(rows[0].time_utc, "2026-11-21T12:00:00.000Z");
  assert.equal(rows[1].flags, 4 | 8); // RD RA
  assert.deepEqual(JSON.parse(rows[1].answers as string), [
    ["tab\there.example", "CNAME", 60, "www.example.net"],
    ["www.example.net", "A", 300, "93.184.216.34"],
  ]);
  assert.equal(rows[2].host_name, "phone");
  assert.equal(rows[2].param_list, "1,3,6");
  assert.equal(rows[2].client_addr, null, "0.0.0.0 is left out");
  assert.equal(rows[3].assigned_addr, "10.0.0.50");
  assert.equal(rows[3].vlan, 12);

  const devices = env.store.query<Record<string, unknown>>(
    "SELECT printf('%012x', mac) AS mac, vendor, ips, host_names, client_software, dns_count, dhcp_count, vlan FROM devices ORDER BY mac",
  );
  assert.deepEqual(
    devices,
    [
      {
        mac: "001122334455",
        vendor: "CIMSYS",
        ips: "10.0.0.1",
        host_names: "",
        client_software: "",
        dns_count: 1,
        dhcp_count: 1,
        vlan: 12,
      },
      {
        mac: "3c22fb000001",
        vendor: "Apple",
        ips: "10.0.0.2",
        host_names: "",
        client_software: "",
        dns_count: 1,
        dhcp_count: 0,
        vlan: 0,
      },
      {
        mac: "daa119000007",
        vendor: "(locally administered)",
        ips: "10.0.0.50",
        host_names: "phone",
        client_software: "android-dhcp-14",
        dns_count: 0,
        dhcp_count: 2,
        vlan: 12,
      },
    ].map((d) => Object.assign(Object.create(null), d)),
  );

  const day = env.logFile("2026-11-21.log").split("\n").filter(Boolean);
  const kinds = day.map((l) => l.split("\t")[1]);
  assert.deepEqual(kinds.filter((k) => k === "dns").length, 2);
  assert.deepEqual(kinds.filter((k) => k === "dhcp").length, 2);
  assert.deepEqual(kinds.filter((k) => k === "new-station").length, 3);
  const answer = day.find((l) => l.includes("\tqr=R"))!;
  assert.equal(
    answer,
    "2026-11-21T12:00:00.001+00:00\tdns\tmac=3c:22:fb:00:00:01\tvendor=Apple\t" +
      "src_mac=00:11:22:33:44:55\tdst_mac=3c:22:fb:00:00:01\tsrc_ip=10.0.0.1\tsrc_port=53\t" +
      "dst_ip=10.0.0.2\tdst_port=40000\tproto=udp\ttrans_id=4660\tqr=R\tquery=tab\\there.example\t" +
      "qtype_name=A\trcode_name=NOERROR\tAA=F\tTC=F\tRD=T\tRA=T\t" +
      "answers=www.example.net,93.184.216.34\tTTLs=60,300",
  );
  const ack = day.find((l) => l.includes("msg_type=ACK"))!;
  assert.match(
    ack,
    /\tdhcp\tmac=da:a1:19:00:00:07\tvendor=\(locally administered\)\tsrc_mac=00:11:22:33:44:55\tdst_mac=ff:ff:ff:ff:ff:ff\tvlan=12\tsrc_ip=10\.0\.0\.1\tsrc_port=67\tdst_ip=255\.255\.255\.255\tdst_port=68\tmsg_type=ACK\ttrans_id=43981\tassigned_addr=10\.0\.0\.50\tserver_addr=10\.0\.0\.1\tlease_time=3600$/,
  );
  const request = day.find((l) => l.includes("msg_type=REQUEST"))!;
  assert.match(
    request,
    /\trequested_addr=10\.0\.0\.50\thost_name=phone\tclient_software=android-dhcp-14\tparam_list=1,3,6$/,
  );
  // Every line splits into a timestamp, a kind and key=value fields.
  for (const l of day) {
    const [ts, kind, ...fields] = l.split("\t");
    assert.match(ts, /^2026-11-21T12:00:00\.\d{3}\+00:00$/);
    assert.ok(kind);
    for (const f of fields) assert.match(f, /^[A-Za-z_.]+=/, l);
  }
  const newStations = env.store.query<{ subject: string }>(
    "SELECT subject FROM alerts WHERE kind = 'new-station' ORDER BY id",
  );
  assert.deepEqual(newStations.map((r) => r.subject), [
    "3c:22:fb:00:00:01 (Apple)",
    "00:11:22:33:44:55 (CIMSYS)",
    "da:a1:19:00:00:07 (locally administered)",
  ]);
  const stats = pipeline.stats();
  assert.equal(stats.events, 4);
  assert.equal(stats.new_stations, 3);
  await close();
  await env.close();
});

Deno.test("pipeline: a MAC already in the devices table is not new; counts add up across runs", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  for (let run = 0; run < 2; run++) {
    const { pipeline, close } = await pipelineFor(env);
    await pipeline.process([
      dnsEvent(meta({ ts: T0 + run * 1000 })),
      dnsEvent(meta({ ts: T0 + run * 1000 + 1 })),
    ]);
    assert.equal(pipeline.stats().new_stations, run === 0 ? 1 : 0);
    await close();
  }
  const d = env.store.get<{ dns_count: number; first_seen: number; last_seen: number }>(
    "SELECT dns_count, first_seen, last_seen FROM devices WHERE mac = 0x3c22fb000001",
  )!;
  assert.equal(d.dns_count, 4);
  assert.equal(d.first_seen, T0 * 1000);
  assert.equal(d.last_seen, (T0 + 1001) * 1000);
  // new_station_alert = false: the line is written, no alert is raised.
  assert.equal(env.store.get<{ n: number }>("SELECT count(*) AS n FROM alerts")!.n, 0);
  assert.match(
    env.logFile("2026-11-21.log"),
    /\tnew-station\tmac=3c:22:fb:00:00:01\tvendor=Apple\tip=10\.0\.0\.2\tvia=dns\n/,
  );
  await env.close();
});

Deno.test("pipeline: log_packets = false keeps the rows but writes no packet lines", async () => {
  const env = await makeEnv("[sniffer]\nlog_packets = false\nnew_station_alert = false\n");
  const { pipeline, close } = await pipelineFor(env);
  await pipeline.process([dnsEvent(meta({ ts: T0 }))]);
  await close();
  assert.equal(readable(env).length, 1);
  assert.doesNotMatch(env.logFile("2026-11-21.log"), /\tdns\t/);
  await env.close();
});
