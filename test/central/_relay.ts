/**
 * A TCP relay on 127.0.0.1 in front of a test PostgreSQL: the network path
 * a test can cut. `cut()` closes both halves of every connection and
 * refuses new ones (what a peer that reboots does: resets); `blackhole()`
 * keeps every socket open but forwards nothing, old connections or new (a
 * pulled cable, a firewall dropping packets: nothing ever answers, nothing
 * resets); `restore()` forwards new connections again, while those of the
 * blackhole stay dead and open (as behind a firewall or NAT that lost
 * their state: neither end is told).
 *
 * @module
 */

/** The relay's state. */
export type RelayMode = "open" | "cut" | "blackhole";

/** A running relay. */
export interface TcpRelay {
  /** The port to connect to instead of PostgreSQL's. */
  port: number;
  /** Connections accepted since start. */
  accepted(): number;
  /** Closes every connection; new ones are closed at once. */
  cut(): void;
  /** Forwards nothing any more; sockets stay open. */
  blackhole(): void;
  /** Forwards new connections again; those of the blackhole stay dead. */
  restore(): void;
  /** Stops it and closes everything. */
  close(): void;
}

interface Pair {
  client: Deno.TcpConn;
  server?: Deno.TcpConn;
  /** Resolves once the pair is closed. */
  closed: Promise<void>;
  close: () => void;
  /** Blackholed: nothing flows any more. */
  dead: boolean;
}

/** Starts a relay to `127.0.0.1:targetPort` on a free loopback port. */
export function startRelay(targetPort: number): TcpRelay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let mode: RelayMode = "open";
  let accepted = 0;
  const pairs = new Set<Pair>();

  const closePair = (p: Pair) => {
    pairs.delete(p);
    p.close();
    for (const c of [p.client, p.server]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
  };

  /** Returns at once while the pair flows; a dead one waits until it is closed, then throws. */
  const flowing = async (p: Pair) => {
    if (!p.dead) return;
    await p.closed;
    throw new Error("closed");
  };

  const pump = async (p: Pair, from: Deno.TcpConn, to: Deno.TcpConn) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        await flowing(p);
        const n = await from.read(buf);
        if (n === null) break;
        // Bytes read as the blackhole began are dropped with the rest.
        await flowing(p);
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* closed by cut() or the peer */ }
    closePair(p);
  };

  const serve = async (client: Deno.TcpConn) => {
    accepted++;
    let close = () => {};
    const closed = new Promise<void>((r) => (close = r));
    const p: Pair = { client, closed, close, dead: mode === "blackhole" };
    pairs.add(p);
    if (mode === "cut") return closePair(p);
    // A blackholed SYN: the client's connect succeeds here, but nothing ever answers.
    if (p.dead) return;
    try {
      p.server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    } catch {
      return closePair(p);
    }
    void pump(p, client, p.server);
    void pump(p, p.server, client);
  };

  (async () => {
    try {
      for await (const c of listener) void serve(c);
    } catch { /* closed */ }
  })();

  return {
    port,
    accepted: () => accepted,
    cut: () => {
      mode = "cut";
      for (const p of [...pairs]) closePair(p);
    },
    blackhole: () => {
      mode = "blackhole";
      for (const p of pairs) p.dead = true;
    },
    restore: () => {
      mode = "open";
    },
    close: () => {
      mode = "cut";
      try {
        listener.close();
      } catch { /* closed */ }
      for (const p of [...pairs]) closePair(p);
    },
  };
}
