/**
 * NOTIFY out (RFC 1996): when a zone's serial changes, every `notify`
 * target of the `[[dns.transfer]]` rules covering the zone is sent a NOTIFY
 * over UDP (signed with the rule's key when it has one) and it is sent again,
 * with the wait doubling, until the target answers or the attempts run out
 * (RFC 1996 section 3.6). A newer change of the same zone replaces a pending
 * one for the same target.
 *
 * @module
 */

import dgram from "node:dgram";
import type { Logger } from "../log/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import { findTsig, signMessage, type TsigKey, verifyTsig } from "./tsig.ts";
import { nameFromText, OPCODE, rcodeName, TYPE } from "./wire.ts";
import type { TransferPolicy } from "./xfr_out.ts";

/** Options for {@linkcode Notifier}. */
export interface NotifierOptions {
  /** The current rules and keys. */
  policy: () => TransferPolicy;
  /** Where sends and failures are logged. */
  log: Logger;
  /** First wait for an answer. @default 1000 */
  firstWaitMs?: number;
  /** Attempts per target and change. @default 5 */
  attempts?: number;
}

/** Counters of NOTIFY out. */
export interface NotifyStats {
  /** Messages sent (retries included). */
  sent: number;
  /** Targets that answered. */
  answered: number;
  /** Targets that never answered (attempts exhausted) or answered with an error. */
  failed: number;
  /** Last NOTIFY answered, per zone (ISO time). */
  last: Record<string, string>;
}

/** Sends NOTIFYs and retries them. */
export class Notifier {
  readonly #o: NotifierOptions;
  readonly #pending = new Map<string, { cancel: () => void }>();
  #socket: dgram.Socket | undefined;
  #waiters = new Map<number, (msg: Uint8Array) => void>();
  #closed = false;
  /** Counters. */
  readonly stats: NotifyStats = { sent: 0, answered: 0, failed: 0, last: {} };

  constructor(options: NotifierOptions) {
    this.#o = options;
  }

  async #open(): Promise<dgram.Socket> {
    if (this.#socket) return this.#socket;
    const s = dgram.createSocket("udp4");
    s.on("message", (msg: Uint8Array) => {
      const m = new Uint8Array(msg);
      if (m.length < 12) return;
      this.#waiters.get((m[0] << 8) | m[1])?.(m);
    });
    s.on("error", (e: Error) => this.#o.log.warn("NOTIFY socket error", { error: e }));
    await new Promise<void>((r) => s.bind(0, "0.0.0.0", () => r()));
    this.#socket = s;
    return s;
  }

  /** Tells every target of `zone` (absolute name) that its serial is now `serial`. */
  notify(zone: string, serial: number): void {
    if (this.#closed) return;
    for (const t of this.#o.policy().notifyTargets(zone)) {
      const id = `${zone} ${t.address}`;
      this.#pending.get(id)?.cancel();
      let cancelled = false;
      const entry = { cancel: () => (cancelled = true) };
      this.#pending.set(id, entry);
      this.#send(zone, serial, t, () => cancelled || this.#closed).catch((e) =>
        this.#o.log.warn("NOTIFY failed", { zone, target: t.address, error: e })
      ).finally(() => {
        if (this.#pending.get(id) === entry) this.#pending.delete(id);
      });
    }
  }

  async #send(
    zone: string,
    serial: number,
    target: { address: string; key?: TsigKey },
    stopped: () => boolean,
  ): Promise<void> {
    const hp = parseHostPort(target.address, 53);
    if (typeof hp === "string") throw new Error(hp);
    const socket = await this.#open();
    const attempts = this.#o.attempts ?? 5;
    let wait = this.#o.firstWaitMs ?? 1000;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (stopped()) return;
      const id = (Math.random() * 0x10000) & 0xffff;
      const query = notifyMessage(zone, id);
      let message = query, mac: Uint8Array | undefined;
      if (target.key) ({ message, mac } = signMessage(query, target.key));
      const answer = new Promise<Uint8Array | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiters.delete(id);
          resolve(undefined);
        }, wait);
        this.#waiters.set(id, (m) => {
          clearTimeout(timer);
          this.#waiters.delete(id);
          resolve(m);
        });
      });
      socket.send(message, hp.port, hp.host);
      this.stats.sent++;
      const reply = await answer;
      if (!reply) {
        wait *= 2;
        continue;
      }
      const rcode = reply[3] & 15;
      if (target.key) {
        const tsig = findTsig(reply);
        const ok = tsig && tsig !== "malformed" &&
          verifyTsig(reply, tsig, { keys: new Map([[tsig.keyKey, target.key]]), priorMac: mac })
              .error === 0;
        if (!ok) {
          this.stats.failed++;
          this.#o.log.warn("NOTIFY answer not signed as it should be", {
            zone,
            target: target.address,
          });
          return;
        }
      }
      if (rcode !== 0) {
        this.stats.failed++;
        this.#o.log.warn("NOTIFY refused", {
          zone,
          target: target.address,
          rcode: rcodeName(rcode),
        });
        return;
      }
      this.stats.answered++;
      this.stats.last[zone] = new Date().toISOString();
      this.#o.log.info("NOTIFY answered", { zone, serial, target: target.address, attempt });
      return;
    }
    this.stats.failed++;
    this.#o.log.warn("NOTIFY not answered", { zone, serial, target: target.address, attempts });
  }

  /** Stops retrying and closes the socket. */
  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.cancel();
    this.#pending.clear();
    for (const w of this.#waiters.values()) w(new Uint8Array(12));
    this.#waiters.clear();
    try {
      this.#socket?.close();
    } catch { /* closed */ }
    this.#socket = undefined;
  }
}

/** A NOTIFY for `zone` (RFC 1996 section 3.7: opcode NOTIFY, AA, the question zone SOA IN). */
export function notifyMessage(zone: string, id: number): Uint8Array {
  const name = nameFromText(zone.endsWith(".") ? zone : `${zone}.`);
  const out = new Uint8Array(12 + name.length + 4);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = (OPCODE.NOTIFY << 3) | 0x04;
  out[5] = 1;
  out.set(name, 12);
  out[12 + name.length + 1] = TYPE.SOA;
  out[12 + name.length + 3] = 1;
  return out;
}
