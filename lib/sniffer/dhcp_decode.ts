/**
 * DHCPv4/BOOTP (RFC 2131/2132) and DHCPv6 (RFC 8415) decoders for the
 * fields vigia logs. They never throw: a malformed message is counted under
 * a reason and yields null.
 *
 * @module
 */

import { countMalformed } from "../capture/counters.ts";
import { colonHexAt, hexAt, ipv4At, ipv6At, macAt, printableAt } from "../capture/format.ts";
import type { CaptureCounters, DhcpFields } from "../capture/types.ts";

const V4_TYPES = [
  "",
  "DISCOVER",
  "OFFER",
  "REQUEST",
  "DECLINE",
  "ACK",
  "NAK",
  "RELEASE",
  "INFORM",
  "FORCERENEW",
  "LEASEQUERY",
  "LEASEUNASSIGNED",
  "LEASEUNKNOWN",
  "LEASEACTIVE",
  "BULKLEASEQUERY",
  "LEASEQUERYDONE",
  "ACTIVELEASEQUERY",
  "LEASEQUERYSTATUS",
  "TLS",
];

const V6_TYPES = [
  "",
  "SOLICIT",
  "ADVERTISE",
  "REQUEST",
  "CONFIRM",
  "RENEW",
  "REBIND",
  "REPLY",
  "RELEASE",
  "DECLINE",
  "RECONFIGURE",
  "INFORMATION-REQUEST",
  "RELAY-FORW",
  "RELAY-REPL",
  "LEASEQUERY",
  "LEASEQUERY-REPLY",
  "LEASEQUERY-DONE",
  "LEASEQUERY-DATA",
  "RECONFIGURE-REQUEST",
  "RECONFIGURE-REPLY",
  "DHCPV4-QUERY",
  "DHCPV4-RESPONSE",
  "ACTIVELEASEQUERY",
  "STARTTLS",
  "BNDUPD",
  "BNDREPLY",
  "POOLREQ",
  "POOLRESP",
  "UPDREQ",
  "UPDREQALL",
  "UPDDONE",
  "CONNECT",
  "CONNECTREPLY",
  "DISCONNECT",
  "STATE",
  "CONTACT",
];

const BOOTP_FIXED = 236;
const MAGIC_COOKIE = 0x63825363;

/**
 * Decodes the DHCPv4/BOOTP message at `buf[p..end)`. A message without the
 * magic cookie or option 53 is plain BOOTP: `BOOTREQUEST`/`BOOTREPLY`.
 * With `truncated`, options cut by the capture end quietly instead of
 * counting as an overrun.
 */
export function decodeDhcp4(
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  truncated: boolean,
  counters: CaptureCounters,
): DhcpFields | null {
  if (end - p < BOOTP_FIXED) {
    countMalformed(counters, "dhcp-short");
    return null;
  }
  const op = buf[p];
  if (op !== 1 && op !== 2) {
    countMalformed(counters, "dhcp-bad-op");
    return null;
  }
  const htype = buf[p + 1];
  const hlen = buf[p + 2];
  if (hlen > 16) {
    countMalformed(counters, "dhcp-bad-hlen");
    return null;
  }
  const fields: DhcpFields = {
    version: 4,
    msg_type: op === 1 ? "BOOTREQUEST" : "BOOTREPLY",
    trans_id: view.getUint32(p + 4),
    mac: hlen === 0
      ? ""
      : htype === 1 && hlen === 6
      ? macAt(buf, p + 28)
      : colonHexAt(buf, p + 28, hlen),
    client_addr: ipv4At(buf, p + 12),
    assigned_addr: ipv4At(buf, p + 16),
    next_server: ipv4At(buf, p + 20),
    relay_addr: ipv4At(buf, p + 24),
  };
  if (end - p >= BOOTP_FIXED + 4 && view.getUint32(p + BOOTP_FIXED) === MAGIC_COOKIE) {
    const overload = parseV4Options(buf, view, p + BOOTP_FIXED + 4, end, truncated, fields);
    if (overload < 0) {
      countMalformed(counters, "dhcp-option-overrun");
      return null;
    }
    // Option 52 (RFC 2132 9.3): more options in the `file` and/or `sname` fields.
    if (
      (overload & 1 && parseV4Options(buf, view, p + 108, p + 236, false, fields) < 0) ||
      (overload & 2 && parseV4Options(buf, view, p + 44, p + 108, false, fields) < 0)
    ) {
      countMalformed(counters, "dhcp-option-overrun");
      return null;
    }
  }
  return fields;
}

/** Parses options at [p, end) into `f`; returns the option 52 value (0 when absent), or -1 on overrun. */
function parseV4Options(
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  truncated: boolean,
  f: DhcpFields,
): number {
  let overload = 0;
  while (p < end) {
    const code = buf[p];
    if (code === 0) {
      p++;
      continue;
    }
    if (code === 255) break;
    if (p + 2 > end || p + 2 + buf[p + 1] > end) return truncated ? overload : -1;
    const len = buf[p + 1];
    const v = p + 2;
    switch (code) {
      case 53:
        if (len === 1) f.msg_type = V4_TYPES[buf[v]] || "TYPE" + buf[v];
        break;
      case 50:
        if (len === 4) f.requested_addr = ipv4At(buf, v);
        break;
      case 54:
        if (len === 4) f.server_id = ipv4At(buf, v);
        break;
      case 51:
        if (len === 4) f.lease_time = view.getUint32(v);
        break;
      case 12:
        f.host_name = printableAt(buf, v, len);
        break;
      case 60:
        f.vendor_class = printableAt(buf, v, len);
        break;
      case 61:
        f.client_id = hexAt(buf, v, len);
        break;
      case 55: {
        const list: number[] = new Array(len);
        for (let i = 0; i < len; i++) list[i] = buf[v + i];
        f.param_list = list;
        break;
      }
      case 82: {
        // Relay agent information: sub-options 1 (circuit id) and 2 (remote id), RFC 3046.
        let q = v;
        const e = v + len;
        while (q + 2 <= e && q + 2 + buf[q + 1] <= e) {
          const sub = buf[q];
          const sublen = buf[q + 1];
          if (sub === 1) f.circuit_id = hexAt(buf, q + 2, sublen);
          else if (sub === 2) f.remote_id = hexAt(buf, q + 2, sublen);
          q += 2 + sublen;
        }
        break;
      }
      case 52:
        if (len === 1) overload = buf[v] & 3;
        break;
    }
    p = v + len;
  }
  return overload;
}

// ---- DHCPv6 --------------------------------------------------------------

const MAX_RELAY_DEPTH = 8;

/**
 * Decodes the DHCPv6 message at `buf[p..end)`. Relay-Forward/Relay-Reply
 * messages are unwrapped (up to 8 levels): the fields are those of the
 * client or server message inside, and `relay_addr` is the outermost
 * relay's link-address.
 */
export function decodeDhcp6(
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  truncated: boolean,
  counters: CaptureCounters,
): DhcpFields | null {
  let relay: string | undefined;
  for (let depth = 0;; depth++) {
    if (end - p < 4) {
      countMalformed(counters, "dhcpv6-short");
      return null;
    }
    const type = buf[p];
    if (type !== 12 && type !== 13) break;
    if (depth === MAX_RELAY_DEPTH) {
      countMalformed(counters, "dhcpv6-relay-depth");
      return null;
    }
    if (end - p < 34) {
      countMalformed(counters, "dhcpv6-short");
      return null;
    }
    if (relay === undefined) relay = ipv6At(buf, p + 2);
    // Find option 9 (Relay Message) among the relay's options.
    let q = p + 34;
    let inner = -1;
    let innerEnd = -1;
    while (q + 4 <= end) {
      const code = view.getUint16(q);
      const len = view.getUint16(q + 2);
      if (q + 4 + len > end) {
        if (!truncated) {
          countMalformed(counters, "dhcpv6-option-overrun");
          return null;
        }
        if (code === 9) {
          inner = q + 4;
          innerEnd = end;
        }
        break;
      }
      if (code === 9) {
        inner = q + 4;
        innerEnd = q + 4 + len;
        break;
      }
      q += 4 + len;
    }
    if (inner < 0) {
      countMalformed(counters, "dhcpv6-no-relay-message");
      return null;
    }
    p = inner;
    end = innerEnd;
  }
  const type = buf[p];
  const fields: DhcpFields = {
    version: 6,
    msg_type: V6_TYPES[type] || "TYPE" + type,
    trans_id: (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3],
    mac: "",
  };
  if (relay !== undefined) fields.relay_addr = relay;
  let q = p + 4;
  while (q + 4 <= end) {
    const code = view.getUint16(q);
    const len = view.getUint16(q + 2);
    const v = q + 4;
    if (v + len > end) {
      if (truncated) break;
      countMalformed(counters, "dhcpv6-option-overrun");
      return null;
    }
    switch (code) {
      case 1:
        fields.duid = hexAt(buf, v, len);
        fields.mac = duidMac(buf, view, v, len);
        break;
      case 2:
        fields.server_duid = hexAt(buf, v, len);
        break;
      case 3: // IA_NA: IAID, T1, T2, then options; the first IAADDR is the address.
        if (len >= 12 + 4 + 24 && view.getUint16(v + 12) === 5) {
          fields.assigned_addr ??= ipv6At(buf, v + 16);
        }
        break;
      case 39: // Client FQDN (RFC 4704): flags, then a wire-format name.
        if (len > 1) fields.host_name = fqdnText(buf, v + 1, v + len);
        break;
    }
    q = v + len;
  }
  if (q !== end && !truncated) {
    countMalformed(counters, "dhcpv6-option-overrun");
    return null;
  }
  return fields;
}

/** The link-layer address inside a DUID-LLT (type 1) or DUID-LL (type 3) of Ethernet, else "". */
function duidMac(buf: Uint8Array, view: DataView, p: number, len: number): string {
  if (len < 4) return "";
  const type = view.getUint16(p);
  const hw = view.getUint16(p + 2);
  const addr = type === 1 ? p + 8 : type === 3 ? p + 4 : -1;
  if (addr < 0) return "";
  const n = p + len - addr;
  if (n <= 0) return "";
  return hw === 1 && n === 6 ? macAt(buf, addr) : colonHexAt(buf, addr, n);
}

/** Dotted text of an uncompressed wire-format name (possibly partial) at [p, end). */
function fqdnText(buf: Uint8Array, p: number, end: number): string {
  let s = "";
  while (p < end) {
    const len = buf[p];
    if (len === 0 || len > 63 || p + 1 + len > end) break;
    s += (s ? "." : "") + printableAt(buf, p + 1, len);
    p += 1 + len;
  }
  return s;
}
