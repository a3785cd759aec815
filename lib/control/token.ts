/**
 * Bearer tokens for remote control access: making fresh tokens, the salted
 * slow hash kept in the config, checking a presented token against it, and
 * whether a role may use a verb.
 *
 * A token is `vgt_` followed by 32 random bytes in base64url (256 bits), so
 * it cannot be guessed; the config keeps only
 * `pbkdf2-sha256$<iterations>$<salt>$<derived key>` (base64url, 16-byte salt,
 * 32-byte key), so a leaked config does not leak a usable token.
 *
 * @example
 * ```ts
 * import { hashToken, newToken, verifyToken } from "./token.ts";
 * const token = newToken();
 * const hash = await hashToken(token);
 * console.log(await verifyToken(token, hash)); // true
 * ```
 *
 * @module
 */

/** Roles a token can have. */
export const ROLES = ["read", "admin"] as const;
/** One of {@linkcode ROLES}. */
export type Role = typeof ROLES[number];

/**
 * True when a token of `role` may use a verb that needs `needed`: admin
 * tokens every verb, read tokens the read verbs. What each verb needs is
 * declared with the verb (its spec's `role`); a verb nobody declared needs
 * admin.
 */
export function roleAllows(role: Role, needed: Role): boolean {
  return role === "admin" || needed === "read";
}

/** The role each verb needs, by verb name (a verb not known needs `admin`). */
export type VerbRoles = (verb: string) => Role;

/** Prefix of every token, so one is recognisable in a file or a leak scanner. */
export const TOKEN_PREFIX = "vgt_";
/** PBKDF2 rounds of new hashes: about 20 ms on one core, off the event loop. */
export const DEFAULT_ITERATIONS = 100_000;
const HASH_RE = /^pbkdf2-sha256\$(\d{1,9})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43})$/;
const TOKEN_RE = /^vgt_[A-Za-z0-9_-]{43}$/;

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** A fresh random token (`vgt_` + 43 base64url characters). */
export function newToken(): string {
  return TOKEN_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** True when `text` has the shape of a token (it may still be wrong). */
export function looksLikeToken(text: string): boolean {
  return TOKEN_RE.test(text);
}

/** A parsed token hash. */
export interface TokenHash {
  iterations: number;
  salt: Uint8Array;
  key: Uint8Array;
}

/**
 * Parses `pbkdf2-sha256$ITER$SALT$KEY`; returns a message saying what is
 * wrong when it is not one.
 */
export function parseTokenHash(text: string): TokenHash | string {
  const m = HASH_RE.exec(text);
  if (!m) {
    return `expected "pbkdf2-sha256$ITERATIONS$SALT$KEY" as printed by \`vigia token new\`, found "${
      text.length > 60 ? text.slice(0, 60) + "…" : text
    }"`;
  }
  const iterations = Number(m[1]);
  if (iterations < 10_000) return `at least 10000 PBKDF2 iterations needed, found ${iterations}`;
  return { iterations, salt: fromBase64url(m[2]), key: fromBase64url(m[3]) };
}

async function derive(token: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(token),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    material,
    256,
  );
  return new Uint8Array(bits);
}

/** Options for {@linkcode hashToken}. */
export interface HashOptions {
  /** PBKDF2 rounds. @default DEFAULT_ITERATIONS */
  iterations?: number;
}

/** The config form of a token: `pbkdf2-sha256$ITER$SALT$KEY` with a fresh random salt. */
export async function hashToken(token: string, options: HashOptions = {}): Promise<string> {
  const { iterations = DEFAULT_ITERATIONS } = options;
  if (!Number.isInteger(iterations) || iterations < 10_000) {
    throw new RangeError(`iterations must be an integer of at least 10000: got ${iterations}`);
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const key = await derive(token, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${base64url(salt)}$${base64url(key)}`;
}

/** Compares in time independent of where the first difference is. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** True when `token` matches `hash` (a string or a parsed {@linkcode TokenHash}). */
export async function verifyToken(token: string, hash: string | TokenHash): Promise<boolean> {
  const parsed = typeof hash === "string" ? parseTokenHash(hash) : hash;
  if (typeof parsed === "string") return false;
  return sameBytes(await derive(token, parsed.salt, parsed.iterations), parsed.key);
}

/** SHA-256 of a token as hex: the key of the verified-token cache (never logged). */
export async function tokenDigest(token: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}
