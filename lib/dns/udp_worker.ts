/**
 * The UDP fast path, one per Web Worker: its own socket (SO_REUSEPORT when
 * several workers share a port), `recvmmsg` of up to 64 queries per system
 * call into one long-lived buffer, each answered in place by the
 * {@linkcode Responder}, and `sendmmsg` of the replies in one call. The
 * loop blocks in `recvmmsg` (waking every 200 ms through SO_RCVTIMEO); the
 * main thread stops it with a flag in shared memory plus `shutdown(SHUT_RD)`
 * on the socket, and hands over new zone data by posting it and bumping a
 * generation counter that the loop checks between batches.
 *
 * Messages are described in `udp_protocol.ts` (kept apart so that the main
 * thread can import them without running this worker's top level).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { Responder } from "./engine.ts";
import { C, errno, errorText, type Libc, monotonicClock, openLibc, openUdpSocket } from "./libc.ts";
import { buildZoneDb, markServfail } from "./zone_db.ts";
import { unpackRecords } from "./pack.ts";
import { SignedAnswers, TransferPolicy } from "./xfr_out.ts";
import { CONTROL, type WorkerInit, type WorkerZones } from "./udp_protocol.ts";

let pending: WorkerZones | undefined;

self.onmessage = (event: MessageEvent<WorkerInit | WorkerZones>) => {
  const m = event.data;
  if (m.kind === "zones") pending = m;
  else if (m.kind === "init") {
    serve(m).catch((e) => {
      self.postMessage({ kind: "error", message: `UDP worker failed: ${(e as Error).message}` });
    });
  }
};

function responderFor(zones: WorkerZones, init: WorkerInit, counters: Float64Array): Responder {
  const { db } = buildZoneDb(unpackRecords(zones.records), {
    slotOf: (name) => zones.slots[name] ?? 0,
  });
  markServfail(db, zones.servfail);
  const onNotify = (zone: string) => self.postMessage({ kind: "notify", zone });
  return new Responder(db, {
    maxUdpPayload: init.maxUdpPayload,
    cacheEntries: init.cacheEntries,
    rrl: init.rrl,
    counters,
    metrics: init.metrics,
    signed: init.xfr ? new SignedAnswers(new TransferPolicy(init.xfr), { onNotify }) : undefined,
  });
}

async function serve(init: WorkerInit): Promise<void> {
  const libc = openLibc();
  if (typeof libc === "string") {
    self.postMessage({ kind: "error", message: libc });
    return;
  }
  const control = new Int32Array(init.control);
  const counters = new Float64Array(init.counters);
  const responder = responderFor(init.zones, init, counters);
  let generation = init.zones.generation;
  const fd = openUdpSocket(libc, { ip: init.ip, port: init.port }, {
    reusePort: init.reusePort,
    bufferBytes: 4 << 20,
    receiveTimeoutMs: 200,
  });
  if (typeof fd === "string") {
    self.postMessage({ kind: "error", message: fd });
    return;
  }
  self.postMessage({ kind: "ready", fd });
  try {
    await loop(libc, fd, init, control, responder, () => generation, async () => {
      // Let the message handler run until the data of the announced generation has arrived.
      const want = Atomics.load(control, CONTROL.GENERATION);
      for (
        let i = 0;
        i < 500 && (!pending || pending.generation < want) &&
        Atomics.load(control, CONTROL.STOP) === 0;
        i++
      ) {
        await new Promise((r) => setTimeout(r, i < 10 ? 0 : 10));
      }
      if (pending) {
        const { db } = buildZoneDb(unpackRecords(pending.records), {
          slotOf: (name) => pending!.slots[name] ?? 0,
        });
        markServfail(db, pending.servfail);
        responder.setDb(db);
        generation = pending.generation;
        pending = undefined;
      } else generation = want; // nothing came; do not spin on it
    });
  } finally {
    libc.close(fd);
    self.postMessage({ kind: "stopped" });
  }
}

async function loop(
  libc: Libc,
  fd: number,
  init: WorkerInit,
  control: Int32Array,
  responder: Responder,
  generation: () => number,
  refresh: () => Promise<void>,
): Promise<void> {
  const batch = init.batch;
  const slotSize = Math.max(init.maxUdpPayload, 512);
  const H = C.MMSGHDR_SIZE, V = C.IOVEC_SIZE, A = 32;
  const recvAt = 0;
  const sendAt = recvAt + batch * H;
  const riovAt = sendAt + batch * H;
  const siovAt = riovAt + batch * V;
  const addrAt = siovAt + batch * V;
  const dataAt = addrAt + batch * A;
  // One long-lived buffer holds headers, iovecs, addresses and datagrams; the kernel keeps pointers into it.
  const mem = new Uint8Array(dataAt + batch * slotSize);
  const dv = new DataView(mem.buffer);
  const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)) as bigint;
  const addrLen = init.ip.length === 16 ? 28 : 16;
  const slots: Uint8Array[] = [];
  const addrs: Uint8Array[] = [];
  // Views of the client address inside each sockaddr: sockaddr_in at 4, sockaddr_in6 at 8.
  const v4Addrs: Uint8Array[] = [];
  const v6Addrs: Uint8Array[] = [];
  const setSendHeader = (j: number, i: number) => {
    const h = sendAt + j * H;
    dv.setBigUint64(h, base + BigInt(addrAt + i * A), true);
    dv.setUint32(h + 8, addrLen, true);
    dv.setBigUint64(h + 16, base + BigInt(siovAt + i * V), true);
    dv.setBigUint64(h + 24, 1n, true);
  };
  for (let i = 0; i < batch; i++) {
    const h = recvAt + i * H;
    dv.setBigUint64(h, base + BigInt(addrAt + i * A), true);
    dv.setUint32(h + 8, addrLen, true);
    dv.setBigUint64(h + 16, base + BigInt(riovAt + i * V), true);
    dv.setBigUint64(h + 24, 1n, true);
    dv.setBigUint64(riovAt + i * V, base + BigInt(dataAt + i * slotSize), true);
    dv.setBigUint64(riovAt + i * V + 8, BigInt(slotSize), true);
    dv.setBigUint64(siovAt + i * V, base + BigInt(dataAt + i * slotSize), true);
    setSendHeader(i, i);
    slots.push(mem.subarray(dataAt + i * slotSize, dataAt + (i + 1) * slotSize));
    addrs.push(mem.subarray(addrAt + i * A, addrAt + (i + 1) * A));
    v4Addrs.push(mem.subarray(addrAt + i * A + 4, addrAt + i * A + 8));
    v6Addrs.push(mem.subarray(addrAt + i * A + 8, addrAt + i * A + 24));
  }
  const recvHeaders = mem.subarray(recvAt, sendAt);
  const sendHeaders = mem.subarray(sendAt, riovAt);
  const views: Uint8Array[] = [];
  for (let j = 0; j < batch; j++) views.push(mem.subarray(sendAt + j * H, riovAt));
  // The clock is read only for what needs it (rate limiting, the duration histogram), from libc.
  const clocked = init.metrics || init.rrl !== undefined;
  const now = monotonicClock(libc);
  let failures = 0;
  for (;;) {
    const n = libc.recvmmsg(fd, recvHeaders, batch, C.MSG_WAITFORONE, null);
    if (Atomics.load(control, CONTROL.STOP) !== 0) return;
    if (Atomics.load(control, CONTROL.GENERATION) !== generation()) await refresh();
    if (n <= 0) {
      const e = errno(libc);
      if (n < 0 && e !== C.EAGAIN && e !== C.EINTR) {
        // Persistent errors would spin: back off, and give up after many in a row.
        if (++failures > 1000) throw new Error(`recvmmsg: ${errorText(libc, e)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      continue;
    }
    failures = 0;
    const t0 = clocked ? now() : 0;
    if (init.rrl) responder.tick(t0);
    let out = 0;
    let moved = false;
    for (let i = 0; i < n; i++) {
      const h = recvAt + i * H;
      const len = dv.getUint32(h + 56, true);
      dv.setUint32(h + 8, addrLen, true); // the kernel overwrote msg_namelen
      if (len === 0) continue;
      const v6 = addrs[i][0] === C.AF_INET6;
      responder.client(v6 ? v6Addrs[i] : v4Addrs[i], v6);
      const r = responder.udp(slots[i], len);
      if (r === 0) continue;
      dv.setUint32(siovAt + i * V + 8, r, true);
      if (out !== i) {
        setSendHeader(out, i);
        moved = true;
      }
      out++;
    }
    let sent = 0;
    for (let tries = 0; sent < out && tries < 8; tries++) {
      const k = libc.sendmmsg(fd, sent === 0 ? sendHeaders : views[sent], out - sent, 0);
      if (k > 0) sent += k;
      else {
        const e = errno(libc);
        // A datagram the kernel refuses (e.g. an unreachable address) is skipped, not retried forever.
        if (e !== C.EAGAIN && e !== C.EINTR) sent++;
      }
    }
    if (moved) { for (let j = 0; j < out; j++) setSendHeader(j, j); }
    // Every request of the batch waited for the whole batch: its duration is the batch's
    // (two clock reads per batch, none when neither metrics nor rate limiting need them).
    if (init.metrics) responder.observe((now() - t0) / 1000, n, false);
  }
}
