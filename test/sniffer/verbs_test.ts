/**
 * `logs`, `devices` and `deny` verbs: every filter, every sort, both
 * directions and paging are checked against a brute-force answer computed
 * from all rows, on a data set ingested from a capture the test writes.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { snifferVerbs } from "../../lib/sniffer/verbs.ts";
import { compareKeys, encodeCursor, parseLogArgs, queryLogs } from "../../lib/sniffer/queries.ts";
import type { SqlValue } from "../../lib/store/mod.ts";
import { VerbError, VerbUsageError } from "../../lib/daemon/types.ts";
import { dnsMessage, nullLoop, pcapBytes, udpIp } from "../capture/_frames.ts";
import { dhcpExchange, dnsPair, type Env, makeEnv, verbEnv, writePcap } from "./_fixtures.ts";

const DAY1 = Date.parse("2026-11-20T10:00:00Z");
const DAY2 = Date.parse("2026-11-21T10:00:00Z");

const CLIENTS = [
  { mac: "3c:22:fb:00:00:01", ip: "10.0.0.10" }, // Apple
  { mac: "3c:22:fb:00:00:02", ip: "10.0.0.9" }, // Apple
  { mac: "00:50:56:00:00:03", ip: "10.0.0.100" }, // VMware
  { mac: "da:a1:19:00:00:04", ip: "10.0.1.5" }, // randomised
  { mac: "f0:d1:a9:00:00:05", ip: "2001:db8::5" }, // Apple, IPv6
];

async function dataset(): Promise<Env> {
  const env = await makeEnv(
    '[sniffer]\nnew_station_alert = false\n[log]\ntimezone = "America/Recife"\n',
  );
  const records = [];
  let id = 1;
  for (const [d, base] of [[1, DAY1], [2, DAY2]]) {
    for (let i = 0; i < 40; i++) {
      const c = CLIENTS[(i * 3 + d) % CLIENTS.length];
      const v6 = c.ip.includes(":");
      records.push(...dnsPair({
        ts: base + i * 60_000 + (i % 3) * 7,
        clientMac: c.mac,
        clientIp: c.ip,
        serverIp: v6 ? "2001:db8::53" : i % 4 === 0 ? "10.0.0.2" : "10.0.0.1",
        id: id++,
        qname: `h${i}.day${d}.example`,
      }));
    }
    records.push(...dhcpExchange({
      ts: base + 30 * 60_000 + 30,
      clientMac: "da:a1:19:00:00:04",
      serverMac: "00:11:22:33:44:55",
      serverIp: "10.0.0.1",
      offer: "10.0.1.5",
      xid: d,
    }));
  }
  await runIngest(await writePcap(env.dir, "set.pcap", records), { ...env, alerts: env.bus });
  // Rows without any MAC (a BSD loopback capture).
  const loop = `${env.dir}/loop.pcap`;
  await Deno.writeFile(
    loop,
    pcapBytes(
      0,
      [0, 1, 2].map((i) => ({
        ts: DAY2 + 5000 + i,
        data: nullLoop(
          udpIp(
            { src: "127.0.0.1", dst: "127.0.0.1" },
            5000 + i,
            53,
            dnsMessage({ id: i, qname: "lo.example", qtype: 1 }),
          ),
        ),
      })),
    ),
  );
  await runIngest(loop, { ...env, alerts: env.bus });
  return env;
}

interface Row {
  id: number;
  time: number;
  kind: string;
  client_mac: number | null;
  client_ip: SqlValue;
  server_ip: SqlValue;
  vendor: string;
}

function allRows(env: Env): Row[] {
  return env.events.query<Row>(
    `SELECT e.id, e.time, e.kind, f.client_mac, f.client_ip, f.server_ip, f.vendor
     FROM events e JOIN flows f ON f.id = e.flow`,
  );
}

function inRange(v: SqlValue, r: [SqlValue, SqlValue]): boolean {
  return compareKeys(v, r[0]) >= 0 && compareKeys(v, r[1]) <= 0 &&
    (typeof v === "number") === (typeof r[0] === "number");
}

/** The answer computed the slow, obvious way. */
function expected(rows: Row[], args: Record<string, unknown>, timeZone: string): number[] {
  const q = parseLogArgs({ ...args, limit: undefined, cursor: undefined }, { timeZone });
  const keep = rows.filter((r) =>
    (q.mac === undefined || r.client_mac === q.mac) &&
    (q.vendor === undefined || r.vendor.toLowerCase().includes(q.vendor)) &&
    (q.kind === undefined || r.kind === q.kind) &&
    (q.ip === undefined || inRange(r.client_ip, q.ip) || inRange(r.server_ip, q.ip)) &&
    (q.from === undefined || r.time >= q.from) &&
    (q.to === undefined || r.time < q.to)
  );
  const key = (r: Row): SqlValue[] =>
    q.sort === "ip"
      ? [r.client_ip, r.time, r.id]
      : q.sort === "mac"
      ? [r.client_mac, r.time, r.id]
      : q.sort === "vendor"
      ? [r.vendor, r.client_mac, r.time, r.id]
      : [r.time, r.id];
  keep.sort((a, b) => {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const c = compareKeys(ka[i], kb[i]);
      if (c !== 0) return q.desc ? -c : c;
    }
    return 0;
  });
  return keep.map((r) => r.id);
}

/** Every page, following cursors. */
function paged(env: Env, args: Record<string, unknown>, timeZone: string): number[] {
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const q = parseLogArgs({ ...args, cursor }, { timeZone });
    const { rows, next } = queryLogs(env.events, q);
    ids.push(...rows.map((r) => Number(r.id)));
    if (!next) return ids;
    cursor = encodeCursor(q.sort, q.desc, next);
  }
  throw new Error("too many pages");
}

const TZ = "America/Recife";

Deno.test("logs: every filter and sort, both directions, page by page, match the brute-force answer", async () => {
  const env = await dataset();
  const rows = allRows(env);
  assert.equal(rows.length, 2 * (80 + 4) + 3);
  const filters: Record<string, unknown>[] = [
    {},
    { mac: "3c:22:fb:00:00:01" },
    { mac: "DA-A1-19-00-00-04" },
    { vendor: "apple" },
    { vendor: "LOCALLY" },
    { vendor: "nobody makes this" },
    { kind: "dhcp" },
    { kind: "dns" },
    { ip: "10.0.0.10" },
    { ip: "10.0.0.1" },
    { ip: "10.0.0.0/24" },
    { ip: "2001:db8::/32" },
    { ip: "127.0.0.1" },
    { day: "2026-11-20" },
    { day: "2026-11-21", kind: "dns" },
    { since: "2026-11-20T10:20:00Z", until: "2026-11-21T10:10:00Z" },
    { day: "2026-11-21", vendor: "apple", ip: "10.0.0.0/16" },
    { mac: "3c:22:fb:00:00:02", day: "2026-11-21" },
  ];
  for (const f of filters) {
    for (const sort of ["date", "time", "ip", "mac", "vendor"]) {
      for (const desc of [false, true]) {
        const args = { ...f, sort, desc, limit: 7 };
        const want = expected(rows, args, TZ);
        assert.deepEqual(paged(env, args, TZ), want, JSON.stringify(args));
      }
    }
  }
  await env.close();
});

Deno.test("logs verb: presented rows, cursor hint, and clear errors for bad arguments", async () => {
  const env = await dataset();
  const venv = verbEnv(env);
  const page = await verbNamed(snifferVerbs, "logs").run({ kind: "dhcp", limit: 3 }, venv) as {
    rows: Record<string, unknown>[];
    next_cursor?: string;
  };
  assert.equal(page.rows.length, 3);
  assert.ok(page.next_cursor);
  assert.deepEqual(page.rows[0], {
    time: "2026-11-20T07:30:00.030-03:00",
    kind: "dhcp",
    mac: "da:a1:19:00:00:04",
    vendor: "(locally administered)",
    src_mac: "da:a1:19:00:00:04",
    dst_mac: "ff:ff:ff:ff:ff:ff",
    src_ip: "0.0.0.0",
    src_port: 68,
    dst_ip: "255.255.255.255",
    dst_port: 67,
    msg_type: "DISCOVER",
    trans_id: 1,
    client_software: "android-dhcp-14",
    param_list: "1,3,6,15",
  });
  const next = await verbNamed(snifferVerbs, "logs").run(
    { kind: "dhcp", limit: 3, cursor: page.next_cursor },
    venv,
  ) as {
    rows: Record<string, unknown>[];
  };
  assert.deepEqual(next.rows.map((r) => r.msg_type), ["ACK", "DISCOVER", "OFFER"]);
  const dns = await verbNamed(snifferVerbs, "logs").run(
    { ip: "2001:db8::5", limit: 2, sort: "ip" },
    venv,
  ) as {
    rows: Record<string, unknown>[];
  };
  assert.equal(dns.rows[0].src_ip, "2001:db8::5");
  assert.equal(dns.rows[1].qr, "R");
  assert.deepEqual(dns.rows[1].answers, ["93.184.216.34"]);
  for (
    const [args, message] of [
      [{ mac: "zz" }, /--mac must be a MAC address/],
      [{ ip: "10.0.0.0/40" }, /--ip must be an IP address or a CIDR range/],
      [{ day: "2026-13-45" }, /--day must be a real date YYYY-MM-DD: got "2026-13-45"/],
      [{ since: "yesterday" }, /--since must be an age \(90m, 2h, 7d, 2w\), a date/],
      [{ sort: "size" }, /--sort must be one of date, time, ip, mac, vendor: got "size"/],
      [{ kind: "arp" }, /--kind must be one of dns, dhcp: got "arp"/],
      [{ limit: 0 }, /--limit must be an integer from 1 to 10000: got "0"/],
      [{ limit: "abc" }, /--limit must be an integer from 1 to 10000: got "abc"/],
      [{ cursor: "garbage" }, /--cursor must be a cursor printed by an earlier page/],
      [{ sort: "ip", cursor: page.next_cursor }, /--cursor was made for --sort date/],
    ] as [Record<string, unknown>, RegExp][]
  ) {
    await assert.rejects(
      async () => await verbNamed(snifferVerbs, "logs").run(args, venv),
      (e: Error) => {
        // Refused arguments are usage errors (vigia ctl exits 2), in one message style.
        assert.ok(e instanceof VerbUsageError, String(e));
        assert.match(e.message, message);
        return true;
      },
    );
  }
  // Relative times count back from now: nothing in the last hour of this old data set.
  const recent = await verbNamed(snifferVerbs, "logs").run({ since: "1h" }, venv) as {
    rows: unknown[];
  };
  assert.equal(recent.rows.length, 0);
  await env.close();
});

Deno.test("devices verb: every MAC seen, by maker, paged", async () => {
  const env = await dataset();
  const venv = verbEnv(env);
  const all = await verbNamed(snifferVerbs, "devices").run({}, venv) as {
    rows: Record<string, unknown>[];
  };
  assert.deepEqual(all.rows.map((r) => r.mac), [
    "00:11:22:33:44:55",
    "00:50:56:00:00:03",
    "3c:22:fb:00:00:01",
    "3c:22:fb:00:00:02",
    "da:a1:19:00:00:04",
    "f0:d1:a9:00:00:05",
  ]);
  const phone = all.rows.find((r) => r.mac === "da:a1:19:00:00:04")!;
  assert.equal(phone.vendor, "(locally administered)");
  assert.equal(phone.ips, "10.0.1.5");
  assert.equal(phone.dhcp, 8); // two exchanges of four messages about it
  assert.equal(phone.first_seen, "2026-11-20T07:04:00.007-03:00"); // its first query, local time
  const apple = await verbNamed(snifferVerbs, "devices").run(
    { vendor: "APPLE", limit: 2 },
    venv,
  ) as {
    rows: Record<string, unknown>[];
    next_cursor: string;
  };
  assert.deepEqual(apple.rows.map((r) => r.mac), ["3c:22:fb:00:00:01", "3c:22:fb:00:00:02"]);
  const rest = await verbNamed(snifferVerbs, "devices").run({
    vendor: "apple",
    cursor: apple.next_cursor,
  }, venv) as {
    rows: Record<string, unknown>[];
    next_cursor?: string;
  };
  assert.deepEqual(rest.rows.map((r) => r.mac), ["f0:d1:a9:00:00:05"]);
  assert.equal(rest.next_cursor, undefined);
  await env.close();
});

Deno.test("deny verbs: add, list (config and ctl entries), del, and errors", async () => {
  const env = await makeEnv(
    '[sniffer]\nunauthorized_dns = ["203.0.113.0/24"]\nunauthorized_macs = ["02:00:00:00:00:01"]\n',
  );
  const reloaded: string[] = [];
  const running = {
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    reloadPolicy: () => reloaded.push("policy"),
    flushEvents: () => Promise.resolve(),
    eventsReader: () => env.events,
    deleteCapture: () => Promise.resolve(-1),
  };
  const venv = verbEnv(env, running);
  const v = (name: string) => verbNamed(snifferVerbs, name).run;
  assert.deepEqual(await v("deny dns add")({ value: "198.51.100.7" }, venv), {
    value: "198.51.100.7",
    added: true,
  });
  assert.deepEqual(await v("deny dns add")({ value: "198.51.100.0/24" }, venv), {
    value: "198.51.100.0/24",
    added: true,
  });
  assert.deepEqual(await v("deny dns add")({ value: "2001:DB8::1/128" }, venv), {
    value: "2001:db8::1",
    added: true,
  });
  assert.deepEqual(await v("deny dns add")({ value: "198.51.100.7/32" }, venv), {
    value: "198.51.100.7",
    added: false,
    reason: "already listed (ctl)",
  });
  assert.deepEqual(
    (await v("deny dns add")({ value: "203.0.113.0/24" }, venv) as { reason: string }).reason,
    "already listed (config)",
  );
  assert.equal(reloaded.length, 3);
  const list = await v("deny dns list")({}, venv) as { value: string; source: string }[];
  assert.deepEqual(list.map((e) => [e.value, e.source]), [
    ["203.0.113.0/24", "config"],
    ["198.51.100.0/24", "ctl"],
    ["198.51.100.7", "ctl"],
    ["2001:db8::1", "ctl"],
  ]);
  assert.deepEqual(await v("deny dns del")({ value: "198.51.100.7" }, venv), {
    value: "198.51.100.7",
    removed: true,
  });
  await assert.rejects(
    async () => await v("deny dns del")({ value: "203.0.113.0/24" }, venv),
    /comes from the config file/,
  );
  await assert.rejects(
    async () => await v("deny dns del")({ value: "192.0.2.1" }, venv),
    /is not on the unauthorized DNS server list/,
  );
  await assert.rejects(
    async () => await v("deny dns add")({ value: "not-an-ip" }, venv),
    VerbError,
  );
  await assert.rejects(
    async () => await v("deny dns add")({}, venv),
    /<value> is required: IP address or CIDR range/,
  );

  assert.deepEqual(await v("deny mac add")({ value: "AA-BB-CC-DD-EE-FF" }, venv), {
    value: "aa:bb:cc:dd:ee:ff",
    added: true,
  });
  const macs = await v("deny mac list")({}, venv) as { value: string; source: string }[];
  assert.deepEqual(macs.map((e) => [e.value, e.source]), [
    ["02:00:00:00:00:01", "config"],
    ["aa:bb:cc:dd:ee:ff", "ctl"],
  ]);
  await v("deny mac del")({ value: "aa:bb:cc:dd:ee:ff" }, venv);
  assert.equal((await v("deny mac list")({}, venv) as unknown[]).length, 1);
  await assert.rejects(
    async () => await v("deny mac add")({ value: "aa:bb" }, venv),
    /is not a MAC address/,
  );
  await env.close();
});
