/**
 * Tamper evidence for the daily files. When a daily log or alerts file is
 * complete (the day rotated, or an ingest finished writing a past day) its
 * SHA-256 is sealed: one record appended to `seals.jsonl` beside the logs
 * (and to the store's `log_seals` table), chained to the record before it
 * and optionally signed with an Ed25519 key (Web Crypto). The current day is
 * checkpointed (its prefix sealed) every hour and when vigia stops; files
 * that retention deletes get a `removed` record.
 *
 * A seal record is one JSON line:
 *
 * ```json
 * {"v":1,"seq":7,"kind":"final","file":"2026-12-01.log","size":1048576,
 *  "sha256":"…","sealed_at":"2026-12-02T00:00:00.120Z","prev":"…","hash":"…",
 *  "key":"3f2a…","sig":"…"}
 * ```
 *
 * `hash` is the SHA-256 (hex) of `vigia-seal-v1`, seq, kind, file, size,
 * sha256, sealed_at and prev, each followed by a newline; `prev` is the
 * `hash` of the record before (64 zeros for the first); `sig` is the
 * base64 Ed25519 signature of the 32 bytes of `hash` and `key` the first 16
 * hex digits of the SHA-256 of the raw public key. Editing, truncating,
 * deleting, adding or reordering a sealed file, or a record, shows:
 * {@linkcode verifyLogs}.
 *
 * @example
 * ```ts
 * const sealer = new LogSealer({ dir: "var/log", keyFile: "/etc/vigia/seal.key" });
 * sealer.complete("2026-12-01.log");
 * await sealer.close();
 * const report = await verifyLogs("var/log", { publicKeyFile: "seal.pub" });
 * ```
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type { Migration, Store } from "../store/mod.ts";

/** Name of the seal file in the log directory. */
export const SEAL_FILE = "seals.jsonl";

/** The daily files vigia writes and seals: `YYYY-MM-DD.log` and `alerts-YYYY-MM-DD.log`. */
export const DAILY_FILE_RE = /^(alerts-)?(\d{4}-\d{2}-\d{2})\.log$/;

const ZERO_HASH = "0".repeat(64);
const CHUNK = 4 * 1024 * 1024;

/** What a seal record says about its file. */
export type SealKind = "final" | "checkpoint" | "removed";

/** One line of the seal file. */
export interface SealRecord {
  /** Format version, 1. */
  v: 1;
  /** 1, 2, 3, … in file order. */
  seq: number;
  /** `final`: the file is complete; `checkpoint`: its first `size` bytes (still written); `removed`: deleted by retention. */
  kind: SealKind;
  /** File name in the log directory. */
  file: string;
  /** Bytes sealed (0 for `removed`). */
  size: number;
  /** SHA-256 (hex) of the first `size` bytes ("" for `removed`). */
  sha256: string;
  /** When the seal was made (ISO 8601, UTC). */
  sealed_at: string;
  /** `hash` of the previous record; 64 zeros for the first. */
  prev: string;
  /** SHA-256 (hex) of this record's fields (see the module docs). */
  hash: string;
  /** Key id of the signing key (first 16 hex digits of the SHA-256 of the raw public key). */
  key?: string;
  /** Base64 Ed25519 signature of the 32 bytes of `hash`. */
  sig?: string;
}

/** The store table the seals are copied to (component `daylog`). */
export const sealMigrations: Migration[] = [{
  version: 1,
  sql: `CREATE TABLE log_seals (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    sealed_at TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    key TEXT,
    sig TEXT
  );
  CREATE INDEX log_seals_file ON log_seals (file, seq);`,
}];

/** The text whose SHA-256 is a record's `hash`. */
function recordText(r: Omit<SealRecord, "hash" | "sig" | "key" | "v">): string {
  return `vigia-seal-v1\n${r.seq}\n${r.kind}\n${r.file}\n${r.size}\n${r.sha256}\n${r.sealed_at}\n${r.prev}\n`;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unbase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The DER bytes of the first PEM block labelled `label`, or undefined. */
function pemBlock(text: string, label: string): Uint8Array<ArrayBuffer> | undefined {
  const m = text.match(
    new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`),
  );
  return m ? unbase64(m[1].replace(/\s+/g, "")) : undefined;
}

/** A signing key and its id. */
export interface SealKey {
  /** The Ed25519 private key. */
  privateKey: CryptoKey;
  /** Key id (see {@linkcode SealRecord.key}). */
  id: string;
}

/** A verifying key and its id. */
export interface SealPublicKey {
  /** The Ed25519 public key. */
  publicKey: CryptoKey;
  /** Key id (see {@linkcode SealRecord.key}). */
  id: string;
}

async function keyIdOf(publicKey: CryptoKey): Promise<string> {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return createHash("sha256").update(raw).digest("hex").slice(0, 16);
}

/**
 * Reads an Ed25519 private key from a PEM file (PKCS#8, `BEGIN PRIVATE KEY`,
 * as `openssl genpkey -algorithm ed25519` writes it). Throws an Error that
 * names the file and what is wrong with it.
 */
export async function loadSealKey(path: string): Promise<SealKey> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`Cannot read seal key ${path}: ${(e as Error).message}`);
  }
  const der = pemBlock(text, "PRIVATE KEY");
  if (der === undefined) {
    throw new Error(`Cannot use seal key ${path}: no "BEGIN PRIVATE KEY" PEM block (PKCS#8)`);
  }
  try {
    const extractable = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, [
      "sign",
    ]);
    const jwk = await crypto.subtle.exportKey("jwk", extractable);
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: "OKP", crv: "Ed25519", x: jwk.x },
      { name: "Ed25519" },
      true,
      ["verify"],
    );
    const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, [
      "sign",
    ]);
    return { privateKey, id: await keyIdOf(publicKey) };
  } catch (e) {
    throw new Error(
      `Cannot use seal key ${path}: not an Ed25519 private key (${(e as Error).message})`,
    );
  }
}

/**
 * Reads an Ed25519 public key from a PEM file (`BEGIN PUBLIC KEY`, SPKI, as
 * `openssl pkey -pubout` writes it); a private key file is accepted too (its
 * public half is used). Throws an Error naming the file.
 */
export async function loadSealPublicKey(path: string): Promise<SealPublicKey> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`Cannot read public key ${path}: ${(e as Error).message}`);
  }
  try {
    const spki = pemBlock(text, "PUBLIC KEY");
    let publicKey: CryptoKey;
    if (spki !== undefined) {
      publicKey = await crypto.subtle.importKey("spki", spki, { name: "Ed25519" }, true, [
        "verify",
      ]);
    } else {
      const der = pemBlock(text, "PRIVATE KEY");
      if (der === undefined) throw new Error(`no "BEGIN PUBLIC KEY" PEM block`);
      const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
      const jwk = await crypto.subtle.exportKey("jwk", key);
      publicKey = await crypto.subtle.importKey(
        "jwk",
        { kty: "OKP", crv: "Ed25519", x: jwk.x },
        { name: "Ed25519" },
        true,
        ["verify"],
      );
    }
    return { publicKey, id: await keyIdOf(publicKey) };
  } catch (e) {
    throw new Error(`Cannot use public key ${path}: ${(e as Error).message}`);
  }
}

/** Options of {@linkcode LogSealer}. */
export interface LogSealerOptions {
  /** The log directory (the seal file goes there). */
  dir: string;
  /** PEM file of the Ed25519 private key that signs each record; unsigned when absent. */
  keyFile?: string;
  /** A store to copy the records to (table `log_seals`, migrated here). */
  store?: Store;
  /** Called when sealing fails (the file stays unsealed until the next try). @default prints on stderr */
  onError?: (error: Error) => void;
}

/** Hash state of a file as far as it was last sealed by this process. */
interface Progress {
  /** Bytes of the logical content hashed. */
  size: number;
  hash: Hash;
  /** The rotated pieces it covered and the current file's inode and size, to go on incrementally. */
  pieces: string;
  ino: number | null;
  current: number;
}

/**
 * The pieces logrotate left of daily file `file` in `dir`, oldest first:
 * `FILE-DATE[.gz]` (dateext) by date, then `FILE.N[.gz]` from the highest N.
 * With the current file after them, they are the file's logical content.
 */
export async function rotatedPieces(dir: string, file: string): Promise<string[]> {
  const dated: [string, string][] = [];
  const numbered: [number, string][] = [];
  const prefix = file + ".";
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.startsWith(file) || e.name === file) continue;
      const rest = e.name.slice(file.length);
      const n = /^\.(\d+)(\.gz)?$/.exec(rest);
      if (n && e.name.startsWith(prefix)) numbered.push([Number(n[1]), e.name]);
      const d = /^-(\d{8,10})(\.gz)?$/.exec(rest);
      if (d) dated.push([d[1], e.name]);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  dated.sort((a, b) => a[0] < b[0] ? -1 : 1);
  numbered.sort((a, b) => b[0] - a[0]);
  return [...dated.map((x) => x[1]), ...numbered.map((x) => x[1])];
}

/** Feeds every byte of a rotated piece (gunzipped when `.gz`) to `hash`; returns how many. */
async function hashPiece(path: string, hash: Hash): Promise<number> {
  const f = await Deno.open(path, { read: true });
  const stream: ReadableStream<Uint8Array> = path.endsWith(".gz")
    ? f.readable.pipeThrough<Uint8Array>(new DecompressionStream("gzip"))
    : f.readable;
  let n = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    n += chunk.length;
  }
  return n;
}

/**
 * Seals daily files: hashes them (incrementally for the current day's
 * checkpoints) and appends chained, optionally signed records to the seal
 * file and the store. Requests are queued and done one at a time, off the
 * hot path; several processes (the daemon and an ingest) may seal the same
 * directory: the seal file is locked while a record is chained and appended.
 */
export class LogSealer {
  /** The log directory sealed (its seal file lives there). */
  readonly dir: string;
  readonly #keyFile: string | undefined;
  readonly #store: Store | undefined;
  readonly #onError: (error: Error) => void;
  #key: Promise<SealKey | undefined> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #progress = new Map<string, Progress>();
  #sealed = 0;
  #storeReady = false;

  /** Creates a sealer for `options.dir`; nothing is read until the first seal. */
  constructor(options: LogSealerOptions) {
    this.dir = options.dir;
    this.#keyFile = options.keyFile || undefined;
    this.#store = options.store;
    this.#onError = options.onError ??
      ((e) => console.error(`daily log seal failed: ${e.message}`));
  }

  /** Records appended by this sealer so far. */
  get sealed(): number {
    return this.#sealed;
  }

  /** Seals `file` as complete (its day is over, or an ingest finished it). */
  complete(file: string): void {
    this.#enqueue(() => this.seal(file, "final"));
  }

  /** Seals what `file` holds so far (the current day). */
  checkpoint(file: string): void {
    this.#enqueue(() => this.seal(file, "checkpoint"));
  }

  /** Records that retention deleted `file`. */
  removed(file: string): void {
    this.#progress.delete(file);
    this.#enqueue(() => this.#append(file, "removed", 0, "").then(() => undefined));
  }

  /** Resolves when every queued seal is done. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /** Waits for the queued seals. */
  close(): Promise<void> {
    return this.idle();
  }

  #enqueue(task: () => Promise<unknown>): void {
    this.#queue = this.#queue.then(task).then(() => {}, (e) => this.#onError(e as Error));
  }

  /**
   * Hashes `file` now and appends its seal record; returns it, or undefined
   * when the file does not exist (nothing to seal). Throws when the seal
   * file or the key cannot be used.
   */
  async seal(file: string, kind: "final" | "checkpoint"): Promise<SealRecord | undefined> {
    // After logrotate moved the file, its content is the rotated pieces followed by the current file.
    const pieces = await rotatedPieces(this.dir, file);
    let f: Deno.FsFile | undefined;
    try {
      f = await Deno.open(`${this.dir}/${file}`, { read: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      if (pieces.length === 0) return undefined;
    }
    let digest: string;
    let size: number;
    try {
      const st = f ? await f.stat() : undefined;
      const current = st?.size ?? 0;
      const ino = st?.ino ?? null;
      const key = pieces.join("/");
      let p = this.#progress.get(file);
      if (p === undefined || p.pieces !== key || p.ino !== ino || p.current > current) {
        p = { size: 0, hash: createHash("sha256"), pieces: key, ino, current: 0 };
        for (const piece of pieces) p.size += await hashPiece(`${this.dir}/${piece}`, p.hash);
      }
      if (f) await hashRange(f, p.hash, p.current, current);
      p.size += current - p.current;
      p.current = current;
      size = p.size;
      digest = p.hash.copy().digest("hex");
      if (kind === "final") this.#progress.delete(file);
      else this.#progress.set(file, p);
    } finally {
      f?.close();
    }
    return await this.#append(file, kind, size, digest);
  }

  async #append(file: string, kind: SealKind, size: number, sha256: string): Promise<SealRecord> {
    this.#key ??= this.#keyFile ? loadSealKey(this.#keyFile) : Promise.resolve(undefined);
    const key = await this.#key;
    await Deno.mkdir(this.dir, { recursive: true });
    const seals = await Deno.open(`${this.dir}/${SEAL_FILE}`, {
      read: true,
      append: true,
      create: true,
      mode: 0o640,
    });
    let record: SealRecord;
    try {
      await seals.lock(true);
      const last = await lastRecord(seals);
      const body = {
        seq: (last?.seq ?? 0) + 1,
        kind,
        file,
        size,
        sha256,
        sealed_at: new Date().toISOString(),
        prev: last?.hash ?? ZERO_HASH,
      };
      const hash = sha256Hex(recordText(body));
      record = { v: 1, ...body, hash };
      if (key !== undefined) {
        const sig = await crypto.subtle.sign("Ed25519", key.privateKey, hexBytes(hash));
        record.key = key.id;
        record.sig = base64(new Uint8Array(sig));
      }
      const line = new TextEncoder().encode(JSON.stringify(record) + "\n");
      let off = 0;
      while (off < line.length) off += await seals.write(line.subarray(off));
      await seals.syncData();
    } finally {
      seals.close(); // closing releases the lock
    }
    this.#sealed++;
    try {
      this.#copyToStore(record);
    } catch (e) {
      this.#onError(
        new Error(`seal ${record.seq} of ${file} not copied to the store: ${(e as Error).message}`),
      );
    }
    return record;
  }

  #copyToStore(r: SealRecord): void {
    const store = this.#store;
    if (store === undefined) return;
    if (!this.#storeReady) {
      store.migrate("daylog", sealMigrations);
      this.#storeReady = true;
    }
    store.run(
      "INSERT OR REPLACE INTO log_seals (seq, kind, file, size, sha256, sealed_at, prev, hash, key, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      r.seq,
      r.kind,
      r.file,
      r.size,
      r.sha256,
      r.sealed_at,
      r.prev,
      r.hash,
      r.key ?? null,
      r.sig ?? null,
    );
  }
}

/** Feeds bytes `[from, to)` of `f` to `hash`. */
async function hashRange(f: Deno.FsFile, hash: Hash, from: number, to: number): Promise<void> {
  if (to <= from) return;
  await f.seek(from, Deno.SeekMode.Start);
  const buf = new Uint8Array(Math.min(CHUNK, to - from));
  let pos = from;
  while (pos < to) {
    const want = Math.min(buf.length, to - pos);
    const n = await f.read(buf.subarray(0, want));
    if (n === null) throw new Error(`file shrank while being sealed (at byte ${pos})`);
    hash.update(buf.subarray(0, n));
    pos += n;
  }
}

/** The last parseable record of an open seal file, or undefined. */
async function lastRecord(f: Deno.FsFile): Promise<SealRecord | undefined> {
  const size = (await f.stat()).size;
  if (size === 0) return undefined;
  // Records are short: the last one is in the last few KiB.
  for (let tail = 4096;; tail *= 4) {
    const from = Math.max(0, size - tail);
    await f.seek(from, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - from);
    let got = 0;
    while (got < buf.length) {
      const n = await f.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    const lines = new TextDecoder().decode(buf.subarray(0, got)).split("\n");
    for (let i = lines.length - 1; i >= (from === 0 ? 0 : 1); i--) {
      const r = parseRecord(lines[i]);
      if (r !== undefined) return r;
    }
    if (from === 0) return undefined;
  }
}

/** A seal record from one line of the seal file, or undefined when it is not one. */
export function parseRecord(line: string): SealRecord | undefined {
  if (line.trim() === "") return undefined;
  try {
    const r = JSON.parse(line);
    if (
      r === null || typeof r !== "object" || r.v !== 1 || !Number.isInteger(r.seq) ||
      typeof r.file !== "string" || typeof r.hash !== "string" || typeof r.prev !== "string" ||
      !Number.isInteger(r.size) || typeof r.sha256 !== "string" ||
      typeof r.sealed_at !== "string" || !["final", "checkpoint", "removed"].includes(r.kind)
    ) {
      return undefined;
    }
    return r as SealRecord;
  } catch {
    return undefined;
  }
}

// ---- verification ---------------------------------------------------------

/** One finding of {@linkcode verifyLogs}. */
export interface SealProblem {
  /** What happened to the file (or the seal file). */
  kind:
    | "edited"
    | "truncated"
    | "deleted"
    | "added"
    | "reordered"
    | "seal-file"
    | "signature";
  /** The file concerned (`seals.jsonl` for the seal file itself). */
  file: string;
  /** What was found, in words. */
  detail: string;
}

/** What {@linkcode verifyLogs} found. */
export interface VerifyReport {
  /** The directory verified. */
  dir: string;
  /** Seal records read. */
  records: number;
  /** Daily files whose content matches every seal. */
  verified: string[];
  /** Everything edited, truncated, deleted, added or reordered since sealing (empty: all good). */
  problems: SealProblem[];
  /** Remarks that are not problems (files of the current day not sealed yet, an unsigned chain). */
  notes: string[];
  /** True when signatures were checked with a public key. */
  signaturesChecked: boolean;
}

/** Options of {@linkcode verifyLogs}. */
export interface VerifyOptions {
  /** PEM file of the Ed25519 public key the records must be signed with. */
  publicKeyFile?: string;
  /** Store copy of the records (table `log_seals`), compared with the seal file. */
  store?: Store;
  /** "Now", for the files of the current day. @default new Date() */
  now?: Date;
}

/**
 * Checks the daily files in `dir` against `seals.jsonl`: the chain of
 * records (each record's hash, its link to the one before, their order),
 * the signatures when `publicKeyFile` is given, and each file: a sealed
 * file that is gone is `deleted`; one whose sealed bytes changed is
 * `edited` (or `reordered` when it holds what was sealed as another file);
 * shorter than sealed is `truncated`; grown after its final seal is
 * `edited`; a daily file never sealed and older than yesterday is `added`.
 * Throws only when the public key cannot be read.
 *
 * @example
 * ```ts
 * const report = await verifyLogs("/var/log/vigia", { publicKeyFile: "/etc/vigia/seal.pub" });
 * for (const p of report.problems) console.log(p.kind, p.file, p.detail);
 * ```
 */
export async function verifyLogs(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { publicKeyFile, store, now = new Date() } = options;
  const key = publicKeyFile ? await loadSealPublicKey(publicKeyFile) : undefined;
  const report: VerifyReport = {
    dir,
    records: 0,
    verified: [],
    problems: [],
    notes: [],
    signaturesChecked: key !== undefined,
  };
  const problem = (kind: SealProblem["kind"], file: string, detail: string) =>
    report.problems.push({ kind, file, detail });

  let text = "";
  try {
    text = await Deno.readTextFile(`${dir}/${SEAL_FILE}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const records = await checkChain(text, key, problem);
  report.records = records.length;
  if (store !== undefined) compareWithStore(records, store, problem);
  if (key === undefined && records.some((r) => r.sig !== undefined)) {
    report.notes.push("the records are signed; pass --public-key to check the signatures");
  } else if (records.length > 0 && records.every((r) => r.sig === undefined)) {
    report.notes.push(
      "the records are not signed: the chain shows edits, but not a rewritten seal file (set [log] seal_key_file)",
    );
  }

  // The seals of each file, in order.
  const byFile = new Map<string, SealRecord[]>();
  for (const r of records) {
    let list = byFile.get(r.file);
    if (!list) byFile.set(r.file, list = []);
    list.push(r);
  }
  // Daily files present, by name: the file itself or pieces logrotate left of it.
  const present = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      const m = /^((?:alerts-)?\d{4}-\d{2}-\d{2}\.log)(?:[.-]\d+(?:\.gz)?)?$/.exec(e.name);
      if (m) present.add(m[1]);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // What each file's whole content was sealed as, to recognise files swapped or renamed.
  const sealedAs = new Map<string, string>();
  for (const [file, list] of byFile) {
    const last = list[list.length - 1];
    if (last.kind === "final") sealedAs.set(`${last.size}:${last.sha256}`, file);
  }

  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
  const names = [...new Set([...byFile.keys(), ...present.keys()])].sort();
  for (const file of names) {
    const seals = (byFile.get(file) ?? []).filter((r) => r.kind !== "removed");
    const last = byFile.get(file)?.at(-1);
    const exists = present.has(file);
    if (!exists) {
      if (last !== undefined && last.kind !== "removed") {
        problem("deleted", file, `sealed (${last.size} bytes, record ${last.seq}) but missing`);
      }
      continue;
    }
    const content = await hashAt(dir, file, seals.map((r) => r.size));
    const whole = `${content.size}:${content.at.get(content.size)}`;
    const other = sealedAs.get(whole);
    if (last === undefined || last.kind === "removed") {
      if (other !== undefined && other !== file) {
        problem("reordered", file, `holds what was sealed as ${other}`);
        continue;
      }
      const day = DAILY_FILE_RE.exec(file)![2];
      if (last?.kind === "removed") {
        const again = await Deno.stat(`${dir}/${file}`).then(() => true, () => false);
        if (again) {
          problem("added", file, `removed by retention (record ${last.seq}) but present again`);
        } else {
          report.notes.push(`${file}: removed by retention, logrotate's copies remain`);
        }
      } else if (day >= yesterday) report.notes.push(`${file}: not sealed yet (current day)`);
      else problem("added", file, "never sealed");
      continue;
    }
    let bad = false;
    for (const r of seals) {
      if (r.size > content.size) {
        problem(
          "truncated",
          file,
          `${content.size} bytes, but ${r.size} were sealed (record ${r.seq}, ${r.sealed_at})`,
        );
        bad = true;
        break;
      }
      if (content.at.get(r.size) !== r.sha256) {
        if (other !== undefined && other !== file) {
          problem("reordered", file, `holds what was sealed as ${other}`);
        } else {
          problem(
            "edited",
            file,
            `its first ${r.size} bytes differ from the seal of record ${r.seq} (${r.sealed_at})`,
          );
        }
        bad = true;
        break;
      }
    }
    if (bad) continue;
    if (last.kind === "final" && content.size > last.size) {
      problem(
        "edited",
        file,
        `${content.size - last.size} bytes added after its final seal (record ${last.seq})`,
      );
      continue;
    }
    if (last.kind === "checkpoint" && content.size > last.size) {
      report.notes.push(
        `${file}: ${
          content.size - last.size
        } bytes after its last checkpoint (record ${last.seq}) not sealed yet`,
      );
    }
    report.verified.push(file);
  }
  return report;
}

/** Parses the seal file and checks every record's hash, link and signature; returns the records. */
async function checkChain(
  text: string,
  key: SealPublicKey | undefined,
  problem: (kind: SealProblem["kind"], file: string, detail: string) => void,
): Promise<SealRecord[]> {
  const records: SealRecord[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  let prev = ZERO_HASH;
  let seq = 0;
  let badSigs = 0;
  let otherKey = "";
  for (const [i, line] of lines.entries()) {
    const r = parseRecord(line);
    if (r === undefined) {
      problem("seal-file", SEAL_FILE, `line ${i + 1} is not a seal record`);
      continue;
    }
    const expected = sha256Hex(recordText(r));
    if (expected !== r.hash) {
      problem("seal-file", SEAL_FILE, `record ${r.seq} (line ${i + 1}, ${r.file}) was altered`);
    } else if (r.prev !== prev || r.seq !== seq + 1) {
      problem(
        "seal-file",
        SEAL_FILE,
        `record ${r.seq} (line ${
          i + 1
        }, ${r.file}) is out of the chain: records were removed, added or reordered`,
      );
    }
    if (key !== undefined) {
      let ok = false;
      if (r.sig !== undefined) {
        try {
          ok = await crypto.subtle.verify(
            "Ed25519",
            key.publicKey,
            unbase64(r.sig),
            hexBytes(r.hash),
          );
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        badSigs++;
        if (r.key !== undefined && r.key !== key.id) otherKey = r.key;
        if (badSigs <= 3) {
          problem(
            "signature",
            SEAL_FILE,
            r.sig === undefined
              ? `record ${r.seq} (${r.file}) is not signed`
              : `record ${r.seq} (${r.file}): signature does not verify with key ${key.id}${
                r.key && r.key !== key.id ? ` (signed with key ${r.key})` : ""
              }`,
          );
        }
      }
    }
    prev = r.hash;
    seq = r.seq;
    records.push(r);
  }
  if (badSigs > 3) {
    problem(
      "signature",
      SEAL_FILE,
      `${badSigs} of ${records.length} records do not verify with key ${key!.id}${
        otherKey ? ` (they name key ${otherKey})` : ""
      }`,
    );
  }
  return records;
}

/** Reports records of the store's copy that the seal file lacks or holds differently. */
function compareWithStore(
  records: SealRecord[],
  store: Store,
  problem: (kind: SealProblem["kind"], file: string, detail: string) => void,
): void {
  let rows: { seq: number; hash: string; file: string }[];
  try {
    rows = store.query<{ seq: number; hash: string; file: string }>(
      "SELECT seq, hash, file FROM log_seals ORDER BY seq",
    );
  } catch {
    return; // no seals were ever stored there
  }
  const inFile = new Map(records.map((r) => [r.seq, r.hash]));
  let missing = 0;
  let first = 0;
  for (const row of rows) {
    const h = inFile.get(row.seq);
    if (h === row.hash) continue;
    if (h === undefined) {
      missing++;
      first ||= row.seq;
    } else {
      problem(
        "seal-file",
        SEAL_FILE,
        `record ${row.seq} differs from the store's copy (${row.file})`,
      );
    }
  }
  if (missing > 0) {
    problem(
      "seal-file",
      SEAL_FILE,
      `${missing} records in the store are missing from the seal file (from record ${first})`,
    );
  }
}

/**
 * Hashes the logical content of daily file `file` (its rotated pieces, then
 * the file) once, taking the digest of its first `sizes[i]` bytes for each i
 * and of the whole.
 */
async function hashAt(
  dir: string,
  file: string,
  sizes: number[],
): Promise<{ size: number; at: Map<number, string> }> {
  const at = new Map<number, string>();
  const hash = createHash("sha256");
  const wanted = [...new Set(sizes)].sort((a, b) => a - b);
  let w = 0;
  let pos = 0;
  const feed = (chunk: Uint8Array) => {
    let off = 0;
    // Take a digest at every sealed size that falls inside this chunk.
    while (w < wanted.length && wanted[w] <= pos + chunk.length - off) {
      const cut = wanted[w] - pos;
      hash.update(chunk.subarray(off, off + cut));
      off += cut;
      pos += cut;
      at.set(pos, hash.copy().digest("hex"));
      w++;
    }
    hash.update(chunk.subarray(off));
    pos += chunk.length - off;
  };
  const sources = [...await rotatedPieces(dir, file), file];
  for (const name of sources) {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(`${dir}/${name}`, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && name === file) continue; // only pieces are left
      throw e;
    }
    if (name.endsWith(".gz")) {
      for await (
        const chunk of f.readable.pipeThrough<Uint8Array>(new DecompressionStream("gzip"))
      ) {
        feed(chunk);
      }
      continue;
    }
    try {
      const buf = new Uint8Array(CHUNK);
      for (;;) {
        const n = await f.read(buf);
        if (n === null) break;
        feed(buf.subarray(0, n));
      }
    } finally {
      f.close();
    }
  }
  at.set(pos, hash.copy().digest("hex"));
  return { size: pos, at };
}
