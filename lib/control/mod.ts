/**
 * The control socket: server side for the daemon, client side for
 * `vigia ctl`. The protocol is in `protocol.ts`.
 *
 * @example
 * ```ts ignore
 * import { callControl } from "./mod.ts";
 * const status = await callControl({ path: "var/run/control.sock" }, "status");
 * ```
 *
 * @module
 */

import { type ControlResponse, LineReader } from "./protocol.ts";

export { type ControlRequest, type ControlResponse, LineReader } from "./protocol.ts";
export {
  type Dispatch,
  MAX_REQUEST_TIMEOUT_MS,
  type RequestOrigin,
  serveConnections,
  type ServeOptions,
} from "./server.ts";
export { type Role, ROLES } from "./token.ts";

/** A request that the daemon answered with `ok: false`. */
export class ControlError extends Error {
  /** The daemon refused the arguments (a usage error: `vigia ctl` exits 2). */
  readonly usage: boolean;
  /** Makes a failed request; `usage` marks a refused argument. */
  constructor(message: string, options: { usage?: boolean } = {}) {
    super(message);
    this.name = "ControlError";
    this.usage = options.usage === true;
  }
}

/** How to reach a daemon. */
export type ControlTarget =
  | { path: string }
  | { connect: () => Promise<Deno.Conn>; token?: string };

/** Options for {@linkcode callControl}. */
export interface CallOptions {
  /** Verb arguments. */
  args?: Record<string, unknown>;
  /** Give up after this long. @default 15000 */
  timeoutMs?: number;
}

/**
 * Sends one request and returns its result; throws {@linkcode ControlError}
 * when the daemon refused it, and a plain Error when the daemon cannot be reached.
 */
export async function callControl(
  target: ControlTarget,
  verb: string,
  options: CallOptions = {},
): Promise<unknown> {
  const { args = {}, timeoutMs = 15_000 } = options;
  let conn: Deno.Conn;
  if ("path" in target) {
    try {
      conn = await Deno.connect({ transport: "unix", path: target.path });
    } catch (e) {
      throw new Error(
        `cannot reach vigia at ${target.path}: ${await whyUnreachable(target.path, e)}`,
      );
    }
  } else {
    conn = await target.connect();
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    const request: Record<string, unknown> = {
      id: 1,
      verb,
      args: { ...args, timeout_ms: timeoutMs },
    };
    if ("token" in target && target.token) request.token = target.token;
    const bytes = new TextEncoder().encode(JSON.stringify(request) + "\n");
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    const reader = new LineReader(conn.readable, 256 * 1024 * 1024);
    const line = await reader.next().catch((e) => {
      throw new Error(`control connection failed: ${(e as Error).message}`);
    });
    if (line === null) throw new Error(`no answer from vigia within ${timeoutMs} ms`);
    const response = JSON.parse(line) as ControlResponse;
    if (!response.ok) throw new ControlError(response.error, { usage: response.usage });
    return response.result;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the server */ }
  }
}

/** Why connecting to a socket path failed, in the user's terms. */
async function whyUnreachable(path: string, error: unknown): Promise<string> {
  if (error instanceof Deno.errors.NotFound) {
    return "no socket there (is the daemon running? is the config the same?)";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied (join the socket's group)";
  }
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch { /* gone meanwhile */ }
  if (info?.isDirectory) {
    return `it is a directory; --socket names the socket file itself (${
      path.replace(/\/+$/, "")
    }/control.sock?)`;
  }
  if (info && !info.isSocket) return "it is not a socket (--socket names the control socket file)";
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused (stale socket: the daemon is not running)";
  }
  return (error as Error).message;
}

/** True when a live daemon answers on the socket. */
export async function socketIsLive(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}
