/**
 * MAC address → maker, from the IEEE registry compiled into
 * `oui_index.json` by `scripts/gen_oui.ts`. The most specific assignment
 * wins: MA-S (36-bit prefix), then MA-M (28-bit), then MA-L (24-bit OUI).
 *
 * Addresses that no maker owns get a label in parentheses instead:
 * `(broadcast)`, `(multicast)`, `(locally administered)` (randomised
 * private addresses of phones and laptops, virtual machines, containers),
 * `(none)` for 00:00:00:00:00:00 (loopback), `(unknown)` for an unassigned
 * OUI.
 *
 * @example
 * ```ts
 * import { vendorOf } from "./oui.ts";
 * vendorOf("3c:22:fb:00:00:01"); // "Apple"
 * vendorOf("da:a1:19:00:00:01"); // "(locally administered)"
 * ```
 *
 * @module
 */

import index from "./oui_index.json" with { type: "json" };
import { macToInt } from "./codec.ts";

/** Label of ff:ff:ff:ff:ff:ff. */
export const BROADCAST = "(broadcast)";
/** Label of group addresses (I/G bit set). */
export const MULTICAST = "(multicast)";
/** Label of locally administered addresses (U/L bit set), such as randomised ones. */
export const LOCALLY_ADMINISTERED = "(locally administered)";
/** Label of 00:00:00:00:00:00 (loopback and cooked captures carry no real address). */
export const NO_ADDRESS = "(none)";
/** Label of unassigned OUIs. */
export const UNKNOWN_VENDOR = "(unknown)";

/** Where the index came from (package and version). */
export const OUI_SOURCE: string = index.source;

interface Tables {
  l: Map<number, number>;
  m: Map<number, number>;
  s: Map<number, number>;
  /** OUIs under which MA-M or MA-S blocks exist. */
  parents: Set<number>;
}

let tables: Tables | undefined;

function unflatten(text: string): Map<number, number> {
  const out = new Map<number, number>();
  let prefix = 0;
  for (const pair of text.split(",")) {
    const dot = pair.indexOf(".");
    prefix += parseInt(pair.slice(0, dot), 36);
    out.set(prefix, parseInt(pair.slice(dot + 1), 36));
  }
  return out;
}

let names: string[] | undefined;

function load(): Tables {
  const m = unflatten(index.ma_m), s = unflatten(index.ma_s);
  const parents = new Set<number>();
  for (const p of m.keys()) parents.add(Math.floor(p / 16));
  for (const p of s.keys()) parents.add(Math.floor(p / 4096));
  names = index.vendors.split("\n");
  return { l: unflatten(index.ma_l), m, s, parents };
}

const TWO24 = 0x1000000;

/** The maker of a MAC given as a 48-bit integer (see `codec.ts`), or a label. */
export function vendorOfInt(mac: number): string {
  const oui = Math.floor(mac / TWO24);
  const first = oui >>> 16;
  if (first & 1) return mac === 0xffffffffffff ? BROADCAST : MULTICAST;
  if (first & 2) return LOCALLY_ADMINISTERED;
  if (mac === 0) return NO_ADDRESS;
  const t = tables ??= load();
  if (t.parents.has(oui)) {
    const s = t.s.get(Math.floor(mac / 4096));
    if (s !== undefined) return names![s];
    const m = t.m.get(Math.floor(mac / 1048576));
    if (m !== undefined) return names![m];
  }
  const l = t.l.get(oui);
  return l === undefined ? UNKNOWN_VENDOR : names![l];
}

/** The maker of a MAC given as text (`aa:bb:cc:dd:ee:ff`); "" when the text is not a MAC. */
export function vendorOf(mac: string): string {
  const n = macToInt(mac.toLowerCase());
  return n === null ? "" : vendorOfInt(n);
}
