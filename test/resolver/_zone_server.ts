/**
 * A tiny authoritative-style DNS server for tests and benchmarks: UDP
 * (node:dgram) and TCP (Deno.listen) on the same loopback port, answering from
 * an in-memory record list. Hooks let a test truncate, drop or spoof answers.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/** One record served. `data` as dns-packet wants it (address, name, SOA object, ...). */
export interface ZoneRecord {
  /** Owner name without trailing dot. */
  name: string;
  /** Type mnemonic. */
  type: string;
  /** TTL seconds. @default 300 */
  ttl?: number;
  /** Record data. */
  data: unknown;
}

/** What the server does with a UDP question. */
export type UdpBehaviour = "answer" | "truncate" | "drop" | "spoof-then-answer" | "garbage";

/** Options for {@linkcode startZoneServer}. */
export interface ZoneServerOptions {
  /** Records served. */
  records: ZoneRecord[];
  /** Per-question UDP behaviour. @default "answer" */
  udp?: (name: string, type: string) => UdpBehaviour;
  /** Rewrites an answer before sending (e.g. to rotate records). */
  rewrite?: (answers: ZoneRecord[], name: string, type: string) => ZoneRecord[];
  /** Host to bind. @default "127.0.0.1" */
  hostname?: string;
}

/** A running server. */
export interface ZoneServer {
  /** Bound host. */
  host: string;
  /** Bound port (UDP and TCP). */
  port: number;
  /** Questions received, by transport. */
  counts: { udp: number; tcp: number };
  /** Replaces the served records. */
  setRecords(records: ZoneRecord[]): void;
  /** Stops both listeners. */
  close(): Promise<void>;
}

function lc(n: string): string {
  return (n.endsWith(".") ? n.slice(0, -1) : n).toLowerCase();
}

/** Builds the answer to one question from `records`. */
function answer(
  req: ReturnType<typeof dnsPacket.decode>,
  byName: Map<string, ZoneRecord[]>,
  rewrite: ZoneServerOptions["rewrite"],
  truncate: boolean,
): Buffer {
  const q = req.questions?.[0];
  const base = {
    type: "response" as const,
    id: req.id,
    flags: (req.flags ?? 0) & 0x0100 | 0x0400 | 0x0080 | (truncate ? 0x0200 : 0),
    questions: req.questions,
  };
  if (!q) return dnsPacket.encode({ ...base, flags: base.flags | 1 });
  if (truncate) return dnsPacket.encode({ ...base, answers: [] });
  const answers: ZoneRecord[] = [];
  let name = lc(q.name);
  let rcode = 0;
  for (let hop = 0; hop < 10; hop++) {
    const rrs = byName.get(name);
    if (!rrs) {
      if (hop === 0) rcode = 3;
      break;
    }
    const match = rrs.filter((r) => r.type === q.type);
    if (match.length > 0) {
      answers.push(...match);
      break;
    }
    const cname = rrs.find((r) => r.type === "CNAME");
    if (!cname || q.type === "CNAME") break;
    answers.push(cname);
    name = lc(String(cname.data));
  }
  const out = rewrite ? rewrite(answers, lc(q.name), q.type) : answers;
  const authorities: ZoneRecord[] = [];
  if (out.length === 0 && rcode === 0) {
    // NODATA: put the closest enclosing SOA in authority, as a real server does.
    const labels = lc(q.name).split(".");
    for (let i = 0; i < labels.length; i++) {
      const soa = byName.get(labels.slice(i).join("."))?.find((r) => r.type === "SOA");
      if (soa) {
        authorities.push(soa);
        break;
      }
    }
  }
  const enc = (r: ZoneRecord) => ({
    name: r.name,
    type: r.type,
    ttl: r.ttl ?? 300,
    class: "IN",
    data: r.data,
  });
  return dnsPacket.encode({
    ...base,
    flags: base.flags | rcode,
    // deno-lint-ignore no-explicit-any
    answers: out.map(enc) as any,
    // deno-lint-ignore no-explicit-any
    authorities: authorities.map(enc) as any,
  });
}

/** Starts the server on a free loopback port (UDP and TCP on the same number). */
export async function startZoneServer(options: ZoneServerOptions): Promise<ZoneServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  let byName = new Map<string, ZoneRecord[]>();
  const setRecords = (records: ZoneRecord[]) => {
    const m = new Map<string, ZoneRecord[]>();
    for (const r of records) {
      const k = lc(r.name);
      let l = m.get(k);
      if (!l) m.set(k, l = []);
      l.push(r);
    }
    byName = m;
  };
  setRecords(options.records);
  const counts = { udp: 0, tcp: 0 };

  let udp: dgram.Socket | undefined;
  let tcp: Deno.TcpListener | undefined;
  for (let attempt = 0; attempt < 20 && !tcp; attempt++) {
    const sock = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, hostname, () => resolve());
    });
    const port = sock.address().port;
    try {
      tcp = Deno.listen({ hostname, port, transport: "tcp" });
      udp = sock;
    } catch {
      sock.close();
    }
  }
  if (!udp || !tcp) throw new Error("could not bind UDP and TCP on one port");
  const port = udp.address().port;
  const udpSock = udp;

  udpSock.on("message", (buf: Buffer, rinfo: { address: string; port: number }) => {
    counts.udp++;
    let req;
    try {
      req = dnsPacket.decode(buf);
    } catch {
      return;
    }
    const q = req.questions?.[0];
    const how = q && options.udp ? options.udp(lc(q.name), q.type) : "answer";
    if (how === "drop") return;
    if (how === "garbage") {
      udpSock.send(Buffer.from([req.id >> 8, req.id & 0xff, 0x81]), rinfo.port, rinfo.address);
      return;
    }
    if (how === "spoof-then-answer") {
      const wrong = { ...req, id: (req.id + 1) & 0xffff };
      udpSock.send(answer(wrong, byName, options.rewrite, false), rinfo.port, rinfo.address);
    }
    udpSock.send(
      answer(req, byName, options.rewrite, how === "truncate"),
      rinfo.port,
      rinfo.address,
    );
  });

  const conns = new Set<Deno.TcpConn>();
  const serveTcp = async (conn: Deno.TcpConn) => {
    conns.add(conn);
    try {
      for (;;) {
        const head = await readN(conn, 2);
        if (!head) break;
        const body = await readN(conn, (head[0] << 8) | head[1]);
        if (!body) break;
        counts.tcp++;
        let req;
        try {
          req = dnsPacket.decode(Buffer.from(body));
        } catch {
          break;
        }
        const out = answer(req, byName, options.rewrite, false);
        const framed = new Uint8Array(out.length + 2);
        framed[0] = out.length >> 8;
        framed[1] = out.length & 0xff;
        framed.set(out, 2);
        await conn.write(framed);
      }
    } catch {
      /* client went away */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const listener = tcp;
  const accepting = (async () => {
    try {
      for await (const c of listener) serveTcp(c);
    } catch { /* listener closed */ }
  })();

  return {
    host: hostname,
    port,
    counts,
    setRecords,
    async close() {
      udpSock.close();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

async function readN(conn: Deno.TcpConn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) return null;
    off += got;
  }
  return out;
}
