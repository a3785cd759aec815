/**
 * The live capture worker: opens libpcap on one interface and loops on
 * `pcap_dispatch` (non-immediate mode, so the kernel hands over whole
 * blocks). In the libpcap callback each frame is either copied into a
 * shared byte ring for the main thread to decode (decodeIn "main", the
 * default) or decoded here into events (decodeIn "worker"); what a dispatch
 * produced is published (ring) or posted (events) after every dispatch
 * return.
 *
 * The loop is synchronous and never yields to the event loop: the main
 * thread talks to it through SharedArrayBuffers (stop flag, ring read and
 * write offsets, acknowledged frames or events, counters, a small lock
 * around `pcap_breakloop`/`pcap_close`), never through messages. A blocking
 * `pcap_dispatch` does not return while the interface is idle, so the main
 * thread calls `pcap_breakloop` itself.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { copyCounters, newCounters } from "./counters.ts";
import {
  decodeAt,
  type DecodeContext,
  DEFAULT_PORTS,
  endCapture,
  portTable,
} from "./frame_decode.ts";
import {
  cString,
  type Libpcap,
  openLibpcap,
  PCAP_ERROR_BREAK,
  PCAP_ERROR_IFACE_NOT_UP,
  PCAP_ERROR_NO_SUCH_DEVICE,
  PCAP_ERROR_PERM_DENIED,
  PCAP_NETMASK_UNKNOWN,
  readCString,
} from "./libpcap.ts";
import {
  CTL_ACKED,
  CTL_LOCK,
  CTL_READ,
  CTL_STOP,
  CTL_WAITING,
  CTL_WRITE,
  LOCK_BREAKING,
  LOCK_BROKEN,
  LOCK_CLOSING,
  LOCK_OPEN,
  RECORD_HEADER,
  RECORD_WRAP,
  type StartRequest,
  STAT_IF_DROPS,
  STAT_KERNEL_DROPS,
  STAT_PACKETS,
  STAT_VIGIA_DROPS,
  type WorkerMessage,
} from "./live_protocol.ts";
import { IpReassembler } from "./reassembly.ts";
import { TcpReassembler } from "./tcp_reassembler.ts";
import type { SniffedEvent } from "./types.ts";

function post(m: WorkerMessage, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
}

self.onmessage = (e: MessageEvent<StartRequest>) => {
  self.onmessage = null;
  run(e.data);
  self.close();
};

function run(req: StartRequest): void {
  let lib: Libpcap;
  try {
    lib = openLibpcap();
  } catch (err) {
    post({ type: "error", message: (err as Error).message, code: "lib" });
    return;
  }
  const pcap = lib.symbols;
  const errbuf = new Uint8Array(512);
  const p = pcap.pcap_create(cString(req.iface), errbuf);
  if (p === null) {
    const msg = new TextDecoder().decode(errbuf.subarray(0, errbuf.indexOf(0)));
    post({ type: "error", message: `Cannot capture on "${req.iface}": ${msg}`, code: "other" });
    lib.close();
    return;
  }
  pcap.pcap_set_snaplen(p, req.snaplen);
  pcap.pcap_set_promisc(p, req.promisc ? 1 : 0);
  pcap.pcap_set_timeout(p, req.timeoutMs);
  pcap.pcap_set_buffer_size(p, req.bufferBytes);
  pcap.pcap_set_immediate_mode(p, 0);
  const rc = pcap.pcap_activate(p);
  if (rc < 0) {
    const detail = readCString(pcap.pcap_geterr(p)) || readCString(pcap.pcap_statustostr(rc));
    pcap.pcap_close(p);
    lib.close();
    post(activateError(req.iface, rc, detail));
    return;
  }
  const prog = new Uint8Array(16); // struct bpf_program { u32 len; pad; struct bpf_insn *insns }
  if (req.filter !== "") {
    if (pcap.pcap_compile(p, prog, cString(req.filter), 1, PCAP_NETMASK_UNKNOWN) !== 0) {
      const detail = readCString(pcap.pcap_geterr(p));
      pcap.pcap_close(p);
      lib.close();
      post({
        type: "error",
        message:
          `Cannot capture on "${req.iface}": invalid capture filter "${req.filter}": ${detail}`,
        code: "filter",
      });
      return;
    }
    const set = pcap.pcap_setfilter(p, prog);
    pcap.pcap_freecode(prog);
    if (set !== 0) {
      const detail = readCString(pcap.pcap_geterr(p));
      pcap.pcap_close(p);
      lib.close();
      post({
        type: "error",
        message: `Cannot capture on "${req.iface}": cannot set filter: ${detail}`,
        code: "filter",
      });
      return;
    }
  }
  const linkType = pcap.pcap_datalink(p);
  const control = new Int32Array(req.control);

  // Decode state, all allocated once.
  const counters = newCounters();
  const ctx: DecodeContext = {
    ports: req.dnsPorts ? portTable(req.dnsPorts) : DEFAULT_PORTS,
    tcp: new TcpReassembler(req.tcp),
    fragments: new IpReassembler(req.fragments),
  };
  const hdr = new Uint8Array(24);
  const hdrView = new DataView(hdr.buffer);
  const frame = new Uint8Array(Math.max(req.snaplen, 65535) + 8);
  const frameView = new DataView(frame.buffer);
  // copyInto fills its whole destination, so keep one exact-length view per frame length seen.
  const views: (Uint8Array | undefined)[] = new Array(frame.length + 1);
  let out: SniffedEvent[] = [];
  let posted = 0;
  const batchSize = req.batchSize;

  const flush = () => {
    if (out.length === 0) return;
    const pending = (posted - Atomics.load(control, CTL_ACKED)) | 0;
    if (pending + out.length > req.maxPendingEvents) {
      counters.vigiaDrops += out.length; // the consumer fell behind: shed load, keep capturing
      out.length = 0;
      return;
    }
    posted = (posted + out.length) | 0;
    post({ type: "batch", events: out, counters: copyCounters(counters) });
    out = [];
  };

  // The counters the main thread reads at any time, published after every dispatch.
  const shared = new BigInt64Array(req.stats);
  const publish = () => {
    Atomics.store(shared, STAT_PACKETS, BigInt(counters.packets));
    Atomics.store(shared, STAT_KERNEL_DROPS, BigInt(counters.kernelDrops));
    Atomics.store(shared, STAT_IF_DROPS, BigInt(counters.ifDrops));
    Atomics.store(shared, STAT_VIGIA_DROPS, BigInt(counters.vigiaDrops));
  };

  // Raw frames for the main thread go through a shared byte ring (see StartRequest.ring):
  // nothing is allocated or cloned per frame, a frame the main thread has not read is never
  // overwritten (the frame is shed instead), and a message is posted only to wake a main
  // thread that found the ring empty (a message per batch would queue up while it is behind,
  // and Deno delivers queued messages back to back, starving its timers and sockets).
  const ring = new Uint8Array(req.ring);
  const ringView = new DataView(req.ring);
  const ringSize = ring.length;
  let w = Atomics.load(control, CTL_WRITE);
  let fCount = 0;
  /** Makes room for a record of `n` bytes at `w` (wrapping to 0 if needed); false when the ring is full. */
  const reserve = (n: number): boolean => {
    const r = Atomics.load(control, CTL_READ);
    if (w < r) return n < r - w;
    if (w + n <= ringSize) return true;
    // Wrap: the start must have room, short of the reader's position.
    if (n >= r) return false;
    if (ringSize - w >= RECORD_HEADER) ringView.setUint32(w + 8, RECORD_WRAP, true);
    w = 0;
    return true;
  };
  const flushFrames = () => {
    if (fCount === 0) return;
    posted = (posted + fCount) | 0;
    fCount = 0;
    Atomics.store(control, CTL_WRITE, w);
    if (Atomics.compareExchange(control, CTL_WAITING, 1, 0) === 1) post({ type: "wake" });
  };
  const decodeHere = req.decodeIn === "worker";

  const onPacket = (_user: Deno.PointerValue, h: Deno.PointerValue, data: Deno.PointerValue) => {
    if (h === null || data === null) return;
    Deno.UnsafePointerView.copyInto(h, hdr);
    // struct pcap_pkthdr on x86_64/aarch64 Linux: i64 tv_sec, i64 tv_usec, u32 caplen, u32 len.
    const sec = hdrView.getUint32(0, true) + hdrView.getInt32(4, true) * 4294967296;
    const usec = hdrView.getUint32(8, true);
    let caplen = hdrView.getUint32(16, true);
    const len = hdrView.getUint32(20, true);
    if (caplen > frame.length) caplen = frame.length;
    let dst = views[caplen];
    if (dst === undefined) dst = views[caplen] = frame.subarray(0, caplen);
    if (caplen > 0) Deno.UnsafePointerView.copyInto(data, dst);
    const ts = sec * 1000 + usec / 1000;
    if (decodeHere) {
      decodeAt(ctx, linkType, frame, frameView, 0, caplen, len, ts, out, counters);
      if (out.length >= batchSize) flush();
      return;
    }
    counters.packets++;
    const n = RECORD_HEADER + caplen;
    if (
      ((posted + fCount - Atomics.load(control, CTL_ACKED)) | 0) >= req.maxPendingEvents ||
      !reserve(n)
    ) {
      counters.vigiaDrops++; // the main thread fell behind: shed the frame, keep capturing
      return;
    }
    ringView.setFloat64(w, ts, true);
    ringView.setUint32(w + 8, caplen, true);
    ringView.setUint32(w + 12, len, true);
    ring.set(dst, w + RECORD_HEADER);
    w += n;
    // Publish now and then within a long dispatch too, so the main thread can start early.
    if (++fCount === 1024) flushFrames();
  };
  const callback = new Deno.UnsafeCallback(
    { parameters: ["pointer", "pointer", "pointer"], result: "void" } as const,
    onPacket,
  );

  post({ type: "ready", pcap: Deno.UnsafePointer.value(p), linkType });

  const stats = new Uint8Array(16); // struct pcap_stat { u_int ps_recv, ps_drop, ps_ifdrop }
  const statsView = new DataView(stats.buffer);
  let failure = "";
  let lastCountersPost = 0;
  let lastPacketsPosted = -1;
  while (Atomics.load(control, CTL_STOP) === 0) {
    const n = pcap.pcap_dispatch(p, -1, callback.pointer, null);
    if (pcap.pcap_stats(p, stats) === 0) {
      counters.kernelDrops = statsView.getUint32(4, true);
      counters.ifDrops = statsView.getUint32(8, true);
    }
    if (out.length > 0 || fCount > 0) {
      flush();
      flushFrames();
    }
    publish();
    if (decodeHere && out.length === 0 && counters.packets !== lastPacketsPosted) {
      // Keep the reasons counted here fresh on the main thread when packets produced no events.
      const now = Date.now();
      if (now - lastCountersPost >= 250) {
        lastCountersPost = now;
        lastPacketsPosted = counters.packets;
        post({ type: "counters", counters: copyCounters(counters) });
      }
    }
    if (n === PCAP_ERROR_BREAK) break;
    if (n < 0) {
      failure = `Capture on "${req.iface}" failed: ${readCString(pcap.pcap_geterr(p))}`;
      break;
    }
  }
  if (decodeHere) endCapture(ctx, counters);
  flush();
  flushFrames();
  publish();
  // The main thread may be inside pcap_breakloop on this handle: wait for it before closing.
  if (Atomics.compareExchange(control, CTL_LOCK, LOCK_OPEN, LOCK_CLOSING) !== LOCK_OPEN) {
    for (let i = 0; i < 100 && Atomics.load(control, CTL_LOCK) !== LOCK_BROKEN; i++) {
      Atomics.wait(control, CTL_LOCK, LOCK_BREAKING, 10);
    }
  }
  pcap.pcap_close(p);
  callback.close();
  lib.close();
  if (failure) post({ type: "failed", message: failure, counters: copyCounters(counters) });
  else post({ type: "stopped", counters: copyCounters(counters) });
}

function activateError(iface: string, rc: number, detail: string): WorkerMessage {
  if (rc === PCAP_ERROR_PERM_DENIED) {
    return {
      type: "error",
      code: "perm",
      message: `Cannot capture on "${iface}": permission denied — live capture needs the ` +
        `CAP_NET_RAW capability (run as root, or grant it, e.g. systemd AmbientCapabilities=CAP_NET_RAW ` +
        `or setcap cap_net_raw+ep on the binary) (${detail})`,
    };
  }
  if (rc === PCAP_ERROR_NO_SUCH_DEVICE) {
    return {
      type: "error",
      code: "iface",
      message: `Cannot capture on "${iface}": no such interface (${detail})`,
    };
  }
  if (rc === PCAP_ERROR_IFACE_NOT_UP) {
    return {
      type: "error",
      code: "down",
      message: `Cannot capture on "${iface}": interface is down (${detail})`,
    };
  }
  return {
    type: "error",
    code: "other",
    message: `Cannot capture on "${iface}": ${detail} (pcap error ${rc})`,
  };
}
