/**
 * Connections to the central PostgreSQL through `npm:postgres` (porsager's
 * client: pure JavaScript, COPY as Node streams, works under Deno's npm
 * layer). One connection per user of it: the shipper's transactions and its
 * COPY must run on the same session.
 *
 * Errors are turned into one line that names the cause (wrong password,
 * missing database, refused connection, TLS) and never carry the password.
 *
 * @module
 */

import postgres from "postgres";
import { type CentralConfig, type ConnectTarget, parseCentralUrl, readPassword } from "./config.ts";

/** A client of `npm:postgres` (a tagged-template SQL function with a pool of one). */
export type Sql = postgres.Sql;
/** A transaction's SQL function. */
export type TxSql = postgres.TransactionSql;

/** Options for {@linkcode connectCentral}. */
export interface ConnectOptions {
  /** `application_name` shown in `pg_stat_activity`. @default "vigia" */
  applicationName?: string;
  /** Seconds to wait for the connection. @default `section.timeout` */
  connectTimeout?: number;
  /**
   * Connections at most (each made when the others are busy): the shipper
   * keeps two transactions in flight. @default 1
   */
  connections?: number;
}

/** A connection and what was used to open it (for messages; the password stays inside). */
export interface CentralConnection {
  /** The SQL function. */
  sql: Sql;
  /** Where it goes. */
  target: ConnectTarget;
  /** Turns an error of this connection into a message without the password. */
  describe(error: unknown): string;
  /** Closes it (waits at most a few seconds for queries in flight). */
  close(): Promise<void>;
}

/** `host:port/db as user`, for messages and status (never a password). */
export function targetLabel(t: ConnectTarget): string {
  const where = t.host.startsWith("/") ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host}:${t.port}`;
  return `${where}/${t.database} as ${t.user}`;
}

function tlsOption(section: CentralConfig): postgres.Options<never>["ssl"] {
  switch (section.tls) {
    case "disable":
      return false;
    case "prefer":
      return "prefer";
    case "require":
      return "require";
    default:
      return section.ca_file
        ? { ca: Deno.readTextFileSync(section.ca_file), rejectUnauthorized: true }
        : { rejectUnauthorized: true };
  }
}

/** Removes every occurrence of `secret` from `text`. */
function redact(text: string, secret: string | undefined): string {
  return secret && secret.length > 0 ? text.split(secret).join("***") : text;
}

/**
 * One line naming the cause of a PostgreSQL or connection error, with the
 * SQLSTATE where there is one; `secret` is replaced by `***` in any case.
 */
export function describeError(error: unknown, target?: ConnectTarget, secret?: string): string {
  const e = error as { code?: string; message?: string; errno?: string };
  const where = target ? ` (${targetLabel(target)})` : "";
  let msg: string;
  switch (e?.code) {
    case "28P01":
      msg = `password authentication failed${where}: check central.password_file or $PGPASSWORD`;
      break;
    case "28000":
      msg = `the server refused the role${where}: ${e.message}`;
      break;
    case "3D000":
      msg = `the database does not exist${where}: create it (createdb) and run vigia central init`;
      break;
    case "ECONNREFUSED":
      msg = `connection refused${where}: is PostgreSQL running and listening there?`;
      break;
    case "ECONNRESET":
    case "EPIPE":
      msg = `the connection was reset${where}: PostgreSQL stopped or the network was cut`;
      break;
    case "ENOENT":
      msg = `no PostgreSQL socket${where}`;
      break;
    case "CONNECT_TIMEOUT":
      msg = `connection timed out${where}`;
      break;
    case "CONNECTION_CLOSED":
    case "CONNECTION_ENDED":
    case "CONNECTION_DESTROYED":
      msg = `the connection was closed${where}`;
      break;
    default: {
      const text = e?.message ?? String(error);
      msg = /certificate|SSL|TLS|self.signed/i.test(text)
        ? `TLS failed${where}: ${text}`
        : `${text}${e?.code && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : ""}`;
    }
  }
  return redact(msg, secret);
}

/**
 * Thrown when PostgreSQL gave no answer for `central.timeout` while a batch
 * or the connection was in flight: a network that drops packets (a pulled
 * cable, a firewall, a dead NAT entry) sends no reset, so only a timeout
 * can tell.
 */
export class NoAnswer extends Error {
  /** An error naming the target and the wait. */
  constructor(target: ConnectTarget, timeoutMs: number) {
    super(
      `no answer from PostgreSQL for ${timeoutMs / 1000} s (${
        targetLabel(target)
      }): the network may be cut; reconnecting`,
    );
    this.name = "NoAnswer";
  }
}

let guarded = false;

/**
 * `npm:postgres` 3.4.9 can write from a pending `setImmediate` after the server
 * dropped the connection and its socket was set to null (seen when PostgreSQL
 * is killed mid-COPY): an uncaught TypeError that would end the whole daemon.
 * The connection is already closed and the shipper reconnects, so that one
 * error is swallowed; any other uncaught error still ends the process.
 */
function guardClientRace(): void {
  if (guarded) return;
  guarded = true;
  globalThis.addEventListener("error", (event) => {
    const e = event.error;
    if (
      e instanceof TypeError && /reading 'write'/.test(e.message) &&
      /\/postgres\/[^/]+\/src\/connection\.js/.test(e.stack ?? "")
    ) {
      event.preventDefault();
    }
  });
}

/**
 * Opens a client for `section` (the connection itself is made by the first
 * query). Throws with a clear message when the url or password file is bad.
 */
export function connectCentral(
  section: CentralConfig,
  options: ConnectOptions = {},
): CentralConnection {
  const {
    applicationName = "vigia",
    connectTimeout = (section.timeout ?? 10_000) / 1000,
    connections = 1,
  } = options;
  guardClientRace();
  const target = parseCentralUrl(section.url);
  if (typeof target === "string") throw new Error(`central.url ${target}`);
  const password = readPassword(section);
  const sql = postgres({
    host: target.host,
    port: target.port,
    database: target.database,
    username: target.user,
    password,
    ssl: tlsOption(section),
    max: connections,
    connect_timeout: connectTimeout,
    idle_timeout: 0,
    max_lifetime: null,
    prepare: true,
    onnotice: () => {},
    connection: { application_name: applicationName },
    // bigint columns come back as JS numbers (ids and counts stay below 2^53).
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  });
  return {
    sql,
    target,
    describe: (e) => describeError(e, target, password),
    close: () => sql.end({ timeout: 2 }),
  };
}
