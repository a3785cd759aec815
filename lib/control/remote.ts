/**
 * Remote access to the control API: the same JSON-line protocol as the local
 * socket, over TLS 1.2/1.3 (`tls_transport.ts` says why it is `node:tls`
 * and not `Deno.listenTls`), for clients holding a bearer token. Each token
 * has a role; `read` tokens may use only the verbs declared `read`.
 *
 * Guards, outermost first:
 * - per address: a ban after too many failed authentications, a cap on
 *   concurrent connections; a global cap on connections;
 * - per connection: a TLS handshake deadline, an idle deadline, a write
 *   deadline (a client that stops reading is dropped), a request size cap,
 *   a request rate;
 * - per request: token, then role, then the daemon's own dispatch, which
 *   checks the role again ({@linkcode authoriseRemote}).
 *
 * Only authentication failures (no token, a wrong one) count towards an
 * address's ban: they are what guessing looks like. A valid token asking for
 * a verb above its role is refused and audited, but proves no guessing.
 *
 * Every admin action is published on the alert bus as `remote-admin`
 * (severity notice; stored, written to the alerts file, logged); refused
 * requests as `remote-auth-failure` / `remote-denied` / `remote-ban`, folded
 * by the bus's de-duplication so a flood of failures cannot flood the files.
 *
 * @example
 * ```ts ignore
 * const remote = await RemoteControl.start(config.control.remote, {
 *   stateDir: config.paths.state_dir,
 *   dispatch: (request, origin) => daemon.dispatch(request, origin),
 *   audit: alertBus,
 *   log,
 * });
 * // ... later
 * await remote.close();
 * ```
 *
 * @module
 */

import type net from "node:net";
import type tls from "node:tls";
import type { AlertPublisher } from "../alerts/mod.ts";
import type { Logger } from "../log/mod.ts";
import { formatIp, parseHostPort, parseIp } from "../net/mod.ts";
import { certificateFingerprint, ensureSelfSigned } from "../tls/mod.ts";
import type { ControlRequest } from "./protocol.ts";
import { type Dispatch, type RequestOrigin, serveConnections } from "./server.ts";
import { ConnQueue, listenTcp, plainIp, serverContext, TlsStreamConn } from "./tls_transport.ts";
import { FailureTracker, TokenBucket } from "./limits.ts";
import { DEFAULT_REMOTE_PORT, type RemoteConfig } from "./remote_config.ts";
import {
  looksLikeToken,
  parseTokenHash,
  type Role,
  roleAllows,
  tokenDigest,
  type TokenHash,
  type VerbRoles,
  verifyToken,
} from "./token.ts";

export { DEFAULT_REMOTE_PORT, type RemoteConfig, remoteSection } from "./remote_config.ts";
export { type Role, roleAllows, type VerbRoles } from "./token.ts";

/** The origin of a remote request once its token was accepted. */
export interface RemoteOrigin extends RequestOrigin {
  transport: "remote";
  /** `IP:PORT` of the client. */
  address: string;
  /** Name of the token (from the config). */
  token_name: string;
  /** Role of the token. */
  role: Role;
}

/**
 * The daemon's own check, run inside dispatch: a remote request must carry a
 * role (set only after its token was accepted) that allows the verb. Local
 * requests pass. Throws an Error with a clear message otherwise.
 */
export function authoriseRemote(verb: string, origin: RequestOrigin, roles: VerbRoles): void {
  if (origin.transport !== "remote") return;
  const role = (origin as Partial<RemoteOrigin>).role;
  if (role !== "read" && role !== "admin") {
    throw new Error("remote request without an accepted token: refused");
  }
  if (!roleAllows(role, roles(verb))) {
    throw new Error(`the token's role "${role}" does not allow "${verb}"`);
  }
}

/** Options for {@linkcode RemoteControl.start}. */
export interface RemoteControlOptions {
  /** Where a self-signed certificate is kept when none is configured (`paths.state_dir`). */
  stateDir: string;
  /** The daemon's dispatch; called only for accepted requests, with a {@linkcode RemoteOrigin}. */
  dispatch: Dispatch;
  /** Where audit events go (the alert bus: store + alerts file + log). */
  audit: AlertPublisher;
  /** The role each verb needs (from the verb specs). */
  roles: VerbRoles;
  /** Logger for the listener. */
  log: Logger;
}

interface TokenEntry {
  name: string;
  role: Role;
  hash: TokenHash;
}

/** Concurrent refusals (handshake + one error line) at most; beyond this a refused client is just closed. */
const MAX_REFUSING = 32;

/** Compiles the token table; throws listing every unusable entry. */
function compileTokens(tokens: RemoteConfig["token"]): TokenEntry[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const out: TokenEntry[] = [];
  tokens.forEach((t, i) => {
    const where = `control.remote.token[${i}]`;
    if (!t.name) problems.push(`${where}: name is empty`);
    else if (seen.has(t.name)) problems.push(`${where}: name "${t.name}" is used twice`);
    seen.add(t.name);
    const hash = parseTokenHash(t.hash);
    if (typeof hash === "string") {
      problems.push(
        t.hash === ""
          ? `${where}: hash is missing (make one with: vigia token new --role ${t.role})`
          : `${where}: hash: ${hash}`,
      );
    } else out.push({ name: t.name, role: t.role as Role, hash });
  });
  if (problems.length) throw new Error(problems.join("; "));
  return out;
}

/**
 * Key that limits apply to: the address itself for IPv4, the /64 for IPv6
 * (one host usually holds a whole /64, so per-address limits would be void).
 */
export function clientKey(ip: string): string {
  const bytes = parseIp(ip);
  if (!bytes || bytes.length === 4) return ip;
  const isMapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  if (isMapped) return formatIp(bytes, 12, 4);
  const net = new Uint8Array(16);
  net.set(bytes.subarray(0, 8));
  return `${formatIp(net)}/64`;
}

function ipOf(address: string): string {
  const i = address.lastIndexOf(":");
  return i < 0 ? address : address.slice(0, i);
}

/** Keys of `[control.remote]` fixed while the listener runs (bound sockets, the protocol loop's options). */
export const RESTART_KEYS = [
  "enabled",
  "listen",
  "cert",
  "key",
  "max_request_bytes",
  "idle_timeout",
] as const;

/** Longest time a closing connection is drained, so its last answer is not lost to a TCP reset. */
const LINGER_MS = 1000;

/** Counters of the remote listener, for `ctl stats`. */
interface RemoteCounters {
  connections_accepted: number;
  connections_refused: number;
  requests: number;
  requests_rate_limited: number;
  auth_failures: number;
  role_refusals: number;
  bans: number;
  admin_actions: number;
}

/** The remote control listener. */
export class RemoteControl {
  #section: RemoteConfig;
  readonly #options: RemoteControlOptions;
  readonly #log: Logger;
  #tokens: TokenEntry[];
  /** SHA-256 of accepted tokens → entry, so a known token costs one hash, not a PBKDF2 run. */
  #verified = new Map<string, TokenEntry>();
  readonly #failures: FailureTracker;
  readonly #buckets = new WeakMap<RequestOrigin, TokenBucket>();
  readonly #perClient = new Map<string, number>();
  #open = 0;
  #refusing = 0;
  /** Every live connection, admitted or being refused, for a bounded stop. */
  readonly #conns = new Set<TlsStreamConn>();
  #context: tls.SecureContext | undefined;
  #servers: net.Server[] = [];
  #queue = new ConnQueue<TlsStreamConn>();
  #serving: Promise<void> | undefined;
  #addresses: string[] = [];
  #fingerprint = "";
  #certPath = "";
  #auditSeq = 0;
  #closed = false;
  readonly #counters: RemoteCounters = {
    connections_accepted: 0,
    connections_refused: 0,
    requests: 0,
    requests_rate_limited: 0,
    auth_failures: 0,
    role_refusals: 0,
    bans: 0,
    admin_actions: 0,
  };

  private constructor(section: RemoteConfig, options: RemoteControlOptions) {
    this.#section = section;
    this.#options = options;
    this.#log = options.log;
    this.#tokens = compileTokens(section.token);
    this.#failures = new FailureTracker(RemoteControl.#failureLimits(section));
  }

  static #failureLimits(s: RemoteConfig) {
    return { failures: s.auth_failures, windowMs: s.auth_failure_window, banMs: s.auth_ban };
  }

  /**
   * Loads or makes the certificate, binds every listen address and starts
   * serving. Throws (binding nothing) when a token entry, the certificate or
   * an address is unusable.
   */
  static async start(
    section: RemoteConfig,
    options: RemoteControlOptions,
  ): Promise<RemoteControl> {
    const remote = new RemoteControl(section, options);
    try {
      await remote.#bind();
    } catch (e) {
      await remote.close();
      throw e;
    }
    return remote;
  }

  async #bind(): Promise<void> {
    const s = this.#section;
    const addrs = s.listen.map((text) => {
      const hp = parseHostPort(text, DEFAULT_REMOTE_PORT);
      if (typeof hp === "string") throw new Error(`control.remote.listen: ${hp}`);
      return hp;
    });
    let cert: string, key: string;
    if (s.cert || s.key) {
      if (!s.cert || !s.key) {
        throw new Error("control.remote: give both cert and key, or neither for a self-signed one");
      }
      try {
        [cert, key] = await Promise.all([Deno.readTextFile(s.cert), Deno.readTextFile(s.key)]);
      } catch (e) {
        throw new Error(
          `control.remote: cannot read the certificate or key: ${(e as Error).message}`,
        );
      }
      this.#certPath = s.cert;
      this.#fingerprint = await certificateFingerprint(cert);
    } else {
      const made = await ensureSelfSigned(this.#options.stateDir, {
        commonName: "vigia control",
        altNames: selfSignedNames(addrs.map((a) => a.host)),
        basename: "control-remote",
      });
      [cert, key] = await Promise.all([
        Deno.readTextFile(made.certPath),
        Deno.readTextFile(made.keyPath),
      ]);
      this.#certPath = made.certPath;
      this.#fingerprint = made.fingerprint;
      if (made.created) {
        this.#log.info("made a self-signed certificate", { cert: made.certPath });
      }
    }
    try {
      this.#context = serverContext(cert, key);
    } catch (e) {
      throw new Error(`control.remote: unusable certificate or key: ${(e as Error).message}`);
    }
    for (const a of addrs) {
      let server: net.Server;
      try {
        server = await listenTcp(a.host, a.port, (raw) => this.#onConnection(raw));
      } catch (e) {
        throw new Error(
          `control.remote: cannot listen on ${a.host}:${a.port}: ${(e as Error).message}`,
        );
      }
      server.on("error", (e: Error) => this.#log.error("listener error", { error: e }));
      this.#servers.push(server);
      const bound = server.address() as net.AddressInfo;
      this.#addresses.push(
        bound.address.includes(":")
          ? `[${bound.address}]:${bound.port}`
          : `${bound.address}:${bound.port}`,
      );
    }
    this.#serving = serveConnections(
      this.#queue as unknown as Deno.Listener,
      (req, origin) => this.#dispatch(req, origin),
      {
        maxRequestBytes: s.max_request_bytes,
        requestTimeoutMs: s.idle_timeout,
        // #onConnection enforces max_connections before serveConnections sees a connection.
        maxClients: Number.MAX_SAFE_INTEGER,
        log: this.#log,
        transport: "remote",
        admit: (conn) => (conn as unknown as TlsStreamConn).handshake(),
      },
    );
    if (this.#tokens.length === 0) {
      this.#log.warn("no [[control.remote.token]] configured: every remote request is refused");
    }
    this.#log.info("remote control listening", {
      listen: this.#addresses.join(","),
      sha256: this.#fingerprint,
      cert: this.#certPath,
      tokens: this.#tokens.length,
    });
  }

  #limits() {
    const s = this.#section;
    return {
      handshakeTimeoutMs: s.handshake_timeout,
      writeTimeoutMs: s.idle_timeout,
      lingerMs: LINGER_MS,
    };
  }

  /** Refuses banned or excess clients (with one error line); hands the rest to the protocol loop. */
  #onConnection(raw: net.Socket): void {
    if (this.#closed || !this.#context) {
      raw.destroy();
      return;
    }
    const ip = plainIp(raw.remoteAddress ?? "?");
    const key = clientKey(ip);
    const s = this.#section;
    const banned = this.#failures.bannedFor(key);
    const fromClient = this.#perClient.get(key) ?? 0;
    const refusal = banned > 0
      ? `refused: too many failed authentications from ${ip}; retry in ${
        Math.ceil(banned / 1000)
      } s`
      : this.#open >= s.max_connections
      ? "refused: too many remote control clients"
      : fromClient >= s.max_connections_per_ip
      ? `refused: too many connections from ${ip} (at most ${s.max_connections_per_ip})`
      : undefined;
    if (refusal) {
      this.#counters.connections_refused++;
      this.#refuse(raw, refusal);
      return;
    }
    this.#open++;
    this.#perClient.set(key, fromClient + 1);
    this.#counters.connections_accepted++;
    const conn = new TlsStreamConn(raw, this.#context, this.#limits());
    this.#conns.add(conn);
    conn.closed.then(() => {
      this.#conns.delete(conn);
      this.#open--;
      const n = (this.#perClient.get(key) ?? 1) - 1;
      if (n <= 0) this.#perClient.delete(key);
      else this.#perClient.set(key, n);
    });
    this.#queue.push(conn);
  }

  /** Tells a refused client why (bounded by the handshake timeout and linger), then closes. */
  #refuse(raw: net.Socket, message: string): void {
    if (this.#refusing >= MAX_REFUSING) {
      raw.destroy();
      return;
    }
    this.#refusing++;
    const conn = new TlsStreamConn(raw, this.#context!, this.#limits());
    this.#conns.add(conn);
    conn.closed.then(() => {
      this.#conns.delete(conn);
      this.#refusing--;
    });
    (async () => {
      await conn.handshake();
      await conn.write(
        new TextEncoder().encode(JSON.stringify({ ok: false, error: message }) + "\n"),
      );
      conn.close();
    })().catch(() => conn.destroy());
  }

  #failure(key: string, ip: string, message: string, reason: string): Error {
    this.#counters.auth_failures++;
    this.#options.audit.publish({
      kind: "remote-auth-failure",
      severity: "warning",
      subject: `${ip}: ${reason}`,
      details: { client: ip, reason },
    });
    if (this.#failures.fail(key)) {
      this.#counters.bans++;
      this.#options.audit.publish({
        kind: "remote-ban",
        severity: "warning",
        subject: key,
        details: {
          client: ip,
          failures: this.#section.auth_failures,
          ban_s: Math.round(this.#section.auth_ban / 1000),
        },
      });
    }
    return new Error(message);
  }

  async #authenticate(token: string): Promise<TokenEntry | undefined> {
    const digest = await tokenDigest(token);
    const hit = this.#verified.get(digest);
    if (hit) return hit;
    const tokens = this.#tokens;
    const matches = await Promise.all(tokens.map((t) => verifyToken(token, t.hash)));
    const entry = tokens[matches.indexOf(true)];
    // Only cache against the token set it was checked with (a reload may have replaced it).
    if (entry && tokens === this.#tokens) this.#verified.set(digest, entry);
    return entry;
  }

  async #dispatch(request: ControlRequest, origin: RequestOrigin): Promise<unknown> {
    this.#counters.requests++;
    const address = origin.address ?? "?";
    const ip = ipOf(address);
    const key = clientKey(ip);
    let bucket = this.#buckets.get(origin);
    if (!bucket) {
      const rate = this.#section.requests_per_second;
      bucket = new TokenBucket(rate, rate * 2);
      this.#buckets.set(origin, bucket);
    }
    if (!bucket.take()) {
      this.#counters.requests_rate_limited++;
      throw new Error(
        `rate limit: at most ${this.#section.requests_per_second} requests per second per connection`,
      );
    }
    const banned = this.#failures.bannedFor(key);
    if (banned > 0) {
      throw new Error(
        `refused: too many failed authentications from ${ip}; retry in ${
          Math.ceil(banned / 1000)
        } s`,
      );
    }
    const token = typeof request.token === "string" ? request.token : "";
    if (!token) {
      throw this.#failure(
        key,
        ip,
        "authentication required: remote requests need a token (vigia ctl --remote HOST:PORT --token-file FILE)",
        "no token",
      );
    }
    const entry = looksLikeToken(token) ? await this.#authenticate(token) : undefined;
    if (!entry) {
      throw this.#failure(
        key,
        ip,
        "authentication failed: the token is not accepted",
        "wrong token",
      );
    }
    const verb = request.verb;
    const needed = this.#options.roles(verb);
    if (!roleAllows(entry.role, needed)) {
      this.#counters.role_refusals++;
      this.#options.audit.publish({
        kind: "remote-denied",
        severity: "notice",
        subject: `${entry.name}@${ip}: ${verb}`,
        details: { token: entry.name, role: entry.role, client: ip, verb },
      });
      throw new Error(
        `permission denied: token "${entry.name}" has role "${entry.role}"; "${verb}" needs role "admin"`,
      );
    }
    const authed: RemoteOrigin = {
      transport: "remote",
      address,
      token_name: entry.name,
      role: entry.role,
    };
    const { token: _drop, ...clean } = request;
    if (needed === "read") return await this.#options.dispatch(clean, authed);
    let result: unknown;
    try {
      result = await this.#options.dispatch(clean, authed);
    } catch (e) {
      this.#audit(entry, ip, clean, (e as Error).message);
      throw e;
    }
    this.#audit(entry, ip, clean, undefined);
    return result;
  }

  #audit(entry: TokenEntry, ip: string, request: ControlRequest, error: string | undefined): void {
    this.#counters.admin_actions++;
    const { timeout_ms: _t, ...args } = request.args ?? {};
    let argsText = JSON.stringify(args);
    if (argsText.length > 500) argsText = argsText.slice(0, 500) + "…";
    const seq = ++this.#auditSeq;
    // The sequence number keeps each action's subject distinct, so de-duplication never folds two.
    this.#options.audit.publish({
      kind: "remote-admin",
      severity: "notice",
      subject: `${entry.name}@${ip}: ${request.verb}${
        argsText === "{}" ? "" : " " + argsText
      } #${seq}`,
      details: {
        token: entry.name,
        role: entry.role,
        client: ip,
        verb: request.verb,
        args: argsText,
        result: error === undefined ? "ok" : "error",
        ...(error === undefined ? {} : { error: error.slice(0, 500) }),
      },
    });
  }

  /**
   * Applies a reloaded `[control.remote]`: tokens, connection caps, rates,
   * the handshake deadline and the ban rule at once; the keys in
   * {@linkcode RESTART_KEYS} only at the next restart (returned as warnings).
   * Throws, changing nothing, when a token entry is unusable.
   */
  reconfigure(section: RemoteConfig): string[] {
    const tokens = compileTokens(section.token);
    const warnings: string[] = [];
    const prev = this.#section;
    const next: Record<string, unknown> = { ...section };
    for (const k of RESTART_KEYS) {
      if (JSON.stringify(prev[k]) !== JSON.stringify(section[k])) {
        warnings.push(`[control.remote] ${k} changed: takes effect at the next restart`);
      }
      next[k] = prev[k];
    }
    this.#section = next as RemoteConfig;
    this.#tokens = tokens;
    this.#verified.clear();
    this.#failures.setLimits(RemoteControl.#failureLimits(section));
    return warnings;
  }

  /** The section in force (listen/cert/key as bound at start). */
  get section(): RemoteConfig {
    return this.#section;
  }

  /** Bound addresses (`IP:PORT`), with the real port when 0 was asked. */
  get addresses(): string[] {
    return [...this.#addresses];
  }

  /** SHA-256 fingerprint of the served certificate (colon-separated hex). */
  get fingerprint(): string {
    return this.#fingerprint;
  }

  /** For `ctl status`. */
  status(): Record<string, unknown> {
    return {
      listen: this.#addresses,
      sha256: this.#fingerprint,
      cert: this.#certPath,
      tokens: this.#tokens.map((t) => `${t.name}(${t.role})`),
      connections: this.#open,
      banned: this.#failures.banned(),
    };
  }

  /** For `ctl stats`. */
  stats(): Record<string, unknown> {
    return { ...this.#counters, connections_open: this.#open };
  }

  /** Stops listening and closes every connection (bounded by the linger time). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stopped = Promise.all(
      this.#servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))),
    );
    for (const c of this.#queue.end()) c.destroy();
    for (const c of this.#conns) c.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([stopped, this.#serving, ...[...this.#conns].map((c) => c.closed)]),
      new Promise((r) => (timer = setTimeout(r, LINGER_MS + 200))),
    ]);
    clearTimeout(timer);
    for (const c of this.#conns) c.destroy();
  }
}

/** Names for a self-signed certificate: loopback, the host name, and the listen addresses (all interfaces for a wildcard). */
function selfSignedNames(hosts: string[]): string[] {
  const names = new Set(["localhost", "127.0.0.1", "::1"]);
  try {
    names.add(Deno.hostname());
  } catch { /* no --allow-sys */ }
  for (const h of hosts) {
    if (h === "0.0.0.0" || h === "::") {
      try {
        for (const i of Deno.networkInterfaces()) names.add(i.address.replace(/%.*$/, ""));
      } catch { /* no --allow-sys */ }
    } else names.add(h);
  }
  return [...names].filter((n) => n && (parseIp(n) !== null || /^[A-Za-z0-9.-]+$/.test(n)));
}
