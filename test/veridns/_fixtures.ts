/**
 * Test fixtures for VeriDNS: a small authoritative-style DNS server (UDP and
 * TCP on loopback), a DoH endpoint (wire POST/GET and JSON) on loopback, a
 * GeoLite2-City-shaped `.mmdb` written with perl MaxMind::DB::Writer, and a
 * harness that runs the real component with a real store, daily log and
 * alert bus in a temp dir.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { AlertBus } from "../../lib/alerts/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import type { Component, VigiaConfig } from "../../lib/daemon/types.ts";
import { sectionOf } from "../../lib/daemon/types.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { veridnsModule } from "../../lib/veridns/mod.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";

/** What the test DNS and DoH servers know about one name. */
export interface TestRecord {
  /** A records. */
  a?: string[];
  /** CNAME target (answered with the target's A records when known). */
  cname?: string;
  /** TTL of every record. @default 300 */
  ttl?: number;
  /** `servfail` answers SERVFAIL; `drop` never answers; `truncate` sets TC over UDP (TCP answers). */
  behaviour?: "servfail" | "drop" | "truncate";
}

/** Names (lower case, no trailing dot) → records. */
export type TestZone = Record<string, TestRecord>;

// deno-lint-ignore no-explicit-any
type Packet = any;

/** Builds the answer to `q` from `zone`, or null for "do not answer". */
function answer(zone: TestZone, q: Packet, viaTcp: boolean): Packet | null {
  const question = q.questions?.[0];
  const name = String(question?.name ?? "").toLowerCase().replace(/\.$/, "");
  const base = {
    type: "response",
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: q.questions,
  };
  // dns-packet encodes the rcode from the low 4 bits of flags, not from `rcode`.
  const rec = zone[name];
  if (!rec) return { ...base, flags: base.flags | 3, rcode: "NXDOMAIN", answers: [] };
  if (rec.behaviour === "drop") return null;
  if (rec.behaviour === "servfail") {
    return { ...base, flags: base.flags | 2, rcode: "SERVFAIL", answers: [] };
  }
  if (rec.behaviour === "truncate" && !viaTcp) {
    return { ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] };
  }
  const answers: Packet[] = [];
  let cur = name, r: TestRecord | undefined = rec;
  for (let hops = 0; r && hops < 10; hops++) {
    const ttl = r.ttl ?? 300;
    if (r.cname) {
      answers.push({ name: cur, type: "CNAME", ttl, data: r.cname });
      cur = r.cname;
      r = zone[cur];
      continue;
    }
    if (question?.type === "A") {
      for (const a of r.a ?? []) answers.push({ name: cur, type: "A", ttl, data: a });
    }
    break;
  }
  return { ...base, rcode: "NOERROR", answers };
}

/** A running test DNS server. */
export interface TestDns {
  /** `127.0.0.1:PORT`. */
  address: string;
  /** Questions received (UDP and TCP). */
  queries: { name: string; tcp: boolean }[];
  close(): Promise<void>;
}

/** Starts a DNS server on 127.0.0.1 (UDP and TCP on one port) answering from `zone`. */
export async function startDns(zone: TestZone): Promise<TestDns> {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (tcp.addr as Deno.NetAddr).port;
  const udp = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, "127.0.0.1", () => resolve());
  });
  const queries: TestDns["queries"] = [];
  udp.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    let q: Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    queries.push({ name: String(q.questions?.[0]?.name), tcp: false });
    const a = answer(zone, q, false);
    if (a) udp.send(dnsPacket.encode(a), rinfo.port, rinfo.address);
  });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of tcp) {
      conns.add(conn);
      (async () => {
        try {
          const head = new Uint8Array(2);
          let got = 0;
          while (got < 2) {
            const n = await conn.read(head.subarray(got));
            if (n === null) return;
            got += n;
          }
          const body = new Uint8Array((head[0] << 8) | head[1]);
          got = 0;
          while (got < body.length) {
            const n = await conn.read(body.subarray(got));
            if (n === null) return;
            got += n;
          }
          const q = dnsPacket.decode(Buffer.from(body));
          queries.push({ name: String(q.questions?.[0]?.name), tcp: true });
          const a = answer(zone, q, true);
          if (!a) return;
          const out = dnsPacket.streamEncode(a);
          await conn.write(new Uint8Array(out));
        } catch {
          /* client went away */
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    address: `127.0.0.1:${port}`,
    queries,
    close: async () => {
      tcp.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await new Promise<void>((r) => udp.close(() => r()));
      await serving;
    },
  };
}

/** A running DoH endpoint. */
export interface TestDoh {
  /** Base URL of the wire endpoint (`/dns-query`). */
  wireUrl: string;
  /** URL of the JSON API (`/resolve`). */
  jsonUrl: string;
  /** Requests by kind: `wire-post`, `wire-get`, `json`. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

/** Starts a DoH endpoint on 127.0.0.1 (plain http, or https with `tls`). */
export function startDoh(zone: TestZone, tls?: { cert: string; key: string }): TestDoh {
  const requests: Record<string, number> = { "wire-post": 0, "wire-get": 0, json: 0 };
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
    ...(tls ?? {}),
  }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/resolve") {
      requests.json++;
      const name = url.searchParams.get("name") ?? "";
      const q = { id: 0, questions: [{ name, type: url.searchParams.get("type") ?? "A" }] };
      const a = answer(zone, q, true);
      if (!a) return new Promise(() => {}); // "drop": never answer
      const status = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 }[a.rcode as string] ?? 2;
      const types: Record<string, number> = { A: 1, CNAME: 5 };
      return Response.json({
        Status: status,
        Question: [{ name: `${name}.`, type: 1 }],
        Answer: a.answers.map((r: Packet) => ({
          name: `${r.name}.`,
          type: types[r.type],
          TTL: r.ttl,
          data: r.type === "CNAME" ? `${r.data}.` : r.data,
        })),
      }, { headers: { "content-type": "application/dns-json" } });
    }
    if (url.pathname !== "/dns-query") return new Response("not found", { status: 404 });
    let body: Uint8Array;
    if (req.method === "POST") {
      requests["wire-post"]++;
      if (req.headers.get("content-type") !== "application/dns-message") {
        return new Response("bad content type", { status: 415 });
      }
      body = new Uint8Array(await req.arrayBuffer());
    } else {
      requests["wire-get"]++;
      const b64 = (url.searchParams.get("dns") ?? "").replace(/-/g, "+").replace(/_/g, "/");
      body = Uint8Array.from(
        atob(b64 + "=".repeat((4 - b64.length % 4) % 4)),
        (c) => c.charCodeAt(0),
      );
    }
    const q = dnsPacket.decode(Buffer.from(body));
    const a = answer(zone, q, true);
    if (!a) return new Promise(() => {});
    return new Response(new Uint8Array(dnsPacket.encode(a)), {
      headers: { "content-type": "application/dns-message" },
    });
  });
  const scheme = tls ? "https" : "http";
  const base = `${scheme}://127.0.0.1:${server.addr.port}`;
  return {
    wireUrl: `${base}/dns-query`,
    jsonUrl: `${base}/resolve`,
    requests,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

const MMDB_SCRIPT = String.raw`
use strict;
use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;
my ($out) = @ARGV;
local $/;
my $spec = JSON::PP->new->utf8->decode(<STDIN>);
my %types = (
  country => 'map', continent => 'map', names => 'map', en => 'utf8_string',
  iso_code => 'utf8_string', code => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version => 6, record_size => 28, database_type => 'GeoLite2-City',
  languages => ['en'], description => { en => 'vigia veridns test' },
  remove_reserved_networks => 0,
  map_key_type_callback => sub { $types{ $_[0] } or die "no type for $_[0]" },
);
$tree->insert_network($_->{network}, $_->{data}) for @$spec;
open my $fh, '>:raw', $out or die "cannot write $out: $!";
$tree->write_tree($fh);
close $fh;
`;

/** A network and where it is. */
export interface GeoEntry {
  network: string;
  country: string;
  countryName: string;
  continent: string;
}

/** True when perl with MaxMind::DB::Writer is installed. */
export function hasMmdbWriter(): boolean {
  try {
    return new Deno.Command("perl", {
      args: ["-MMaxMind::DB::Writer::Tree", "-e", "1"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** Writes a GeoLite2-City-shaped database with country and continent of each network. */
export async function writeGeoDb(path: string, entries: GeoEntry[]): Promise<void> {
  const script = `${path}.pl`;
  await Deno.writeTextFile(script, MMDB_SCRIPT);
  const child = new Deno.Command("perl", {
    args: [script, path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(entries.map((e) => ({
    network: e.network,
    data: {
      country: { iso_code: e.country, names: { en: e.countryName } },
      continent: { code: e.continent, names: { en: e.continent } },
    },
  })))));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`mmdb writer failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** A running component with its surroundings. */
export interface Harness {
  dir: string;
  config: VigiaConfig;
  component: Component & { openLists?: { ready: Promise<void> } };
  store: Store;
  dailyLog: DailyLog;
  alerts: AlertBus;
  /** Daemon log lines so far. */
  logLines: string[];
  /** The first listener, `127.0.0.1:PORT`. */
  address: string;
  /** Stops everything and removes the temp dir. */
  close(): Promise<void>;
}

/** Picks a free TCP port on 127.0.0.1. */
export function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Validates `toml` (a `[veridns]` section and friends; `[paths]` is set to a
 * temp dir) with the app schema and checks, then creates and starts the
 * veridns component with a real store, daily log and alert bus.
 */
export async function startHarness(toml: string, dir?: string): Promise<Harness> {
  dir ??= await Deno.makeTempDir({ prefix: "vigia-veridns-" });
  const text =
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n\n${toml}`;
  const { config } = await loadVigiaConfig(configSchema(), {
    path: `${dir}/vigia.toml`,
    text,
    checks: veridnsModule.checks,
  });
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  const store = openStore(`${dir}/lib/vigia.db`, { batchInterval: 20 });
  store.migrate("veridns", veridnsModule.migrations!);
  const logLines: string[] = [];
  const log = createLogger({ level: "debug", journal: false, write: (l) => logLines.push(l) });
  const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", flushInterval: 20 });
  const alerts = new AlertBus({ store, dailyLog, log: log.child("alerts"), config: config.alerts });
  const component = veridnsModule.create({
    section: sectionOf(veridnsModule, config),
    config,
    store,
    alerts,
    dailyLog,
    log: log.child("veridns"),
    metrics: new MetricsRegistry().scope("veridns"),
  });
  await component.start();
  const listen = (component.status?.().listening as string[])[0];
  return {
    dir,
    config,
    component,
    store,
    dailyLog,
    alerts,
    logLines,
    address: listen,
    close: async () => {
      await component.stop();
      await alerts.close(100);
      await dailyLog.close();
      store.close();
      await Deno.remove(dir!, { recursive: true }).catch(() => {});
    },
  };
}
