/**
 * The few libc calls the UDP fast path needs, through `Deno.dlopen`: a
 * socket of our own (SO_REUSEPORT, big buffers, a receive timeout) and
 * `recvmmsg`/`sendmmsg` to move up to 64 datagrams per system call. Linux
 * only (x86-64 and arm64 share these constants and struct layouts); every
 * other platform uses the portable path. FFI sockets bypass `--allow-net`,
 * so the component checks the listen addresses itself (they come from the
 * config).
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/** The bound library. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Linux constants used here. */
export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0x80000,
  SOL_SOCKET: 1,
  SO_REUSEPORT: 15,
  SO_RCVBUF: 8,
  SO_SNDBUF: 7,
  SO_RCVBUFFORCE: 33,
  SO_SNDBUFFORCE: 32,
  SO_RCVTIMEO: 20,
  IPPROTO_IPV6: 41,
  IPV6_V6ONLY: 26,
  MSG_WAITFORONE: 0x10000,
  SHUT_RD: 0,
  CLOCK_MONOTONIC: 1,
  EINTR: 4,
  EAGAIN: 11,
  /** sizeof(struct mmsghdr) on 64-bit Linux. */
  MMSGHDR_SIZE: 64,
  /** sizeof(struct iovec). */
  IOVEC_SIZE: 16,
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** Opens libc, or explains why it cannot be used (not Linux, no --allow-ffi, no glibc). */
export function openLibc(): Libc | string {
  if (lib) return lib.symbols;
  if (Deno.build.os !== "linux") return `the FFI fast path needs Linux, this is ${Deno.build.os}`;
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return `the FFI fast path needs x86_64 or aarch64, this is ${Deno.build.arch}`;
  }
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
    return lib.symbols;
  } catch (e) {
    return `cannot load libc through FFI: ${(e as Error).message}`;
  }
}

/**
 * A reader of CLOCK_MONOTONIC in milliseconds (fractional, nanosecond
 * resolution) through libc. Same clock as `performance.now()` but another
 * origin (boot); about 40 ns a read where `performance.now()` took about
 * 300 ns on the 2-core KVM development machine (kvm-clock), which made two
 * reads per `recvmmsg` batch a visible part of a query's cost.
 */
export function monotonicClock(libc: Libc): () => number {
  const ts = new Uint32Array(4); // struct timespec: tv_sec (64-bit), tv_nsec (64-bit)
  const bytes = new Uint8Array(ts.buffer);
  return () => {
    libc.clock_gettime(C.CLOCK_MONOTONIC, bytes);
    return (ts[1] * 4294967296 + ts[0]) * 1000 + ts[2] / 1e6;
  };
}

/** errno of the last failed call on this thread. */
export function errno(libc: Libc): number {
  const p = libc.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** Text of an errno value. */
export function errorText(libc: Libc, code: number): string {
  const p = libc.strerror(code);
  return p === null ? `errno ${code}` : new Deno.UnsafePointerView(p).getCString();
}

function setInt(libc: Libc, fd: number, level: number, name: number, value: number): boolean {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setInt32(0, value, true);
  return libc.setsockopt(fd, level, name, v, 4) === 0;
}

/** Encodes a socket address (`sockaddr_in` or `sockaddr_in6`) for `bind`. */
export function socketAddress(ip: Uint8Array, port: number): Uint8Array {
  const v6 = ip.length === 16;
  const out = new Uint8Array(v6 ? 28 : 16);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, v6 ? C.AF_INET6 : C.AF_INET, true);
  dv.setUint16(2, port, false);
  out.set(ip, v6 ? 8 : 4);
  return out;
}

/** Options for {@linkcode openUdpSocket}. */
export interface UdpSocketOptions {
  /** Let several sockets share the port (one per worker). */
  reusePort: boolean;
  /** Receive/send buffer size asked for. */
  bufferBytes: number;
  /** Receive timeout, so that a blocked receive wakes up to check for work. */
  receiveTimeoutMs: number;
}

/** Opens and binds a UDP socket; returns its fd or an error message. */
export function openUdpSocket(
  libc: Libc,
  address: { ip: Uint8Array; port: number },
  options: UdpSocketOptions,
): number | string {
  const { ip, port } = address;
  const v6 = ip.length === 16;
  const fd = libc.socket(v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return `socket: ${errorText(libc, errno(libc))}`;
  const fail = (what: string): string => {
    const text = `${what}: ${errorText(libc, errno(libc))}`;
    libc.close(fd);
    return text;
  };
  if (options.reusePort && !setInt(libc, fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1)) {
    return fail("SO_REUSEPORT");
  }
  if (v6 && !setInt(libc, fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1)) return fail("IPV6_V6ONLY");
  // Bigger buffers absorb bursts; the FORCE variants pass rmem_max when running as root.
  if (!setInt(libc, fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, options.bufferBytes)) {
    setInt(libc, fd, C.SOL_SOCKET, C.SO_RCVBUF, options.bufferBytes);
  }
  if (!setInt(libc, fd, C.SOL_SOCKET, C.SO_SNDBUFFORCE, options.bufferBytes)) {
    setInt(libc, fd, C.SOL_SOCKET, C.SO_SNDBUF, options.bufferBytes);
  }
  const tv = new Uint8Array(16);
  const tdv = new DataView(tv.buffer);
  tdv.setBigInt64(0, BigInt(Math.floor(options.receiveTimeoutMs / 1000)), true);
  tdv.setBigInt64(8, BigInt((options.receiveTimeoutMs % 1000) * 1000), true);
  if (libc.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, tv, 16) !== 0) return fail("SO_RCVTIMEO");
  const addr = socketAddress(ip, port);
  if (libc.bind(fd, addr, addr.length) !== 0) {
    return fail(`bind ${v6 ? `[${fmt(ip)}]` : fmt(ip)}:${port}`);
  }
  return fd;
}

function fmt(ip: Uint8Array): string {
  if (ip.length === 4) return ip.join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((ip[i] << 8) | ip[i + 1]).toString(16));
  return g.join(":");
}
