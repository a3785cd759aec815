/**
 * Starts the `dns` component directly (no daemon) with a real store, daily
 * log, alert bus and logger in a temp dir, on a free loopback port, and
 * sends it queries with the real `dig` and `kdig` or raw sockets.
 *
 * @module
 */

import { AlertBus, type AlertsConfig, alertsSection } from "../../lib/alerts/mod.ts";
import { loadConfig, section } from "../../lib/config/mod.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { type DnsConfig, dnsModule, dnsSection, type DnsServer } from "../../lib/dns/mod.ts";
import type { VerbEnv } from "../../lib/daemon/types.ts";

/** A DNS component running for a test. */
export interface TestDns {
  /** The running instance. */
  server: DnsServer;
  /** Its port on 127.0.0.1 (UDP and TCP). */
  port: number;
  /** Its temp dir. */
  dir: string;
  /** The store. */
  store: Store;
  /** The validated `[dns]` section. */
  section: DnsConfig;
  /** Environment for calling the component's verbs. */
  env: VerbEnv;
  /** Stops everything and removes the temp dir. */
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 for TCP and UDP (checked for both). */
export async function freeDnsPort(): Promise<number> {
  const dgram = (await import("node:dgram")).default;
  for (let i = 0; i < 50; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error("no free port");
}

/** Starts the component with `[dns]` TOML lines (listen is set to a free port unless given). */
export async function startDns(dnsToml = "", options: { port?: number } = {}): Promise<TestDns> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-dns-" });
  const port = options.port ?? await freeDnsPort();
  const text = `[dns]\n${
    /^listen\s*=/m.test(dnsToml) ? "" : `listen = ["127.0.0.1:${port}"]\n`
  }${dnsToml}`;
  const schema = section("test", { dns: dnsSection, alerts: alertsSection });
  const { config } = await loadConfig(schema, {
    text,
    path: `${dir}/vigia.toml`,
    checks: dnsModule.checks,
  });
  const store = openStore(`${dir}/vigia.db`);
  store.migrate("dns", dnsModule.migrations!);
  const dailyLog = new DailyLog({ dir: `${dir}/log` });
  const log = createLogger({ level: "warn" });
  const alerts = new AlertBus({
    store,
    dailyLog,
    log: log.child("alerts"),
    config: config.alerts as AlertsConfig,
  });
  const fullConfig = {
    ...config,
    paths: { state_dir: dir, log_dir: `${dir}/log`, runtime_dir: dir },
  };
  const server = dnsModule.create({
    section: config.dns,
    config: fullConfig,
    store,
    alerts,
    dailyLog,
    log: log.child("dns"),
  }) as DnsServer;
  try {
    await server.start();
  } catch (e) {
    store.close();
    await dailyLog.close();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  let running = true;
  const env: VerbEnv = {
    store,
    config: fullConfig,
    alerts,
    dailyLog,
    log,
    running: () => (running ? server : undefined),
  };
  return {
    server,
    port,
    dir,
    store,
    section: config.dns,
    env,
    stop: async () => {
      running = false;
      await server.stop();
      store.close();
      await dailyLog.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Output of a dig/kdig run. */
export interface DigResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
}

/** Runs `dig @127.0.0.1 -p PORT ARGS`. */
export async function dig(port: number, args: string[]): Promise<DigResult> {
  return await run("dig", ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=1", ...args]);
}

/** Runs `kdig @127.0.0.1 -p PORT ARGS`. */
export async function kdig(port: number, args: string[]): Promise<DigResult> {
  return await run("kdig", ["@127.0.0.1", "-p", String(port), "+time=2", "+retry=0", ...args]);
}

async function run(cmd: string, args: string[]): Promise<DigResult> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** Sends one UDP datagram to 127.0.0.1:`port` and waits (bounded) for the reply; null when none. */
export async function udpExchange(
  port: number,
  query: Uint8Array,
  timeoutMs = 1000,
): Promise<Uint8Array | null> {
  const dgram = (await import("node:dgram")).default;
  const s = dgram.createSocket("udp4");
  try {
    return await new Promise<Uint8Array | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      s.on("message", (msg: Uint8Array) => {
        clearTimeout(timer);
        resolve(new Uint8Array(msg));
      });
      s.send(query, port, "127.0.0.1");
    });
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}
