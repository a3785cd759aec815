/**
 * DNS over TCP (RFC 1035 section 4.2.2, RFC 7766): two-byte length framing,
 * several queries pipelined on one connection and answered in order, an
 * idle timeout between queries and a cap on open connections (a connection
 * past the cap is closed at once, as NSD does when `tcp-count` is reached).
 * TCP is the rare path, so it runs on Deno's own listener.
 *
 * @module
 */

import type { Responder } from "./engine.ts";
import type { Logger } from "../log/mod.ts";
import { clientBytes, TransferServer } from "./xfr_out.ts";

/** Options for {@linkcode TcpServer.start}. */
export interface TcpOptions {
  /** Close a connection after this long without a complete query. */
  idleTimeoutMs: number;
  /** Connections open at most. */
  maxConnections: number;
  /** Answers queries. */
  responder: Responder;
  /** Where connection problems are logged (debug level). */
  log: Logger;
  /** Answers AXFR and IXFR (streamed); absent = the responder refuses them. */
  transfers?: TransferServer;
}

/** Counters of a TCP listener. */
export interface TcpStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections refused because the cap was reached. */
  refused: number;
  /** Connections closed for idleness. */
  timedOut: number;
  /** Connections open now. */
  open: number;
}

/** A TCP listener for one address. */
export class TcpServer {
  readonly #listener: Deno.TcpListener;
  readonly #options: TcpOptions;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #sessions = new Set<Promise<void>>();
  readonly #serving: Promise<void>;
  #closed = false;
  /** Live counters. */
  readonly stats: TcpStats = { accepted: 0, refused: 0, timedOut: 0, open: 0 };

  private constructor(listener: Deno.TcpListener, options: TcpOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#serving = this.#accept();
  }

  /** Binds and starts accepting; throws when the address is taken. */
  static start(address: { host: string; port: number }, options: TcpOptions): TcpServer {
    return new TcpServer(
      Deno.listen({ hostname: address.host, port: address.port, transport: "tcp" }),
      options,
    );
  }

  /** The bound port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closed) return;
        if (e instanceof Deno.errors.BadResource) return;
        this.#options.log.warn("TCP accept failed", { error: e });
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (this.#conns.size >= this.#options.maxConnections) {
        this.stats.refused++;
        try {
          conn.close();
        } catch { /* gone */ }
        continue;
      }
      this.stats.accepted++;
      this.#conns.add(conn);
      this.stats.open = this.#conns.size;
      const session: Promise<void> = this.#serve(conn).finally(() => {
        this.#conns.delete(conn);
        this.#sessions.delete(session);
        this.stats.open = this.#conns.size;
        try {
          conn.close();
        } catch { /* already closed */ }
      });
      this.#sessions.add(session);
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const { responder, idleTimeoutMs, transfers } = this.#options;
    const v6 = (conn.remoteAddr as Deno.NetAddr).hostname.includes(":") &&
      !(conn.remoteAddr as Deno.NetAddr).hostname.startsWith("::ffff:");
    // The client's address, for the rules of signed queries and NOTIFY (16 bytes, as the responder wants).
    const client = new Uint8Array(16);
    const bytes = clientBytes((conn.remoteAddr as Deno.NetAddr).hostname);
    if (bytes) client.set(bytes);
    const clientV6 = bytes?.length === 16;
    let buf = new Uint8Array(4096);
    let have = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.stats.timedOut++;
        try {
          conn.close();
        } catch { /* already closed */ }
      }, idleTimeoutMs);
    };
    try {
      conn.setNoDelay(true);
      arm();
      for (;;) {
        if (have === buf.length) {
          const bigger = new Uint8Array(Math.min(buf.length * 2, 65537));
          bigger.set(buf);
          buf = bigger;
        }
        const n = await conn.read(buf.subarray(have));
        if (n === null) return;
        have += n;
        let at = 0;
        const replies: Uint8Array[] = [];
        while (have - at >= 2) {
          const len = (buf[at] << 8) | buf[at + 1];
          if (have - at < 2 + len) break;
          const query = buf.subarray(at + 2, at + 2 + len);
          if (transfers && TransferServer.wants(query, len)) {
            // Answers queued before it go first; the idle timer sleeps while the zone streams.
            for (const frame of replies.splice(0)) await writeAll(conn, frame);
            clearTimeout(timer);
            const remote = conn.remoteAddr as Deno.NetAddr;
            await transfers.serve(query.slice(), {
              client: {
                address: clientBytes(remote.hostname),
                text: `${remote.hostname}:${remote.port}`,
              },
              send: (framed) => writeAll(conn, framed),
            });
            at += 2 + len;
            continue;
          }
          const t0 = performance.now();
          responder.client(client, clientV6);
          const reply = responder.tcp(query, len, v6);
          responder.observe((performance.now() - t0) / 1000, 1, true);
          if (reply) replies.push(frame(reply));
          at += 2 + len;
        }
        if (at > 0) {
          buf.copyWithin(0, at, have);
          have -= at;
          arm();
        }
        for (const f of replies) await writeAll(conn, f);
      }
    } catch (e) {
      if (
        !(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.ConnectionReset ||
          e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.Interrupted)
      ) {
        this.#options.log.debug("TCP connection ended", { error: e });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops accepting and closes every connection. */
  async stop(): Promise<void> {
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await this.#serving;
    await Promise.all([...this.#sessions]);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** A message with its two-byte length in front (RFC 1035 section 4.2.2). */
function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.length + 2);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}
