/**
 * Client side of remote control access: a {@linkcode ControlTarget} that
 * reaches a daemon over TLS and sends a token with each request, for
 * `callControl`.
 *
 * Three ways to trust the server:
 * - default: the system's CA roots (`Deno.startTls`);
 * - `ca`: a PEM file (the server's self-signed certificate or its CA);
 * - `fingerprint`: pin the certificate's SHA-256 as logged by the daemon;
 * - `insecure`: no check at all (encrypted, not authenticated; for a first look).
 *
 * Deno's own TLS client cannot skip verification per connection (only the
 * process-wide `--unsafely-ignore-certificate-errors` flag), so pinning and
 * `insecure` go through `node:tls` with `rejectUnauthorized: false` and check
 * the peer certificate themselves; the socket is adapted to the small part of
 * `Deno.Conn` that `callControl` uses.
 *
 * @example
 * ```ts ignore
 * import { callControl } from "./mod.ts";
 * import { remoteTarget } from "./remote_client.ts";
 * const target = remoteTarget("10.0.0.5:7443", { token, ca: await Deno.readTextFile("vigia.crt") });
 * console.log(await callControl(target, "status"));
 * ```
 *
 * @module
 */

import * as tls from "node:tls";
import { parseHostPort, parseIp } from "../net/mod.ts";
import type { ControlTarget } from "./mod.ts";
import { DEFAULT_REMOTE_PORT } from "./remote_config.ts";

/** Options for {@linkcode remoteTarget}. */
export interface RemoteTargetOptions {
  /** The bearer token (`vgt_...`). */
  token: string;
  /** PEM text of a certificate to trust (the server's own or its CA). */
  ca?: string;
  /** SHA-256 fingerprint to pin, `AA:BB:...` (an optional `SHA256:` prefix and any case accepted). */
  fingerprint?: string;
  /** Skip certificate checks entirely. */
  insecure?: boolean;
  /** Time allowed for the TCP connection and TLS handshake. @default 10000 */
  connectTimeoutMs?: number;
}

/** A host (name or IP) and port. */
export interface RemoteAddress {
  host: string;
  port: number;
}

/**
 * Splits `HOST:PORT`, `[IPv6]:PORT`, a bare `HOST` or a bare IPv6 address
 * (then port {@linkcode DEFAULT_REMOTE_PORT}); returns a message when malformed.
 */
export function parseRemoteAddress(text: string): RemoteAddress | string {
  return parseHostPort(text, DEFAULT_REMOTE_PORT, { allowNames: true });
}

/** Normalises a fingerprint to upper-case hex pairs joined by colons; null when it is not 32 bytes. */
export function normaliseFingerprint(text: string): string | null {
  const hex = text.trim().replace(/^sha-?256:/i, "").replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return null;
  return hex.match(/../g)!.join(":");
}

function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  onTimeout: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`${what} timed out after ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const TRUST_HINT =
  "pass --ca FILE (the server's certificate or its CA), --fingerprint SHA256 (logged by the daemon), or --insecure";

function explain(where: string, e: unknown): Error {
  const msg = (e as Error).message ?? String(e);
  if (e instanceof Deno.errors.ConnectionRefused || /ECONNREFUSED|refused/i.test(msg)) {
    return new Error(`cannot reach vigia at ${where}: connection refused`);
  }
  if (/UnknownIssuer|self.signed|unable to verify|BadSignature/i.test(msg)) {
    return new Error(`cannot trust vigia at ${where}: ${msg}; ${TRUST_HINT}`);
  }
  if (/NotValidForName|altnames|hostname/i.test(msg)) {
    return new Error(
      `cannot trust vigia at ${where}: ${msg} (the certificate does not name this host; connect by a name it lists, or pin it with --fingerprint)`,
    );
  }
  return new Error(`cannot reach vigia at ${where}: ${msg}`);
}

/** Adapts a connected node TLS socket to what `callControl` uses of a `Deno.Conn`. */
function nodeConn(socket: tls.TLSSocket): Deno.Conn {
  let done = false;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (chunk: Uint8Array) => {
        if (!done) controller.enqueue(new Uint8Array(chunk));
      });
      socket.on("end", () => {
        if (!done) controller.close();
        done = true;
      });
      socket.on("close", () => {
        if (!done) controller.close();
        done = true;
      });
      socket.on("error", (e: Error) => {
        if (!done) controller.error(e);
        done = true;
      });
    },
    cancel() {
      done = true;
      socket.destroy();
    },
  });
  const conn = {
    readable,
    write: (bytes: Uint8Array) =>
      new Promise<number>((resolve, reject) => {
        socket.write(bytes, (err?: Error | null) => err ? reject(err) : resolve(bytes.length));
      }),
    close: () => {
      socket.destroy();
    },
  };
  return conn as unknown as Deno.Conn;
}

async function connectNode(
  addr: RemoteAddress,
  pin: string | undefined,
  timeoutMs: number,
): Promise<Deno.Conn> {
  const where = `${addr.host}:${addr.port}`;
  const socket = tls.connect({
    host: addr.host,
    port: addr.port,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
    ...(parseIp(addr.host) ? {} : { servername: addr.host }),
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once("secureConnect", () => resolve());
        socket.once("error", reject);
      }),
      timeoutMs,
      `TLS connection to ${where}`,
      () => socket.destroy(),
    );
  } catch (e) {
    socket.destroy();
    throw explain(where, e);
  }
  if (pin) {
    const seen = socket.getPeerCertificate()?.fingerprint256;
    const got = seen ? normaliseFingerprint(seen) : null;
    if (got !== pin) {
      socket.destroy();
      throw new Error(
        `certificate of ${where} does not match the pinned fingerprint: expected SHA256:${pin}, server has SHA256:${
          got ?? "none"
        }`,
      );
    }
  }
  return nodeConn(socket);
}

/**
 * A control target for `callControl` reaching `address` (`HOST[:PORT]`)
 * over TLS with `options.token`. Throws at once for a malformed address,
 * fingerprint, or conflicting trust options.
 */
export function remoteTarget(address: string, options: RemoteTargetOptions): ControlTarget {
  const { token, ca, fingerprint, insecure = false, connectTimeoutMs = 10_000 } = options;
  const addr = parseRemoteAddress(address);
  if (typeof addr === "string") throw new Error(addr);
  const trusts = [ca !== undefined, fingerprint !== undefined, insecure].filter(Boolean).length;
  if (trusts > 1) throw new Error("choose one of --ca, --fingerprint and --insecure");
  let pin: string | undefined;
  if (fingerprint !== undefined) {
    const n = normaliseFingerprint(fingerprint);
    if (!n) {
      throw new Error(
        `--fingerprint must be a SHA-256 as 64 hex digits (colons allowed): got "${fingerprint}"`,
      );
    }
    pin = n;
  }
  const connect = async (): Promise<Deno.Conn> => {
    if (insecure || pin) return await connectNode(addr, pin, connectTimeoutMs);
    const where = `${addr.host}:${addr.port}`;
    let tcp: Deno.TcpConn | undefined;
    let conn: Deno.TlsConn | undefined;
    try {
      tcp = await withTimeout(
        Deno.connect({ hostname: addr.host, port: addr.port }),
        connectTimeoutMs,
        `connection to ${where}`,
        () => {},
      );
      // A request is one small write: without this, Nagle + delayed ACK add ~40 ms per call
      // (measured 45 ms vs 5 ms per `ctl status` on loopback), and Deno.connectTls cannot set it.
      tcp.setNoDelay(true);
      const c = conn = await Deno.startTls(tcp, {
        hostname: addr.host,
        ...(ca ? { caCerts: [ca] } : {}),
      });
      await withTimeout(c.handshake(), connectTimeoutMs, `TLS handshake with ${where}`, () => {
        try {
          c.close();
        } catch { /* closed */ }
      });
      return conn;
    } catch (e) {
      try {
        (conn ?? tcp)?.close();
      } catch { /* closed */ }
      throw explain(where, e);
    }
  };
  return { connect, token };
}
