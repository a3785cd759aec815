/**
 * VeriDNS client: a TLS session to any VeriDNS server that sends Branch
 * Server Address Queries and VeriDNS Requests one after another, starting
 * from a random sequence number and adding 1 per request, and checks that
 * each answer carries the sequence number of its request.
 *
 * It uses `node:tls` because Deno's own `connectTls` cannot skip certificate
 * verification (`--insecure`) nor bind a source address.
 *
 * @example
 * ```ts ignore
 * import { veridnsVerify } from "./client.ts";
 * const r = await veridnsVerify({
 *   server: "127.0.0.1:4433",
 *   domain: "www.github.com",
 *   addresses: ["20.205.243.166"],
 *   ca: "var/lib/veridns.crt",
 * });
 * r.verified; // true
 * ```
 *
 * @module
 */

import tls from "node:tls";
import { parseIp } from "../net/mod.ts";
import {
  encodeBranchQuery,
  encodeVerifyRequest,
  type Frame,
  FrameDecoder,
  ipv4ToNumber,
  numberToIpv4,
} from "./codec.ts";

/** Where and how to connect. */
export interface ClientOptions {
  /** `HOST[:PORT]` or `[IPv6]:PORT`; the port defaults to 4433. */
  server: string;
  /** PEM file of the CA (or the self-signed certificate) to trust; else the system roots. */
  ca?: string;
  /** Skip certificate verification entirely. @default false */
  insecure?: boolean;
  /** Milliseconds for connecting and for each answer. @default 10000 */
  timeoutMs?: number;
  /** Source address to bind (tests use 127.0.0.x aliases). */
  localAddress?: string;
  /** First sequence number; random when absent. */
  initialSeq?: number;
}

/** A branch answer. */
export interface BranchResult {
  /** Sequence number of the exchange. */
  seq: number;
  /** Branch servers, first to try first. */
  addresses: string[];
}

/** A verification answer. */
export interface VerifyResult {
  /** Sequence number of the exchange. */
  seq: number;
  /** True when every reported address checked out. */
  verified: boolean;
  /** Addresses the server found malicious. */
  malicious: string[];
}

/** A failure talking to the server (connection, TLS, protocol). */
export class VeridnsClientError extends Error {
  /** Creates the error with a message for the user. */
  constructor(message: string) {
    super(message);
    this.name = "VeridnsClientError";
  }
}

/** Splits `HOST[:PORT]` / `[IPv6]:PORT` / bare IPv6; throws a `TypeError` on bad text. */
export function parseServer(text: string): { host: string; port: number } {
  const t = text.trim();
  let host = t, port = 4433;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if ((t.match(/:/g) ?? []).length === 1) {
    const i = t.indexOf(":");
    host = t.slice(0, i);
    const p = t.slice(i + 1);
    if (!/^\d+$/.test(p)) throw new TypeError(`port in "${text}" is not a number`);
    port = Number(p);
  }
  if (host === "" || !(parseIp(host) || /^[A-Za-z0-9.-]+$/.test(host))) {
    throw new TypeError(`"${text}" is not HOST[:PORT]`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`port in "${text}" must be from 1 to 65535`);
  }
  return { host, port };
}

function randomSeq(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** One TLS connection carrying several exchanges in turn. */
export class VeridnsSession {
  readonly #socket: tls.TLSSocket;
  readonly #decoder = new FrameDecoder({ role: "client", maxFrameLength: 1 << 20 });
  readonly #timeoutMs: number;
  #frames: Frame[] = [];
  #waiter: ((f: Frame | Error) => void) | undefined;
  #ended: Error | undefined;
  #seq: number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(socket: tls.TLSSocket, timeoutMs: number, seq: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#seq = seq;
    socket.on("data", (chunk: Uint8Array) => {
      const err = this.#decoder.feed(chunk, this.#frames);
      if (err) this.#end(new VeridnsClientError(`bad answer from the server: ${err.message}`));
      this.#deliver();
    });
    socket.on("end", () => this.#end(new VeridnsClientError("the server closed the connection")));
    socket.on("close", () => this.#end(new VeridnsClientError("the connection closed")));
    socket.on("error", (e: Error) => this.#end(new VeridnsClientError(e.message)));
  }

  /** Connects and completes the TLS handshake. */
  static open(options: ClientOptions): Promise<VeridnsSession> {
    const { timeoutMs = 10_000, insecure = false } = options;
    const { host, port } = parseServer(options.server);
    let ca: string | undefined;
    if (options.ca) {
      try {
        ca = Deno.readTextFileSync(options.ca);
      } catch (e) {
        return Promise.reject(
          new VeridnsClientError(`cannot read CA file ${options.ca}: ${(e as Error).message}`),
        );
      }
    }
    return new Promise((resolve, reject) => {
      // localAddress is passed on to net.connect (Node documents it there, not on tls.connect).
      const connectOptions: tls.ConnectionOptions & { localAddress?: string } = {
        host,
        port,
        ca: ca ? [ca] : undefined,
        rejectUnauthorized: !insecure,
        servername: parseIp(host) ? undefined : host,
        localAddress: options.localAddress,
        minVersion: "TLSv1.2",
      };
      const socket = tls.connect(connectOptions);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new VeridnsClientError(`no TLS session with ${options.server} in ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        const hint = /certificate|self.signed|verify/i.test(e.message)
          ? " (trust it with --ca FILE, or skip the check with --insecure)"
          : "";
        reject(new VeridnsClientError(`${options.server}: ${e.message}${hint}`));
      };
      socket.once("error", fail);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        resolve(new VeridnsSession(socket, timeoutMs, options.initialSeq ?? randomSeq()));
      });
    });
  }

  /** The sequence number the next request will carry. */
  get nextSeq(): number {
    return this.#seq;
  }

  #end(e: Error): void {
    this.#ended ??= e;
    this.#deliver();
  }

  #deliver(): void {
    if (!this.#waiter) return;
    const f = this.#frames.shift();
    if (f !== undefined) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w(f);
    } else if (this.#ended) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w(this.#ended);
    }
  }

  #exchange(request: Uint8Array, seq: number, type: 1 | 3): Promise<Frame> {
    const run = () =>
      new Promise<Frame>((resolve, reject) => {
        if (this.#ended && this.#frames.length === 0) return reject(this.#ended);
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          reject(new VeridnsClientError(`no answer within ${this.#timeoutMs} ms`));
        }, this.#timeoutMs);
        this.#waiter = (f) => {
          clearTimeout(timer);
          if (f instanceof Error) return reject(f);
          if (f.type !== type) {
            return reject(
              new VeridnsClientError(`the server answered with frame type ${f.type}, not ${type}`),
            );
          }
          if (f.seq !== seq) {
            return reject(
              new VeridnsClientError(
                `the answer carries sequence number ${f.seq}, the request ${seq}`,
              ),
            );
          }
          resolve(f);
        };
        this.#socket.write(request);
        this.#deliver();
      });
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  #takeSeq(): number {
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) >>> 0;
    return seq;
  }

  /** Asks for the branch servers. */
  async branch(): Promise<BranchResult> {
    const seq = this.#takeSeq();
    const f = await this.#exchange(encodeBranchQuery(seq), seq, 1);
    return { seq, addresses: f.type === 1 ? f.addresses.map(numberToIpv4) : [] };
  }

  /**
   * Asks whether `addresses` (IPv4 text) are legitimate for `domain`. Throws a
   * `TypeError` for an address that is not IPv4 or a domain over 256 bytes.
   */
  async verify(domain: string, addresses: string[]): Promise<VerifyResult> {
    const nums = addresses.map((a) => {
      const n = ipv4ToNumber(a.trim());
      if (n < 0) {
        throw new TypeError(`"${a}" is not an IPv4 address (the protocol carries IPv4 only)`);
      }
      return n;
    });
    let request: Uint8Array;
    const seq = this.#seq;
    try {
      request = encodeVerifyRequest(seq, domain, nums);
    } catch (e) {
      throw new TypeError((e as Error).message);
    }
    this.#takeSeq();
    const f = await this.#exchange(request, seq, 3);
    if (f.type !== 3) throw new VeridnsClientError("unexpected frame");
    return { seq, verified: f.verified, malicious: f.malicious.map(numberToIpv4) };
  }

  /** Closes the connection. */
  close(): void {
    this.#ended ??= new VeridnsClientError("session closed");
    this.#socket.destroy();
  }
}

/** Asks a server for the branch servers of this client; one exchange on a new connection. */
export async function veridnsBranch(options: ClientOptions): Promise<BranchResult> {
  const session = await VeridnsSession.open(options);
  try {
    return await session.branch();
  } finally {
    session.close();
  }
}

/** Asks a server to verify `addresses` seen for `domain`; one exchange on a new connection. */
export async function veridnsVerify(
  options: ClientOptions & { domain: string; addresses: string[] },
): Promise<VerifyResult> {
  // Bad input is a usage error: report it before connecting.
  for (const a of options.addresses) {
    if (ipv4ToNumber(a.trim()) < 0) {
      throw new TypeError(`"${a}" is not an IPv4 address (the protocol carries IPv4 only)`);
    }
  }
  if (new TextEncoder().encode(options.domain).length > 256 || options.domain.trim() === "") {
    throw new TypeError(`domain "${options.domain.slice(0, 40)}" must be 1 to 256 bytes`);
  }
  const session = await VeridnsSession.open(options);
  try {
    return await session.verify(options.domain, options.addresses);
  } finally {
    session.close();
  }
}
