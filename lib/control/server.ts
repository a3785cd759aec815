/**
 * The control socket server: accepts connections on a Unix socket (or any
 * stream listener) and answers JSON-line requests through a dispatch
 * function. Bounded: request size, concurrent clients, and time per request.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { type ControlRequest, type ControlResponse, LineReader } from "./protocol.ts";

/** Who sent a request, for authorisation and audit. */
export interface RequestOrigin {
  /** `local` for the Unix socket, `remote` for TLS. */
  transport: "local" | "remote";
  /** Client address for remote connections. */
  address?: string;
}

/** Answers one request; throw an Error for a failed request. */
export type Dispatch = (request: ControlRequest, origin: RequestOrigin) => Promise<unknown>;

/** Options for {@linkcode serveConnections}. */
export interface ServeOptions {
  /** Largest request line in bytes. */
  maxRequestBytes: number;
  /** Time allowed for a request to arrive (idle) and to be answered. */
  requestTimeoutMs: number;
  /** Concurrent connections at most; further ones get one error line and are closed. */
  maxClients: number;
  /** Logger for connection problems. */
  log: Logger;
  /** Transport name for origins. */
  transport?: "local" | "remote";
  /** Called before any request on a connection (TLS handshake, rate limits); throw to refuse. */
  admit?: (conn: Deno.Conn) => Promise<void> | void;
}

const encoder = new TextEncoder();

/** Longest time a client may ask for with `timeout_ms` (long verbs like `scan run`). */
export const MAX_REQUEST_TIMEOUT_MS = 600_000;

/** Serves connections from `listener` until it closes; returns when every connection is done. */
export async function serveConnections(
  listener: Deno.Listener,
  dispatch: Dispatch,
  options: ServeOptions,
): Promise<void> {
  const active = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  try {
    for await (const conn of listener) {
      if (conns.size >= options.maxClients) {
        writeLine(conn, { ok: false, error: "too many control clients" }).finally(() =>
          safeClose(conn)
        );
        continue;
      }
      conns.add(conn);
      const p = handleConnection(conn, dispatch, options).finally(() => {
        conns.delete(conn);
        active.delete(p);
      });
      active.add(p);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
  for (const c of conns) safeClose(c);
  await Promise.allSettled(active);
}

function safeClose(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function writeLine(conn: Deno.Conn, response: ControlResponse): Promise<void> {
  const bytes = encoder.encode(JSON.stringify(response) + "\n");
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function handleConnection(
  conn: Deno.Conn,
  dispatch: Dispatch,
  options: ServeOptions,
): Promise<void> {
  const origin: RequestOrigin = { transport: options.transport ?? "local" };
  if (conn.remoteAddr.transport === "tcp") {
    origin.address = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  }
  const reader = new LineReader(conn.readable, options.maxRequestBytes);
  try {
    if (options.admit) {
      await withTimeout(
        Promise.resolve(options.admit(conn)),
        options.requestTimeoutMs,
        "handshake",
      );
    }
    for (;;) {
      const line = await withTimeout(
        reader.next(),
        options.requestTimeoutMs,
        "waiting for a request",
      );
      if (line === null) break;
      if (line.trim() === "") continue;
      let request: ControlRequest;
      try {
        request = JSON.parse(line);
        if (typeof request !== "object" || request === null || typeof request.verb !== "string") {
          throw new Error('a request needs a string "verb"');
        }
      } catch (e) {
        await writeLine(conn, { ok: false, error: `bad request: ${(e as Error).message}` });
        continue;
      }
      const asked = Number((request.args as { timeout_ms?: number } | undefined)?.timeout_ms);
      const timeout = Number.isFinite(asked) && asked > 0
        ? Math.min(MAX_REQUEST_TIMEOUT_MS, Math.max(asked, options.requestTimeoutMs))
        : options.requestTimeoutMs;
      let response: ControlResponse;
      try {
        const result = await withTimeout(dispatch(request, origin), timeout, `"${request.verb}"`);
        response = { id: request.id, ok: true, result: result ?? null };
      } catch (e) {
        // Refused arguments (a VerbUsageError) are marked, so the CLI exits 2 for them.
        const usage = e instanceof Error && e.name === "VerbUsageError";
        response = {
          id: request.id,
          ok: false,
          error: (e as Error).message,
          ...(usage ? { usage } : {}),
        };
      }
      await writeLine(conn, response);
    }
  } catch (e) {
    const msg = (e as Error).message;
    options.log.warn("control connection closed", { reason: msg, client: origin.address });
    await writeLine(conn, { ok: false, error: msg }).catch(() => {});
  } finally {
    reader.cancel();
    safeClose(conn);
  }
}
