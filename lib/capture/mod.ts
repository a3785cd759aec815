/**
 * The capture layer of vigia: turns frames, from a capture file or from a
 * live interface through libpcap, into decoded DNS and DHCP events
 * ({@linkcode SniffedEvent}) delivered in batches, with counters.
 *
 * - {@linkcode readCaptureFile}: pcap / pcapng files, read in large chunks.
 * - {@linkcode startLiveCapture}: libpcap through `Deno.dlopen` in a Web
 *   Worker (needs CAP_NET_RAW and `--allow-ffi`).
 * - {@linkcode decodeFrame}: one frame at a time (tests, other sources).
 * - {@linkcode IpReassembler}: IPv4/IPv6 fragment reassembly, shared by both.
 *
 * Every packet is accounted for: `packets = decoded + ignored + Σ malformed
 * + pending` ({@linkcode packetsAccounted}), ignored and malformed by reason
 * ({@linkcode IGNORED} lists the ignored reasons).
 *
 * @example
 * ```ts
 * import { readCaptureFile } from "./lib/capture/mod.ts";
 * const counters = await readCaptureFile("dns.pcap", { onBatch: (events) => store(events) });
 * ```
 *
 * @module
 */

export type {
  CaptureCounters,
  DhcpFields,
  DnsAnswer,
  DnsFields,
  PacketMeta,
  SniffedEvent,
} from "./types.ts";
export { addCounters, IGNORED, malformedTotal, newCounters, packetsAccounted } from "./counters.ts";
export { CaptureError } from "./errors.ts";
export { decodeFrame, type DecodeFrameOptions } from "./frame_decode.ts";
export { readCaptureFile, type ReadCaptureOptions } from "./file_reader.ts";
export {
  type Fragment,
  type FragmentHeader,
  IpReassembler,
  type Reassembled,
  type ReassemblyOptions,
} from "./reassembly.ts";
export { type TcpFlow, TcpReassembler, type TcpReassemblerOptions } from "./tcp_reassembler.ts";
export {
  DEFAULT_FILTER,
  type LiveCapture,
  type LiveCaptureOptions,
  startLiveCapture,
} from "./live.ts";
