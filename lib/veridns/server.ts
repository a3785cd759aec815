/**
 * The VeriDNS TLS server shell: listeners, per-connection frame decoding,
 * limits (connections in total and per client address, handshake, idle and
 * mid-frame timeouts, requests per second) and answer writing. What to answer
 * is decided by a {@linkcode FrameHandler}; this module only moves frames.
 *
 * Deno's TLS (rustls) speaks TLS 1.2 and 1.3 only, so TLS 1.0/1.1 clients are
 * refused during the handshake without any setting here.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import {
  type BadFrameReason,
  type Frame,
  FrameDecoder,
  FrameError,
  type VerifyRequestFrame,
} from "./codec.ts";
import { plainClientAddress } from "./branches.ts";

/** Decides the answers; the server calls it for each good frame. */
export interface FrameHandler {
  /** Answer to a Branch Server Address Query. */
  branch(client: string, seq: number): Uint8Array;
  /**
   * Answer to a VeriDNS Request, now or later; a {@linkcode FrameError} closes
   * the connection as a bad frame (a domain that cannot be a DNS name).
   */
  verify(client: string, frame: VerifyRequestFrame): Uint8Array | Promise<Uint8Array> | FrameError;
}

/** Limits of {@linkcode VeridnsServer}, all from `[veridns]`. */
export interface ServerLimits {
  maxFrameLength: number;
  maxAddresses: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  /** Frames per connection per second; 0 for no limit. */
  requestsPerSecond: number;
}

/** Options for {@linkcode VeridnsServer}. */
export interface ServerOptions {
  /** `IP:PORT` listeners. */
  listen: string[];
  /** PEM certificate chain. */
  certPem: string;
  /** PEM private key. */
  keyPem: string;
  /** Limits. */
  limits: ServerLimits;
  /** Answers. */
  handler: FrameHandler;
  /** Daemon log. */
  log: Logger;
}

interface Connection {
  conn: Deno.TlsConn;
  client: string;
  opened: number;
  lastFrame: number;
  midFrameSince: number;
  handshaken: boolean;
  busy: boolean;
  closed: boolean;
  closeReason: string;
  tokens: number;
  tokensAt: number;
}

/** Counters of the server shell. */
export interface ServerStats {
  connections_open: number;
  connections_total: number;
  refused_total_limit: number;
  refused_per_ip_limit: number;
  handshake_failures: number;
  handshake_timeouts: number;
  idle_timeouts: number;
  frames_in: { branch_query: number; verify_request: number };
  frames_out: { branch_answer: number; verify_response: number };
  bad_frames: Partial<Record<BadFrameReason, number>>;
  throttled: number;
}

const READ_BUFFER = 4096;

/** The TLS listeners and their connections. */
export class VeridnsServer {
  readonly #options: ServerOptions;
  readonly #listeners: Deno.TlsListener[] = [];
  readonly #conns = new Set<Connection>();
  readonly #perIp = new Map<string, number>();
  readonly #tasks = new Set<Promise<void>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  readonly #stats: ServerStats = {
    connections_open: 0,
    connections_total: 0,
    refused_total_limit: 0,
    refused_per_ip_limit: 0,
    handshake_failures: 0,
    handshake_timeouts: 0,
    idle_timeouts: 0,
    frames_in: { branch_query: 0, verify_request: 0 },
    frames_out: { branch_answer: 0, verify_response: 0 },
    bad_frames: {},
    throttled: 0,
  };

  constructor(options: ServerOptions) {
    this.#options = options;
  }

  /** Bound addresses (`IP:PORT`, with the real port when 0 was asked). */
  get addresses(): string[] {
    return this.#listeners.map((l) => {
      const a = l.addr as Deno.NetAddr;
      return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
    });
  }

  /** Binds every listener (all or none) and starts accepting. */
  start(): void {
    try {
      for (const text of this.#options.listen) {
        const hp = parseHostPort(text, 4433);
        if (typeof hp === "string") throw new Error(hp);
        this.#listeners.push(Deno.listenTls({
          hostname: hp.host,
          port: hp.port,
          cert: this.#options.certPem,
          key: this.#options.keyPem,
        }));
      }
    } catch (e) {
      for (const l of this.#listeners) l.close();
      this.#listeners.length = 0;
      throw e;
    }
    for (const l of this.#listeners) this.#track(this.#acceptLoop(l));
    const { handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs } = this.#options.limits;
    const tick = Math.max(
      20,
      Math.min(1000, Math.min(handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs) / 4),
    );
    this.#sweeper = setInterval(() => this.#sweep(), tick);
  }

  /** Closes the listeners and every connection; resolves when all tasks ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#sweeper);
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch { /* already closed */ }
    }
    for (const c of this.#conns) this.#close(c, "server stopping");
    await Promise.allSettled([...this.#tasks]);
  }

  /** Counters (a copy). */
  stats(): ServerStats {
    return structuredClone({ ...this.#stats, connections_open: this.#conns.size });
  }

  #track(p: Promise<void>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  async #acceptLoop(listener: Deno.TlsListener): Promise<void> {
    const { maxConnections, maxConnectionsPerIp } = this.#options.limits;
    while (!this.#stopping) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#stopping || e instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: log, breathe, go on serving.
        this.#options.log.error("accept failed", { error: e });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const client = plainClientAddress((conn.remoteAddr as Deno.NetAddr).hostname);
      const perIp = this.#perIp.get(client) ?? 0;
      // Refused before the handshake: an over-limit client costs no TLS work.
      if (this.#conns.size >= maxConnections) {
        this.#stats.refused_total_limit++;
        closeQuietly(conn);
        continue;
      }
      if (perIp >= maxConnectionsPerIp) {
        this.#stats.refused_per_ip_limit++;
        closeQuietly(conn);
        continue;
      }
      this.#perIp.set(client, perIp + 1);
      const now = performance.now();
      const c: Connection = {
        conn,
        client,
        opened: now,
        lastFrame: now,
        midFrameSince: 0,
        handshaken: false,
        busy: false,
        closed: false,
        closeReason: "",
        tokens: this.#options.limits.requestsPerSecond,
        tokensAt: now,
      };
      this.#conns.add(c);
      this.#stats.connections_total++;
      this.#track(this.#serve(c));
    }
  }

  #close(c: Connection, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    c.closeReason = reason;
    closeQuietly(c.conn);
  }

  #badFrame(c: Connection, err: FrameError): void {
    this.#stats.bad_frames[err.reason] = (this.#stats.bad_frames[err.reason] ?? 0) + 1;
    this.#options.log.warn("bad frame; closing the connection", {
      client: c.client,
      reason: err.reason,
      detail: err.message,
    });
    this.#close(c, err.reason);
  }

  #sweep(): void {
    const now = performance.now();
    const { handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs } = this.#options.limits;
    for (const c of this.#conns) {
      if (c.closed) continue;
      if (!c.handshaken) {
        if (now - c.opened > handshakeTimeoutMs) {
          this.#stats.handshake_timeouts++;
          this.#close(c, "handshake timeout");
        }
      } else if (c.busy) continue;
      else if (c.midFrameSince > 0 && now - c.midFrameSince > frameTimeoutMs) {
        this.#badFrame(
          c,
          new FrameError(
            "stalled",
            `frame incomplete after ${Math.round(now - c.midFrameSince)} ms`,
          ),
        );
      } else if (now - c.lastFrame > idleTimeoutMs) {
        this.#stats.idle_timeouts++;
        this.#close(c, "idle timeout");
      }
    }
  }

  /** Waits until the connection may handle one more frame (token bucket). */
  async #throttle(c: Connection): Promise<void> {
    const rate = this.#options.limits.requestsPerSecond;
    if (rate === 0) return;
    const now = performance.now();
    c.tokens = Math.min(rate, c.tokens + ((now - c.tokensAt) * rate) / 1000);
    c.tokensAt = now;
    if (c.tokens < 1) {
      this.#stats.throttled++;
      const wait = ((1 - c.tokens) * 1000) / rate;
      await new Promise((r) => setTimeout(r, wait));
      c.tokens = Math.min(rate, c.tokens + (wait * rate) / 1000);
      c.tokensAt = performance.now();
    }
    c.tokens -= 1;
  }

  async #serve(c: Connection): Promise<void> {
    const { maxFrameLength, maxAddresses } = this.#options.limits;
    const handler = this.#options.handler;
    try {
      try {
        await c.conn.handshake();
      } catch {
        if (!c.closed) this.#stats.handshake_failures++;
        return;
      }
      c.handshaken = true;
      c.lastFrame = performance.now();
      const decoder = new FrameDecoder({ role: "server", maxFrameLength, maxAddresses });
      const buf = new Uint8Array(READ_BUFFER);
      const frames: Frame[] = [];
      const out: Uint8Array[] = [];
      while (!c.closed) {
        let n: number | null;
        try {
          n = await c.conn.read(buf);
        } catch {
          break; // reset by the peer, or closed by the sweeper
        }
        if (n === null) {
          if (decoder.pendingBytes > 0) {
            this.#badFrame(
              c,
              new FrameError(
                "truncated",
                `connection closed after ${decoder.pendingBytes} bytes of a frame`,
              ),
            );
          }
          break;
        }
        const wasMidFrame = decoder.pendingBytes > 0;
        const err = decoder.feed(buf.subarray(0, n), frames);
        const completed = frames.length;
        if (completed > 0) {
          c.busy = true;
          for (const f of frames) {
            await this.#throttle(c);
            if (c.closed) break;
            let answer: Uint8Array | Promise<Uint8Array> | FrameError;
            if (f.type === 0) {
              this.#stats.frames_in.branch_query++;
              answer = handler.branch(c.client, f.seq);
              this.#stats.frames_out.branch_answer++;
            } else {
              this.#stats.frames_in.verify_request++;
              answer = handler.verify(c.client, f as VerifyRequestFrame);
              if (answer instanceof FrameError) {
                await writeAll(c.conn, out);
                this.#badFrame(c, answer);
                break;
              }
              if (answer instanceof Promise) {
                // Answers already made go out before waiting on the resolvers.
                await writeAll(c.conn, out);
                answer = await answer;
              }
              this.#stats.frames_out.verify_response++;
            }
            out.push(answer);
          }
          frames.length = 0;
          if (!c.closed) await writeAll(c.conn, out);
          out.length = 0;
          c.busy = false;
          c.lastFrame = performance.now();
        }
        if (err) {
          this.#badFrame(c, err);
          break;
        }
        if (decoder.pendingBytes === 0) c.midFrameSince = 0;
        else if (!wasMidFrame || completed > 0 || c.midFrameSince === 0) {
          c.midFrameSince = performance.now();
        }
      }
    } catch (e) {
      if (!c.closed) {
        this.#options.log.debug("connection ended with an error", {
          client: c.client,
          error: e,
        });
      }
    } finally {
      this.#close(c, c.closeReason || "done");
      this.#conns.delete(c);
      const left = (this.#perIp.get(c.client) ?? 1) - 1;
      if (left <= 0) this.#perIp.delete(c.client);
      else this.#perIp.set(c.client, left);
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function writeAll(conn: Deno.Conn, parts: Uint8Array[]): Promise<void> {
  if (parts.length === 0) return;
  let data: Uint8Array;
  if (parts.length === 1) data = parts[0];
  else {
    data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
  }
  parts.length = 0;
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}
