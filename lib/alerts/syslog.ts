/**
 * Alerts to a syslog collector: RFC 5424 messages over UDP, TCP or TLS
 * (octet-counted frames), or the local form over a datagram socket
 * (`unix:///dev/log`). The
 * publisher only queues; one writer drains the bounded queue, reconnecting
 * with backoff, so a collector that is down or slow never blocks the daemon:
 * when the queue is full the oldest alerts are dropped and counted.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import {
  type AlertsConfig,
  parseSyslogTarget,
  SYSLOG_FACILITIES,
  type SyslogTarget,
} from "./config.ts";
import type { Alert } from "./mod.ts";
import {
  formatLocalSyslogMessage,
  formatSyslogMessage,
  octetCountedFrame,
  type SyslogHeader,
} from "./syslog_message.ts";

type SyslogConfig = AlertsConfig["syslog"];

/** Backoff after a failed connect or send: doubling from the first to the last. */
const BACKOFF_FIRST_MS = 200;
const BACKOFF_MAX_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** Messages written in one stream write at most. */
const STREAM_BATCH = 256;

const encoder = new TextEncoder();

/** An open way to the collector. */
interface Transport {
  /** Sends the messages, all or none (throws). */
  send(messages: string[]): Promise<void>;
  /** True once the peer closed a stream (seen by the reader). */
  readonly broken: boolean;
  close(): void;
}

/** Options for {@linkcode SyslogSender}. */
export interface SyslogSenderOptions {
  /** Where failures are logged. */
  log: Logger;
  /** HOSTNAME of the messages. @default Deno.hostname(), or "-" without the permission */
  hostname?: string;
}

/** Sends queued alerts to syslog. */
export class SyslogSender {
  readonly #config: SyslogConfig;
  readonly #target: SyslogTarget;
  readonly #log: Logger;
  readonly #header: SyslogHeader;
  #queue: Alert[] = [];
  /** Alerts at the head of the queue being written now: an overflow drops after them. */
  #inFlight = 0;
  #transport: Transport | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  #backoffMs = 0;
  #sent = 0;
  #failed = 0;
  #dropped = 0;
  #connects = 0;
  #lastError = "";
  #socketDir: string | undefined;

  /** Checks the target; connects only when the first alert is queued. */
  constructor(config: SyslogConfig, options: SyslogSenderOptions) {
    this.#config = config;
    this.#log = options.log;
    const target = parseSyslogTarget(config.target);
    if (typeof target === "string") throw new Error(target);
    this.#target = target;
    this.#header = {
      facility: SYSLOG_FACILITIES[config.facility],
      hostname: options.hostname ?? hostname(),
      appName: config.app_name,
      procId: String(Deno.pid),
    };
  }

  /** Queues an alert; never waits for the collector. */
  enqueue(alert: Alert): void {
    if (this.#closed) return;
    this.#queue.push(alert);
    if (this.#queue.length > this.#config.queue_max) {
      this.#queue.splice(this.#inFlight, 1);
      this.#dropped++;
    }
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  /** Sends until the queue is empty (or the sender closes), reconnecting with backoff. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      if (this.#backoffMs > 0) await this.#pause(this.#backoffMs);
      if (this.#closed) break;
      try {
        if (this.#transport?.broken) this.#dropTransport();
        this.#transport ??= await this.#open();
        if (this.#closed) break;
        // A peer's close arrives as a read event: let it be seen before writing into a dead stream.
        await new Promise((r) => setTimeout(r, 0));
        if (this.#transport.broken) throw new Error("the collector closed the connection");
        const batch = this.#queue.slice(0, this.#transport instanceof Datagrams ? 1 : STREAM_BATCH);
        const format = this.#target.transport === "unix"
          ? formatLocalSyslogMessage
          : formatSyslogMessage;
        this.#inFlight = batch.length;
        try {
          await this.#transport.send(batch.map((a) => format(a, this.#header)));
        } finally {
          this.#inFlight = 0;
        }
        this.#queue.splice(0, batch.length);
        this.#sent += batch.length;
        if (this.#backoffMs > 0) {
          this.#log.info("syslog collector reachable again", { target: this.#config.target });
        }
        this.#backoffMs = 0;
      } catch (e) {
        if (this.#closed) break; // our own close cut the write: not the collector's failure
        this.#failed++;
        const message = (e as Error).message;
        if (message !== this.#lastError || this.#backoffMs === 0) {
          this.#log.warn("syslog delivery failed; retrying", {
            target: this.#config.target,
            error: message,
            queued: this.#queue.length,
          });
        }
        this.#lastError = message;
        this.#dropTransport();
        this.#backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_FIRST_MS, this.#backoffMs * 2));
      }
    }
  }

  /** Waits `ms`, or less when the sender closes. */
  async #pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  async #open(): Promise<Transport> {
    const t = this.#target;
    this.#connects++;
    if (t.transport === "unix") {
      this.#socketDir ??= Deno.makeTempDirSync({ prefix: "vigia-syslog-" });
      return new Datagrams(
        Deno.listenDatagram({ transport: "unixpacket", path: `${this.#socketDir}/client.sock` }),
        { transport: "unixpacket", path: t.path },
      );
    }
    if (t.transport === "udp") {
      const local = t.host.includes(":") ? "::" : "0.0.0.0";
      return new Datagrams(
        Deno.listenDatagram({ transport: "udp", hostname: local, port: 0 }),
        { transport: "udp", hostname: t.host, port: t.port },
      );
    }
    const connecting = t.transport === "tls"
      ? Deno.connectTls({
        hostname: t.host,
        port: t.port,
        caCerts: this.#config.ca_file ? [Deno.readTextFileSync(this.#config.ca_file)] : undefined,
      })
      : Deno.connect({ hostname: t.host, port: t.port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const conn = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`)),
          CONNECT_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer)).catch((e) => {
      connecting.then((c) => c.close(), () => {});
      throw e;
    });
    if (t.transport === "tls") await (conn as Deno.TlsConn).handshake();
    this.#log.info("syslog collector connected", { target: this.#config.target });
    return new Stream(conn);
  }

  #dropTransport(): void {
    try {
      this.#transport?.close();
    } catch { /* already closed */ }
    this.#transport = undefined;
  }

  /** Counters for `ctl stats` and `ctl status`. */
  stats(): Record<string, unknown> {
    return {
      enabled: true,
      target: this.#config.target,
      connected: this.#transport !== undefined && !this.#transport.broken,
      sent: this.#sent,
      failed: this.#failed,
      dropped: this.#dropped,
      queued: this.#queue.length,
      connects: this.#connects,
      last_error: this.#lastError || undefined,
    };
  }

  /**
   * Stops the sender. With `send`, the queue is sent first (waiting at most
   * `timeoutMs`; what is left is counted as dropped); without, the unsent
   * alerts are returned to be queued elsewhere.
   */
  async close(options: { send: boolean; timeoutMs?: number }): Promise<Alert[]> {
    if (options.send && this.#queue.length > 0) {
      this.#running ??= this.#drain().finally(() => (this.#running = undefined));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#running,
        new Promise((r) => (timer = setTimeout(r, options.timeoutMs ?? 3000))),
      ]);
      clearTimeout(timer);
    }
    this.#closed = true;
    this.#wake?.();
    this.#dropTransport();
    await this.#running;
    this.#dropTransport(); // one a connect in flight opened meanwhile
    if (this.#socketDir) Deno.removeSync(this.#socketDir, { recursive: true });
    const rest = this.#queue;
    this.#queue = [];
    if (options.send) {
      if (rest.length > 0) {
        this.#dropped += rest.length;
        this.#log.warn("syslog alerts not delivered at close", {
          dropped: rest.length,
          error: this.#lastError,
        });
      }
      return [];
    }
    return rest;
  }
}

/** Datagrams (UDP or a local socket): one message each, no framing. */
class Datagrams implements Transport {
  readonly broken = false;
  constructor(readonly socket: Deno.DatagramConn, readonly to: Deno.Addr) {}

  async send(messages: string[]): Promise<void> {
    for (const m of messages) await this.socket.send(encoder.encode(m), this.to);
  }

  close(): void {
    this.socket.close();
  }
}

/** A TCP or TLS stream of octet-counted frames; reads only to notice the peer closing it. */
class Stream implements Transport {
  broken = false;
  readonly #conn: Deno.Conn;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#watch();
  }

  async #watch(): Promise<void> {
    const sink = new Uint8Array(512);
    try {
      while ((await this.#conn.read(sink)) !== null) { /* collectors send nothing; ignore */ }
    } catch { /* reset or closed by us */ }
    this.broken = true;
  }

  async send(messages: string[]): Promise<void> {
    const frames = messages.map(octetCountedFrame);
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      bytes.set(f, at);
      at += f.length;
    }
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  close(): void {
    this.broken = true;
    this.#conn.close();
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "-";
  }
}
