import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { type Alert, AlertBus } from "../../lib/alerts/mod.ts";
import { ConfigError } from "../../lib/config/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import {
  sectionOf,
  type VerbEnv,
  VerbError,
  VerbUsageError,
  type VigiaConfig,
} from "../../lib/daemon/types.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { ScannerComponent, type ScannerConfig, scannerModule } from "../../lib/scan/mod.ts";
import { pruneScans } from "../../lib/scan/component.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";
import { startZoneServer, type ZoneRecord, type ZoneServer } from "../resolver/_zone_server.ts";

const schema = configSchema();

const SOA = {
  mname: "ns1.a.test",
  rname: "h.a.test",
  serial: 1,
  refresh: 1,
  retry: 1,
  expire: 1,
  minimum: 60,
};

function records(addresses: string[]): ZoneRecord[] {
  return [
    { name: "a.test", type: "SOA", data: SOA },
    { name: "a.test", type: "NS", data: "ns1.a.test" },
    { name: "a.test", type: "NS", data: "ns2.a.test" },
    { name: "ns1.a.test", type: "A", data: "192.0.2.53" },
    { name: "ns2.a.test", type: "A", data: "198.51.100.53" },
    ...addresses.map((ip) => ({ name: "www.a.test", type: "A", ttl: 600, data: ip })),
    { name: "api.a.test", type: "A", ttl: 600, data: "203.0.113.7" },
  ];
}

interface Harness {
  dir: string;
  server: ZoneServer;
  store: Store;
  dailyLog: DailyLog;
  bus: AlertBus;
  alerts: Alert[];
  logLines: string[];
  config: VigiaConfig;
  env: VerbEnv<ScannerConfig, ScannerComponent>;
  close(): Promise<void>;
}

async function harness(extra = "", running?: () => ScannerComponent | undefined): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-scan-comp-" });
  const server = await startZoneServer({
    records: records(["192.0.2.1", "198.51.100.1", "203.0.113.1"]),
  });
  const { config } = await loadVigiaConfig(schema, {
    text: `
[paths]
state_dir = "${dir}/lib"
log_dir = "${dir}/log"
runtime_dir = "${dir}/run"
[log]
timezone = "UTC"
[geoip]
city_db = ""
asn_db = ""
[scanner]
resolvers = ["127.0.0.1:${server.port}"]
domains = ["www.a.test", "api.a.test"]
rounds = 1
round_interval = "1ms"
query_timeout = "500ms"
${extra}
`,
  });
  Deno.mkdirSync(`${dir}/lib`, { recursive: true });
  const store = openStore(`${dir}/lib/vigia.db`);
  store.migrate("scanner", scannerModule.migrations!);
  const logLines: string[] = [];
  const log = createLogger({ write: (l) => logLines.push(l), level: "debug" });
  const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC" });
  const bus = new AlertBus({ store, dailyLog, log, config: config.alerts });
  const alerts: Alert[] = [];
  bus.listeners.add((a) => alerts.push(a));
  const env: VerbEnv<ScannerConfig, ScannerComponent> = {
    store,
    config,
    section: sectionOf(scannerModule, config),
    alerts: bus,
    dailyLog,
    log,
    running: () => running?.(),
  };
  return {
    dir,
    server,
    store,
    dailyLog,
    bus,
    alerts,
    logLines,
    config,
    env,
    async close() {
      await server.close();
      await bus.close();
      await dailyLog.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const run = (h: Harness, args: Record<string, unknown> = {}) =>
  verbNamed(scannerModule.verbs, "scan run").run(args, h.env) as Promise<Record<string, unknown>[]>;
const page = (h: Harness, args: Record<string, unknown> = {}) =>
  verbNamed(scannerModule.verbs, "scan results").run(args, h.env) as {
    rows: Record<string, unknown>[];
    next_cursor?: string;
  };
const results = (h: Harness, args: Record<string, unknown> = {}) => page(h, args).rows;

Deno.test("scan run without a running component scans once and records everywhere", async () => {
  const h = await harness();
  try {
    const rows = await run(h);
    assert.deepEqual(rows.map((r) => r.domain), ["www.a.test", "api.a.test"]);
    assert.equal(rows[0].addresses, 3);
    assert.equal(rows[0].ranges, 3);
    assert.equal(rows[0].ns, 2);
    assert.equal(rows[0].ttl, 600);
    assert.equal(rows[1].addresses, 1);
    assert.match(String(rows[1].findings), /ADDRESS_SINGLE/);
    assert.equal(rows[1].worst, "WARNING");
    assert.equal(rows[0].changes, "");

    const latest = results(h);
    assert.deepEqual(latest.map((r) => r.domain), ["api.a.test", "www.a.test"]);
    const one = await run(h, { domain: "WWW.A.TEST." });
    assert.equal(one.length, 1);
    assert.equal(results(h, { domain: "www.a.test", history: 5 }).length, 2);
    // --history N: each domain's latest scan and N previous ones (www has 2 scans, api 1).
    assert.deepEqual(results(h, { history: 1 }).map((r) => r.domain), [
      "api.a.test",
      "www.a.test",
      "www.a.test",
    ]);
    assert.equal(results(h, { history: 0 }).length, 2);
    // Paged by domain: one domain a page, the cursor continues after it.
    const first = page(h, { limit: 1 });
    assert.deepEqual(first.rows.map((r) => r.domain), ["api.a.test"]);
    const second = page(h, { limit: 1, cursor: first.next_cursor });
    assert.deepEqual(second.rows.map((r) => r.domain), ["www.a.test"]);
    assert.equal(second.next_cursor, undefined);
    const full = results(h, { domain: "www.a.test", full: true });
    assert.equal((full[0] as unknown as { counts: { numServers: number } }).counts.numServers, 3);

    h.dailyLog.flush();
    const day = new Date().toISOString().slice(0, 10);
    const daily = Deno.readTextFileSync(`${h.dir}/log/${day}.log`);
    assert.equal(daily.split("\n").filter((l) => l.includes("\tscan\t")).length, 3);
    assert.match(daily, /\tscan\tdomain=www\.a\.test\tresolved=true\taddresses=3\t/);
    const report = Deno.readTextFileSync(`${h.dir}/log/scan-${day}.log`);
    assert.equal(report.match(/^# .* scan of www\.a\.test$/gm)?.length, 2);
    assert.match(report, /Fault tolerance/);
    // The geo databases are off: fields are empty, the report says why not.
    assert.match(report, /List of ASNs \(0\)/);
  } finally {
    await h.close();
  }
});

Deno.test("scan verbs reject bad input with clear messages", async () => {
  const h = await harness();
  try {
    await assert.rejects(run(h, { domain: "bad domain!" }), VerbError);
    assert.throws(() => results(h, { domain: "www.a.test" }), /no scan of www\.a\.test stored yet/);
    assert.throws(() => results(h, { history: -1 }), /--history must be an integer from 0/);
    assert.throws(() => results(h, { history: "x" }), VerbUsageError);
    assert.deepEqual(results(h), []);
  } finally {
    await h.close();
  }
});

Deno.test("a domain that got worse raises one scan-degraded alert", async () => {
  const h = await harness();
  try {
    await run(h, { domain: "www.a.test" });
    assert.equal(h.alerts.length, 0);
    h.server.setRecords(records(["192.0.2.1"]));
    const rows = await run(h, { domain: "www.a.test" });
    // 3 → 1 address: ADDRESS_SINGLE is implied by the loss; Fast-Flux → Clean is no worsening.
    assert.equal(rows[0].changes, "ADDRESSES_LOST,PREFIXES_LOST");
    assert.equal(h.alerts.length, 1);
    const a = h.alerts[0];
    assert.equal(a.kind, "scan-degraded");
    assert.equal(a.severity, "warning");
    assert.equal(a.subject, "www.a.test: ADDRESSES_LOST,PREFIXES_LOST");
    assert.equal(a.details.domain, "www.a.test");
    assert.deepEqual(a.details.changes, ["ADDRESSES_LOST", "PREFIXES_LOST"]);
    assert.match(String(a.details.summary), /gone: 198\.51\.100\.1, 203\.0\.113\.1/);
    // Same state again: nothing new.
    await run(h, { domain: "www.a.test" });
    assert.equal(h.alerts.length, 1);
    // Resolution now fails: an error-level alert.
    h.server.setRecords(records([]).filter((r) => r.name !== "www.a.test"));
    const failed = await run(h, { domain: "www.a.test" });
    assert.equal(failed[0].changes, "RESOLUTION_LOST");
    assert.equal(h.alerts.length, 2);
    assert.equal(h.alerts[1].severity, "error");
    const stored = h.store.query<{ changes: string }>(
      "SELECT changes FROM scans WHERE domain = 'www.a.test' ORDER BY id",
    );
    assert.equal(stored.length, 4);
    assert.deepEqual(JSON.parse(stored[3].changes).map((c: { code: string }) => c.code), [
      "RESOLUTION_LOST",
    ]);
  } finally {
    await h.close();
  }
});

Deno.test("alert_on_worsening = false records the change without alerting", async () => {
  const h = await harness("alert_on_worsening = false\nreport_file = false");
  try {
    await run(h, { domain: "www.a.test" });
    h.server.setRecords(records(["192.0.2.1"]));
    const rows = await run(h, { domain: "www.a.test" });
    assert.match(String(rows[0].changes), /ADDRESSES_LOST/);
    assert.equal(h.alerts.length, 0);
    const day = new Date().toISOString().slice(0, 10);
    assert.throws(() => Deno.statSync(`${h.dir}/log/scan-${day}.log`), Deno.errors.NotFound);
  } finally {
    await h.close();
  }
});

Deno.test("the component scans on schedule, serves scan run, and stops promptly", async () => {
  let component: ScannerComponent | undefined;
  const h = await harness('start_delay = "10s"\ninterval = "1h"', () => component);
  try {
    let cycleDone!: (n: number) => void;
    const firstCycle = new Promise<number>((r) => (cycleDone = r));
    component = new ScannerComponent({
      section: h.config.scanner as ScannerConfig,
      config: h.config,
      store: h.store,
      alerts: h.bus,
      dailyLog: h.dailyLog,
      log: createLogger({ write: () => {} }),
      metrics: new MetricsRegistry().scope("scanner"),
    }, { random: () => 0, onCycle: (scans) => cycleDone(scans.length) });
    const t0 = Date.now();
    await component.start();
    // random() = 0 puts the first cycle at the start of the start_delay window.
    assert.equal(await firstCycle, 2);
    const status = component.status();
    assert.equal(status.domains, 2);
    assert.equal(status.resolvers, `127.0.0.1:${h.server.port}`);
    const next = Date.parse(String(status.next_scan));
    assert.ok(next >= t0 + 3_600_000 && next <= Date.now() + 3_600_000, String(status.next_scan));
    assert.equal(component.stats().cycles, 1);
    assert.equal(component.stats().scans, 2);

    // scan run goes through the running instance.
    const rows = await run(h, { domain: "api.a.test" });
    assert.equal(rows[0].addresses, 1);
    assert.equal(component.stats().scans, 3);
    assert.equal(h.store.query("SELECT id FROM scans").length, 3);

    // A scan stuck on a silent resolver is cancelled by stop().
    h.server.setRecords([]);
    const silent = await startZoneServer({ records: [], udp: () => "drop" });
    const slow = new ScannerComponent({
      section: {
        ...(h.config.scanner as ScannerConfig),
        resolvers: [`127.0.0.1:${silent.port}`],
        query_timeout: 30_000,
        scan_timeout: 60_000,
      },
      config: h.config,
      store: h.store,
      alerts: h.bus,
      dailyLog: h.dailyLog,
      log: createLogger({ write: () => {} }),
      metrics: new MetricsRegistry().scope("scanner"),
    }, { random: () => 1 });
    await slow.start();
    const pending = slow.scanNow(["www.a.test"]);
    const s0 = performance.now();
    await slow.stop();
    assert.ok(performance.now() - s0 < 2000);
    const cancelled = await pending;
    assert.ok(cancelled[0].result.warnings.some((w) => /cancelled/.test(w)));
    await assert.rejects(slow.scanNow(), /stopping/);
    await silent.close();
    await component.stop();
    assert.equal(component.status().next_scan, null);
  } finally {
    await component?.stop();
    await h.close();
  }
});

Deno.test("pruneScans deletes old scans and old report files only", async () => {
  const h = await harness();
  try {
    await run(h, { domain: "api.a.test" });
    const old = Date.parse("2000-01-01T00:00:00Z");
    h.store.run(
      `INSERT INTO scans (domain, time, duration_ms, resolved, addresses, a_records, ranges, asns,
         countries, cities, ttl, name_servers, flux, modified_holz, jaroslaw_patrycja, worst,
         findings, changes, result) VALUES ('old.test', ?, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 'Clean',
         0, 0, NULL, '', '[]', '{}')`,
      old,
    );
    Deno.writeTextFileSync(`${h.dir}/log/scan-2000-01-01.log`, "old\n");
    Deno.writeTextFileSync(`${h.dir}/log/2000-01-01.log`, "not ours\n");
    assert.equal(pruneScans(h.store, `${h.dir}/log`, 365), 1);
    assert.deepEqual(
      h.store.query<{ domain: string }>("SELECT domain FROM scans").map((r) => r.domain),
      ["api.a.test"],
    );
    assert.throws(() => Deno.statSync(`${h.dir}/log/scan-2000-01-01.log`), Deno.errors.NotFound);
    assert.ok(Deno.statSync(`${h.dir}/log/2000-01-01.log`).isFile);
    assert.equal(pruneScans(h.store, `${h.dir}/log`, 0), 0);
  } finally {
    await h.close();
  }
});

Deno.test("[scanner] config: defaults, validation of resolvers and domains, the resolver check", async () => {
  const { config } = await loadVigiaConfig(schema, { text: "" });
  const s = sectionOf(scannerModule, config);
  assert.deepEqual(s.resolvers, ["system"]);
  assert.deepEqual(s.public_resolvers, []);
  assert.equal(s.domains.length, 5);
  assert.ok(s.domains.includes("servicos.sds.pe.gov.br"));
  assert.equal(s.interval, 6 * 3600 * 1000);
  assert.equal(scannerModule.enabled(s), true);

  await assert.rejects(
    loadVigiaConfig(schema, {
      path: "vigia.toml",
      text: '[scanner]\nresolvers = ["127.0.0.1:5300", "resolver.example"]\n',
    }),
    (e) =>
      e instanceof ConfigError &&
      /vigia\.toml:2:\d+: .*resolver\.example/.test(e.message),
  );
  await assert.rejects(
    loadVigiaConfig(schema, { text: '[scanner]\ndomains = ["ok.example", "not ok"]\n' }),
    (e) => e instanceof ConfigError && /not ok/.test(e.message),
  );
  await assert.rejects(
    loadVigiaConfig(schema, {
      text: "[scanner]\nresolvers = []\n",
      checks: scannerModule.checks,
    }),
    (e) => e instanceof ConfigError && /needs at least one resolver/.test(e.message),
  );
  const { config: c2 } = await loadVigiaConfig(schema, {
    text: '[scanner]\nresolvers = ["[::1]:5353", "system"]\ndomains = ["Example.TEST."]\n',
    checks: scannerModule.checks,
  });
  assert.deepEqual(sectionOf(scannerModule, c2).domains, ["example.test"]);
});
