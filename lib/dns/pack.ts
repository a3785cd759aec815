/**
 * Zone records packed into one byte array, to hand them to UDP workers:
 * cloning one buffer is far cheaper than cloning an object per record
 * (measured: 165k records cloned as objects ≈ 0.8 s, packed ≈ a few ms).
 * Where a record came from is not kept: workers only serve.
 *
 * Layout per record: name length (1), name, type (2), TTL (4), RDATA length (2), RDATA.
 *
 * @module
 */

import type { ZoneRecord } from "./zone_file.ts";

/** Packs records (owner, type, TTL, RDATA). */
export function packRecords(records: ZoneRecord[]): Uint8Array {
  let size = 0;
  for (const r of records) size += 1 + r.name.length + 8 + r.rdata.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const r of records) {
    out[p++] = r.name.length;
    out.set(r.name, p);
    p += r.name.length;
    dv.setUint16(p, r.type);
    dv.setUint32(p + 2, r.ttl);
    dv.setUint16(p + 6, r.rdata.length);
    p += 8;
    out.set(r.rdata, p);
    p += r.rdata.length;
  }
  return out;
}

/** Unpacks what {@linkcode packRecords} made; names and RDATA are views into `packed`. */
export function unpackRecords(packed: Uint8Array): ZoneRecord[] {
  const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: ZoneRecord[] = [];
  for (let p = 0; p < packed.length;) {
    const nameLen = packed[p++];
    const name = packed.subarray(p, p + nameLen);
    p += nameLen;
    const type = dv.getUint16(p);
    const ttl = dv.getUint32(p + 2);
    const rdlen = dv.getUint16(p + 6);
    p += 8;
    out.push({ name, type, ttl, rdata: packed.subarray(p, p + rdlen), file: "", line: 0 });
    p += rdlen;
  }
  return out;
}
