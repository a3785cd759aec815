/**
 * Starts the `dns` component directly (no daemon) with a real store, daily
 * log, alert bus and logger in a temp dir, on a free loopback port, and
 * sends it queries with the real `dig` and `kdig` or raw sockets.
 *
 * @module
 */

import { AlertBus } from "../../lib/alerts/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { type DnsConfig, dnsModule, type DnsServer } from "../../lib/dns/mod.ts";
import { sectionOf, type VerbEnv } from "../../lib/daemon/types.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";

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
  /** The metrics registry the component registered in. */
  metrics: MetricsRegistry;
  /** Environment for calling the component's verbs. */
  env: VerbEnv<DnsConfig, DnsServer>;
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
export async function startDns(
  dnsToml = "",
  options: { port?: number; dir?: string; logLevel?: "warn" | "info" | "debug" } = {},
): Promise<TestDns> {
  // A dir given by the caller (a restart on the same store) is the caller's to remove.
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "vigia-dns-" });
  const port = options.port ?? await freeDnsPort();
  const text =
    `[paths]\nstate_dir = "${dir}"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}"\n[dns]\n${
      /^listen\s*=/m.test(dnsToml) ? "" : `listen = ["127.0.0.1:${port}"]\n`
    }${dnsToml}`;
  const { config } = await loadVigiaConfig(configSchema(), {
    text,
    path: `${dir}/vigia.toml`,
    checks: dnsModule.checks,
  });
  const store = openStore(`${dir}/vigia.db`);
  store.migrate("dns", dnsModule.migrations!);
  const dailyLog = new DailyLog({ dir: `${dir}/log` });
  const log = createLogger({ level: options.logLevel ?? "warn" });
  const alerts = new AlertBus({
    store,
    dailyLog,
    log: log.child("alerts"),
    config: config.alerts,
  });
  const section = sectionOf(dnsModule, config);
  const metrics = new MetricsRegistry();
  const server = dnsModule.create({
    section,
    config,
    store,
    alerts,
    dailyLog,
    log: log.child("dns"),
    metrics: metrics.scope("dns"),
  });
  try {
    await server.start();
  } catch (e) {
    store.close();
    await dailyLog.close();
    if (ownDir) await Deno.remove(dir, { recursive: true });
    throw e;
  }
  let running = true;
  const env: VerbEnv<DnsConfig, DnsServer> = {
    store,
    config,
    section,
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
    section,
    metrics,
    env,
    stop: async () => {
      running = false;
      await server.stop();
      store.close();
      await dailyLog.close();
      if (ownDir) await Deno.remove(dir, { recursive: true });
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
  options: { timeoutMs?: number } = {},
): Promise<Uint8Array | null> {
  const { timeoutMs = 1000 } = options;
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

/** A UDP client socket for many sequential exchanges (one outstanding query at a time). */
export class UdpClient {
  // deno-lint-ignore no-explicit-any
  #socket: any;
  #waiter: ((msg: Uint8Array) => void) | undefined;

  /** Opens the socket (IPv4 loopback). */
  static async open(): Promise<UdpClient> {
    const dgram = (await import("node:dgram")).default;
    const c = new UdpClient();
    c.#socket = dgram.createSocket("udp4");
    c.#socket.on("message", (msg: Uint8Array) => c.#waiter?.(new Uint8Array(msg)));
    await new Promise<void>((r) => c.#socket.bind(0, "127.0.0.1", () => r()));
    return c;
  }

  /** Sends `query` to 127.0.0.1:`port` and resolves with the reply (matching ID) or null after `timeoutMs`. */
  exchange(
    port: number,
    query: Uint8Array,
    options: { timeoutMs?: number } = {},
  ): Promise<Uint8Array | null> {
    const { timeoutMs = 1000 } = options;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(null);
      }, timeoutMs);
      this.#waiter = (msg) => {
        if (query.length >= 2 && (msg[0] !== query[0] || msg[1] !== query[1])) return; // a late reply
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(msg);
      };
      this.#socket.send(query, port, "127.0.0.1");
    });
  }

  /** Closes the socket. */
  close(): Promise<void> {
    return new Promise((r) => this.#socket.close(() => r()));
  }
}

/** Sends framed queries on one TCP connection and reads as many framed replies. */
export async function tcpExchange(port: number, queries: Uint8Array[]): Promise<Uint8Array[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const frames = queries.map((q) => new Uint8Array([q.length >> 8, q.length & 255, ...q]));
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      all.set(f, at);
      at += f.length;
    }
    for (let off = 0; off < all.length;) off += await conn.write(all.subarray(off));
    const replies: Uint8Array[] = [];
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(65536);
    while (replies.length < queries.length) {
      const n = await conn.read(chunk);
      if (n === null) break;
      const next = new Uint8Array(buf.length + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.length);
      buf = next;
      while (buf.length >= 2 && buf.length >= 2 + ((buf[0] << 8) | buf[1])) {
        const len = (buf[0] << 8) | buf[1];
        replies.push(buf.slice(2, 2 + len));
        buf = buf.slice(2 + len);
      }
    }
    return replies;
  } finally {
    conn.close();
  }
}
