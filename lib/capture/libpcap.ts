/**
 * The libpcap symbols vigia uses, and opening the library (Debian
 * `libpcap0.8` installs `libpcap.so.0.8`) with errors an operator can act on.
 *
 * @module
 */

import { CaptureError } from "./errors.ts";

/** FFI signatures of the libpcap functions used by the live capture. */
export const PCAP_SYMBOLS = {
  pcap_create: { parameters: ["buffer", "buffer"], result: "pointer" },
  pcap_set_snaplen: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_promisc: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_timeout: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_buffer_size: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_immediate_mode: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_activate: { parameters: ["pointer"], result: "i32" },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_statustostr: { parameters: ["i32"], result: "pointer" },
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  pcap_setfilter: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_datalink: { parameters: ["pointer"], result: "i32" },
  pcap_dispatch: { parameters: ["pointer", "i32", "function", "pointer"], result: "i32" },
  pcap_stats: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_breakloop: { parameters: ["pointer"], result: "void" },
  pcap_close: { parameters: ["pointer"], result: "void" },
} as const;

/** The opened library. */
export type Libpcap = Deno.DynamicLibrary<typeof PCAP_SYMBOLS>;

/** Library names tried in order. */
export const LIBPCAP_NAMES = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

// libpcap status codes (pcap/pcap.h).
/** pcap_breakloop was called. */
export const PCAP_ERROR_BREAK = -2;
/** No such device. */
export const PCAP_ERROR_NO_SUCH_DEVICE = -5;
/** No permission to open the device. */
export const PCAP_ERROR_PERM_DENIED = -8;
/** Interface is not up. */
export const PCAP_ERROR_IFACE_NOT_UP = -9;
/** Netmask argument of pcap_compile when it is not known. */
export const PCAP_NETMASK_UNKNOWN = 0xffffffff;

/**
 * Opens libpcap, or throws {@linkcode CaptureError} saying what is missing:
 * the `--allow-ffi` permission or the library itself.
 */
export function openLibpcap(): Libpcap {
  let lastError: unknown;
  for (const name of LIBPCAP_NAMES) {
    try {
      return Deno.dlopen(name, PCAP_SYMBOLS);
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
        throw new CaptureError(
          `Cannot load libpcap: live capture needs the --allow-ffi permission (${
            (e as Error).message
          })`,
          { cause: e },
        );
      }
      lastError = e;
    }
  }
  throw new CaptureError(
    `Cannot load libpcap (tried ${
      LIBPCAP_NAMES.join(", ")
    }): install it (Debian: apt-get install libpcap0.8)${
      lastError instanceof Error ? ` — ${lastError.message}` : ""
    }`,
    { cause: lastError },
  );
}

/** A NUL-terminated copy of `s` for `buffer` parameters. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The text at a `char *` result, "" for NULL. */
export function readCString(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}
