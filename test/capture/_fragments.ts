/**
 * Builders of IP fragments for the reassembly tests and benchmark: a UDP
 * datagram cut into IPv4 or IPv6 fragments at given payload offsets, and a
 * large DNS answer to cut.
 *
 * @module
 */

import { concat, dnsMessage, ip, type IpAddrs, ipv4, ipv6, u32, udp } from "./_frames.ts";

/** A DNS answer of about `size` bytes: A records, each 16 bytes with a compressed owner. */
export function bigAnswer(id: number, qname: string, size: number): Uint8Array {
  const header = 12 + qname.length + 2 + 4;
  const count = Math.ceil((size - header) / 16);
  return dnsMessage({
    id,
    response: true,
    ra: true,
    qname,
    qtype: 1,
    answers: Array.from({ length: count }, (_, i) => ({
      type: 1,
      ttl: 60,
      data: ip(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
    })),
  });
}

/** Splits the UDP datagram (header and payload) at the byte offsets `cuts` (multiples of 8). */
function pieces(datagram: Uint8Array, cuts: number[]): [number, Uint8Array, boolean][] {
  const bounds = [0, ...cuts, datagram.length];
  const out: [number, Uint8Array, boolean][] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    if (bounds[i] % 8 !== 0) throw new Error(`fragment offset ${bounds[i]} is not a multiple of 8`);
    out.push([bounds[i], datagram.subarray(bounds[i], bounds[i + 1]), i + 2 < bounds.length]);
  }
  return out;
}

/**
 * The IPv4 fragments (as IP packets) of a UDP datagram from `sport` to
 * `dport` carrying `payload`, cut at `cuts` (offsets into the UDP datagram).
 */
export function ipv4Fragments(
  a: IpAddrs,
  sport: number,
  dport: number,
  payload: Uint8Array,
  cuts: number[],
  id = 0x4242,
): Uint8Array[] {
  return pieces(udp(a, sport, dport, payload), cuts).map(([off, data, mf]) =>
    ipv4(a, 17, data, { id, mf, fragOffset: off / 8 })
  );
}

/** The IPv6 fragments (Fragment header, RFC 8200 §4.5) of a UDP datagram, cut at `cuts`. */
export function ipv6Fragments(
  a: IpAddrs,
  sport: number,
  dport: number,
  payload: Uint8Array,
  cuts: number[],
  id = 0x42424242,
): Uint8Array[] {
  return pieces(udp(a, sport, dport, payload), cuts).map(([off, data, more]) =>
    ipv6(a, 17, data, [[
      44,
      concat(new Uint8Array([(off >> 8) & 0xff, (off & 0xf8) | (more ? 1 : 0)]), u32(id)),
    ]])
  );
}
