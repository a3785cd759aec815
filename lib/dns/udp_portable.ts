/**
 * The portable UDP path: `Deno.listenDatagram` (needs `--unstable-net`) or,
 * when that API is not there, `node:dgram`. Same answers as the fast path,
 * one datagram per call, on the main thread; about a quarter of the fast
 * path's throughput on the machines measured (see shared notes).
 *
 * @module
 */

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import type { Responder } from "./engine.ts";
import { parseIp } from "../net/mod.ts";

/** A running portable UDP listener. */
export interface PortableUdp {
  /** Which API serves it. */
  api: "Deno.listenDatagram" | "node:dgram";
  /** Stops and closes the socket. */
  stop(): Promise<void>;
}

type ListenDatagram = (options: {
  hostname: string;
  port: number;
  transport: "udp";
}) => Deno.DatagramConn;

/** Starts a portable UDP listener answering with `responder`. */
export async function startPortableUdp(
  address: { host: string; port: number },
  responder: Responder,
  options: {
    maxUdpPayload: number;
    onError: (e: Error) => void;
    /** Force one API (tests); by default Deno.listenDatagram when present. */
    api?: PortableUdp["api"];
  },
): Promise<PortableUdp> {
  const { host, port } = address;
  const buf = new Uint8Array(Math.max(options.maxUdpPayload, 512));
  const addrBytes = new Uint8Array(16);
  const addressOf = (ip: string): boolean => {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; rate limiting wants their IPv4 network.
    const b = parseIp(ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip);
    if (!b) return false;
    addrBytes.set(b);
    return b.length === 16;
  };
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram }).listenDatagram;
  if (typeof listen === "function" && options.api !== "node:dgram") {
    const conn = listen({ hostname: host, port, transport: "udp" });
    const serving = (async () => {
      try {
        for (;;) {
          const [data, addr] = await conn.receive(buf);
          const a = addr as Deno.NetAddr;
          const n = data.length;
          if (n > buf.length) continue;
          if (data.buffer !== buf.buffer || data.byteOffset !== 0) buf.set(data);
          const t0 = performance.now();
          responder.tick(t0);
          responder.client(addrBytes, addressOf(a.hostname));
          const r = responder.udp(buf, n);
          if (r > 0) await conn.send(buf.subarray(0, r), a).catch(() => {});
          responder.observe((performance.now() - t0) / 1000, 1, false);
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) {
          options.onError(e as Error);
        }
      }
    })();
    return {
      api: "Deno.listenDatagram",
      stop: async () => {
        try {
          conn.close();
        } catch { /* already closed */ }
        await serving;
      },
    };
  }
  const socket = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", ipv6Only: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", (e) => options.onError(e));
  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    if (msg.length > buf.length) return;
    buf.set(msg);
    const t0 = performance.now();
    responder.tick(t0);
    responder.client(addrBytes, addressOf(rinfo.address));
    const r = responder.udp(buf, msg.length);
    if (r > 0) socket.send(Buffer.from(buf.subarray(0, r)), rinfo.port, rinfo.address);
    responder.observe((performance.now() - t0) / 1000, 1, false);
  });
  return {
    api: "node:dgram",
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
