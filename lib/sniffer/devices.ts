/**
 * The device registry: every unicast MAC seen as a source (or as a DHCP
 * client), kept in memory and written to the `devices` table in batches of
 * upserts (never one SQL statement per packet). Counts are written as
 * increments, so a `vigia ingest` running beside the daemon adds to the
 * same rows instead of overwriting them.
 *
 * @module
 */

import type { BatchedWrite, Store } from "../store/mod.ts";
import { intToMac } from "./codec.ts";
import { vendorOfInt } from "./oui.ts";
import { DEVICE_UPSERT_SQL } from "./schema.ts";

/** Recent addresses and host names kept per device. */
const KEEP = 4;

/** One device as tracked in memory. */
export interface Device {
  /** MAC as a 48-bit integer. */
  mac: number;
  /** MAC as text. */
  macText: string;
  /** Maker or label. */
  vendor: string;
  /** First seen, µs since the epoch. */
  first: number;
  /** Last seen, µs. */
  last: number;
  /** Recent IPs, newest first. */
  ips: string[];
  /** Recent DHCP host names, newest first. */
  hostNames: string[];
  /** Last DHCP vendor class. */
  software: string;
  /** Last VLAN seen on. */
  vlan: number;
  /** DNS messages since the last flush. */
  dns: number;
  /** DHCP messages since the last flush. */
  dhcp: number;
  /** Changed since the last flush. */
  dirty: boolean;
}

/** True for a MAC that names one station: not group (multicast/broadcast), not all zero. */
export function isStation(mac: number | null): mac is number {
  if (mac === null || mac === 0) return false;
  return ((Math.floor(mac / 0x10000000000) & 1) === 0);
}

function remember(list: string[], value: string): boolean {
  if (list[0] === value) return false;
  const i = list.indexOf(value);
  if (i > 0) list.splice(i, 1);
  list.unshift(value);
  if (list.length > KEEP) list.length = KEEP;
  return true;
}

/** Options of {@linkcode DeviceTracker}. */
export interface DeviceTrackerOptions {
  /** Called for a MAC never seen before (not in the table either). */
  onNew(device: Device, via: "dns" | "dhcp", time: number): void;
  /** Devices kept in memory before idle ones are forgotten (they stay in the table). @default 200000 */
  maxInMemory?: number;
}

/** Tracks devices and flushes changes as upserts. */
export class DeviceTracker {
  readonly #known: Set<number>;
  readonly #devices = new Map<number, Device>();
  readonly #dirty: Device[] = [];
  readonly #upsert: BatchedWrite;
  readonly #onNew: DeviceTrackerOptions["onNew"];
  readonly #max: number;
  readonly #vendors = new Map<number, string>();
  /** Devices first seen by this process. */
  newStations = 0;
  /** Upserts written. */
  upserts = 0;

  constructor(store: Store, options: DeviceTrackerOptions) {
    this.#known = new Set(
      store.query<{ mac: number }>("SELECT mac FROM devices").map((r) => Number(r.mac)),
    );
    this.#upsert = store.batched(DEVICE_UPSERT_SQL);
    this.#onNew = options.onNew;
    this.#max = options.maxInMemory ?? 200_000;
  }

  /** Devices known (table plus new ones). */
  get known(): number {
    return this.#known.size;
  }

  /** Maker of any MAC (cached; stations and others alike). */
  vendor(mac: number | null): string {
    if (mac === null) return "";
    const d = this.#devices.get(mac);
    if (d) return d.vendor;
    let v = this.#vendors.get(mac);
    if (v === undefined) {
      if (this.#vendors.size > 100_000) this.#vendors.clear();
      v = vendorOfInt(mac);
      this.#vendors.set(mac, v);
    }
    return v;
  }

  /**
   * Records that station `mac` was seen at `time` (µs) with `ip` ("" for
   * none) in a message of `kind`. Returns the device.
   */
  seen(mac: number, time: number, ip: string, kind: "dns" | "dhcp", vlan: number): Device {
    let d = this.#devices.get(mac);
    if (d === undefined) {
      d = {
        mac,
        macText: intToMac(mac),
        vendor: this.vendor(mac),
        first: time,
        last: time,
        ips: [],
        hostNames: [],
        software: "",
        vlan,
        dns: 0,
        dhcp: 0,
        dirty: false,
      };
      this.#devices.set(mac, d);
      if (ip !== "" && ip !== "0.0.0.0" && ip !== "::") d.ips.push(ip);
      if (!this.#known.has(mac)) {
        this.#known.add(mac);
        this.newStations++;
        this.#onNew(d, kind, time);
      }
    }
    if (time > d.last) d.last = time;
    if (time < d.first) d.first = time;
    if (kind === "dns") d.dns++;
    else d.dhcp++;
    d.vlan = vlan;
    if (ip !== "" && ip !== "0.0.0.0" && ip !== "::") remember(d.ips, ip);
    if (!d.dirty) {
      d.dirty = true;
      this.#dirty.push(d);
    }
    return d;
  }

  /** Records a DHCP host name and vendor class for a device. */
  dhcpFacts(d: Device, hostName: string | undefined, software: string | undefined): void {
    if (hostName) remember(d.hostNames, hostName);
    if (software) d.software = software;
  }

  /** Records an address assigned to a device (DHCP ACK). */
  assigned(d: Device, ip: string): void {
    if (ip && ip !== "0.0.0.0") remember(d.ips, ip);
  }

  /** Queues an upsert for every changed device. */
  flush(): number {
    const n = this.#dirty.length;
    for (const d of this.#dirty) {
      this.#upsert(
        d.mac,
        d.vendor,
        d.first,
        d.last,
        d.ips.join(","),
        d.hostNames.join(","),
        d.software,
        d.dns,
        d.dhcp,
        d.vlan,
      );
      d.dns = 0;
      d.dhcp = 0;
      d.dirty = false;
    }
    this.#dirty.length = 0;
    this.upserts += n;
    if (this.#devices.size > this.#max) this.#forgetIdle();
    return n;
  }

  #forgetIdle(): void {
    const byAge = [...this.#devices.values()].sort((a, b) => a.last - b.last);
    for (let i = 0; i < byAge.length / 2; i++) this.#devices.delete(byAge[i].mac);
  }
}
