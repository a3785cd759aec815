/**
 * `ctl logs` and `ctl devices`: filtered, sorted, keyset-paged reads that
 * return their first page quickly whatever the table size.
 *
 * The events table has only `(time)`, `(flow, time)` and a partial DHCP
 * `(time)` index (insert speed comes first, see `schema.ts`). A query is
 * answered in two steps:
 *
 * 1. The MAC, IP, vendor and kind filters are resolved on the small `flows`
 *    table (each of its columns is indexed), giving the matching flows in
 *    the order of the sort key, with their event counts and time spans.
 * 2. Events are read per flow through `(flow, time)`, each flow already in
 *    time order within the requested time range:
 *    - **date order**: the flows' searches are merged (UNION ALL of
 *      index-ordered arms); a large set of flows is read with one IN
 *      search and sorted when it holds few rows, or by walking the time
 *      index within the flows' time span; with no flow filter at all, the
 *      time index is walked directly (the partial index for `--kind dhcp`).
 *    - **ip / mac / vendor order**: the flows are grouped by the client IP,
 *      the client MAC, or the maker and MAC, and the groups are visited in
 *      order, each read in time order, until the page is full. This is what
 *      keeps `--day D --sort ip` fast: no index walk over other days' rows
 *      (the known 2.5 s plan) and no sort of a whole day.
 *
 * Pages continue with a cursor holding the last row's sort key
 * (`[key..., time, id]`), so page N costs about what page 1 costs.
 *
 * @module
 */

import {
  type ArgSpecs,
  type ArgValues,
  dayStart,
  nextDay,
  paging,
  parseArgs,
  type ParseOptions,
  timeRange,
} from "../daemon/args.ts";
import { VerbError, VerbUsageError } from "../daemon/errors.ts";
import { ZonedClock } from "../daylog/mod.ts";
import { parseMac } from "../net/mod.ts";
import type { SqlValue } from "../store/mod.ts";
import type { Reader } from "./events_db.ts";
import { getCapture } from "./captures.ts";
import { cidrToKeyRange, intToMac, type IpKey, macToInt } from "./codec.ts";
import { DEVICE_FIELDS, EVENT_COLUMNS, isSkipped } from "./fields.ts";
import { type EventRow, presentEvent } from "./present.ts";

/** Sort keys of `ctl logs`. `date` and `time` both mean chronological order. */
export type LogSort = "date" | "time" | "ip" | "mac" | "vendor";

/** A parsed `ctl logs` request. */
export interface LogQuery {
  /** Client station MAC. */
  mac?: number;
  /** Maker name contains this text (case-insensitive). */
  vendor?: string;
  /** "dns" or "dhcp". */
  kind?: "dns" | "dhcp";
  /** Client or server IP within this key range (a single address or a CIDR). */
  ip?: [IpKey, IpKey];
  /** Time range, µs: from (inclusive). */
  from?: number;
  /** Time range, µs: to (exclusive). */
  to?: number;
  /** Only the events of this ingest (`captures.id`). */
  capture?: number;
  /** The id range that ingest may have written (set by {@linkcode queryLogs} from its record). */
  captureIds?: [number, number];
  /** Sort key. */
  sort: LogSort;
  /** Descending. */
  desc: boolean;
  /** Rows per page. */
  limit: number;
  /** Continue after this position. */
  cursor?: CursorKey;
}

/** The sort key of the last row of a page: `[sort value(s)..., time, id]`. */
export type CursorKey = SqlValue[];

/** A page of results. */
export interface Page<T> {
  /** The rows. */
  rows: T[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next_cursor?: string;
}

/** A large group of flows holding at most this many rows is read with IN and sorted. */
export const SMALL_MATCH = 20_000;
/** Groups of flows a page visits at most before it returns what it has (with a cursor). */
export const MAX_VISITS = 20_000;

const COLUMNS = EVENT_COLUMNS.map((c) => c.name).join(", ");

export type { EventRow };

// ---------------------------------------------------------------- cursors

function encodeValue(v: SqlValue): unknown {
  if (v instanceof Uint8Array) {
    return { b: Array.from(v, (x) => x.toString(16).padStart(2, "0")).join("") };
  }
  return v;
}

function decodeValue(v: unknown): SqlValue {
  if (v !== null && typeof v === "object" && typeof (v as { b?: unknown }).b === "string") {
    const hex = (v as { b: string }).b;
    if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error("bad blob");
    return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
  }
  if (v === null || typeof v === "number" || typeof v === "string") return v;
  throw new Error("bad value");
}

/** Encodes a cursor for `sort`/`desc` ending at `key`. */
export function encodeCursor(sort: string, desc: boolean, key: CursorKey): string {
  const json = JSON.stringify({ s: sort, d: desc ? 1 : 0, k: key.map(encodeValue) });
  return btoa(json).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a cursor made by {@linkcode encodeCursor}; throws VerbError when it does not fit. */
export function decodeCursor(text: string, sort: string, desc: boolean, size: number): CursorKey {
  let parsed: { s: string; d: number; k: unknown[] };
  try {
    parsed = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
    const key = parsed.k.map(decodeValue);
    if (parsed.s !== sort || Boolean(parsed.d) !== desc) {
      throw new VerbUsageError(
        `--cursor was made for --sort ${parsed.s}${
          parsed.d ? " --desc" : ""
        }; repeat the same sort`,
      );
    }
    if (key.length !== size) throw new Error("size");
    return key;
  } catch (e) {
    if (e instanceof VerbUsageError) throw e;
    throw new VerbUsageError(`--cursor must be a cursor printed by an earlier page: got "${text}"`);
  }
}

// ---------------------------------------------------------------- arguments

const LOG_SORTS = ["date", "time", "ip", "mac", "vendor"] as const;

/** The arguments of `ctl logs` (parsed by the daemon's argument layer). */
export const logArgs = {
  mac: { type: "string", describe: "client station MAC (querier, answered host, DHCP client)" },
  vendor: { type: "string", describe: "client's maker contains TEXT (case-insensitive)" },
  kind: { type: "string", describe: "dns or dhcp", choices: ["dns", "dhcp"] },
  ip: { type: "string", describe: "client or server IP, or a CIDR range" },
  day: { type: "day", describe: "local day YYYY-MM-DD (in log.timezone)" },
  ...timeRange(),
  sort: {
    type: "string",
    describe: "sort key (date and time: chronological)",
    choices: LOG_SORTS,
    default: "date",
  },
  desc: { type: "boolean", describe: "descending order", default: false },
  capture: {
    type: "integer",
    describe: "only the events of this ingest (vigia ctl captures lists them)",
    max: Number.MAX_SAFE_INTEGER,
  },
  ...paging(50),
} as const satisfies ArgSpecs;

/** The arguments of `ctl devices`. */
export const deviceArgs = {
  vendor: { type: "string", describe: "vendor name contains TEXT" },
  ...paging(100),
} as const satisfies ArgSpecs;

/**
 * Parses the `logs` verb arguments (raw, as a request carries them, or
 * already parsed); throws VerbUsageError with a clear message.
 */
export function parseLogArgs(
  args: Record<string, unknown>,
  options: ParseOptions = {},
): LogQuery {
  return logQuery(parseArgs(logArgs, args, options), options);
}

/** The query of parsed `logs` arguments. */
export function logQuery(args: ArgValues<typeof logArgs>, options: ParseOptions = {}): LogQuery {
  const sort = args.sort === "time" ? "date" : args.sort as LogSort;
  const q: LogQuery = { sort, desc: args.desc, limit: args.limit };
  if (args.mac !== undefined) {
    const m = parseMac(args.mac);
    if (!m) {
      throw new VerbUsageError(
        `--mac must be a MAC address like aa:bb:cc:dd:ee:ff: got "${args.mac}"`,
      );
    }
    q.mac = macToInt(m)!;
  }
  if (args.vendor !== undefined) q.vendor = args.vendor.toLowerCase();
  if (args.kind === "dns" || args.kind === "dhcp") q.kind = args.kind;
  if (args.ip !== undefined) {
    const r = cidrToKeyRange(args.ip);
    if (!r) {
      throw new VerbUsageError(
        `--ip must be an IP address or a CIDR range like 10.0.0.0/8: got "${args.ip}"`,
      );
    }
    q.ip = r;
  }
  let from: number | undefined, to: number | undefined;
  if (args.day !== undefined) {
    from = dayStart(args.day, options.timeZone);
    to = dayStart(nextDay(args.day), options.timeZone);
  }
  if (args.since !== undefined) from = from === undefined ? args.since : Math.max(from, args.since);
  if (args.until !== undefined) to = to === undefined ? args.until : Math.min(to, args.until);
  if (from !== undefined) q.from = Math.round(from * 1000);
  if (to !== undefined) q.to = Math.round(to * 1000);
  if (args.capture !== undefined) q.capture = args.capture;
  if (args.cursor !== undefined) {
    q.cursor = decodeCursor(args.cursor, q.sort, q.desc, keySize(q.sort));
  }
  return q;
}

function keySize(sort: LogSort): number {
  return sort === "vendor" ? 4 : sort === "date" || sort === "time" ? 2 : 3;
}

// ---------------------------------------------------------------- SQL pieces

// ---------------------------------------------------------------- SQL pieces

function and(parts: string[]): string {
  return parts.length ? parts.join(" AND ") : "1";
}

function orderBy(cols: string[], desc: boolean): string {
  return cols.map((c) => `${c}${desc ? " DESC" : ""}`).join(", ");
}

/** SQLite's order of the values stored here: NULL < numbers < text < blobs (memcmp). */
export function compareKeys(a: SqlValue, b: SqlValue): number {
  const rank = (v: SqlValue) =>
    v === null || v === undefined
      ? 0
      : typeof v === "number" || typeof v === "bigint"
      ? 1
      : typeof v === "string"
      ? 2
      : 3;
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) return Number(a) - Number(b);
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  const x = a as Uint8Array, y = b as Uint8Array;
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// ---------------------------------------------------------------- plans

/** What a plan did, for tests and the query bench. */
export interface PlanTrace {
  /** Plan name. */
  plan: string;
  /** SQL statements run (each text once). */
  sql: string[];
  /** Groups of flows visited. */
  visits: number;
  /** Flows matching the filters (undefined when the plan needed none). */
  flows?: number;
}

/** A flow as the planner sees it. */
interface Flow {
  id: number;
  client_mac: number | null;
  client_ip: IpKey;
  vendor: string;
  events: number;
  first_seen: number;
  last_seen: number;
}

interface Ctx {
  store: Reader;
  q: LogQuery;
  trace: PlanTrace;
}

const SELECT = `SELECT ${
  COLUMNS.split(",").map((c) => `e.${c.trim()}`).join(", ")
}, f.client_mac, f.client_ip, f.vendor`;

/** Arms merged with UNION ALL at most; larger groups are read with IN and sorted, or walked. */
const MAX_ARMS = 16;

function run(ctx: Ctx, sql: string, params: SqlValue[]): EventRow[] {
  if (!ctx.trace.sql.includes(sql)) ctx.trace.sql.push(sql);
  return ctx.store.query<EventRow>(sql, ...params);
}

/**
 * The time condition of a search: ONE lower and ONE upper bound, the
 * tightest of the query's range, the flows' span and the resume point
 * (SQLite uses a single bound per side for an index range and cannot tell
 * which of several is tighter), plus the exact resume test on (time, id).
 */
function timeWhere(
  q: LogQuery,
  resume: SqlValue[] | undefined,
  span?: [number, number],
): { sql: string[]; params: SqlValue[] } {
  let lo = q.from ?? -Infinity, hi = q.to ?? Infinity; // [lo, hi)
  if (span) {
    lo = Math.max(lo, span[0]);
    hi = Math.min(hi, span[1] + 1);
  }
  const sql: string[] = [];
  const params: SqlValue[] = [];
  if (resume) {
    const t = Number(resume[0]);
    if (q.desc) hi = Math.min(hi, t + 1);
    else lo = Math.max(lo, t);
  }
  if (lo > -Infinity) {
    sql.push("e.time >= ?");
    params.push(lo);
  }
  if (hi < Infinity) {
    sql.push("e.time < ?");
    params.push(hi);
  }
  if (q.captureIds) {
    // The ingest's id range (rowid) narrows the rows; the capture column tells live rows in it apart.
    sql.push("e.id BETWEEN ? AND ?", "e.capture = ?");
    params.push(q.captureIds[0], q.captureIds[1], q.capture ?? null);
  }
  if (resume) {
    // Written with OR so that it is a filter, not a second index bound.
    sql.push(
      q.desc
        ? "(e.time < ? OR (e.time = ? AND e.id < ?))"
        : "(e.time > ? OR (e.time = ? AND e.id > ?))",
    );
    params.push(resume[0], resume[0], resume[1]);
  }
  return { sql, params };
}

/** The flows matching the flow-level filters, in the order of `sort`. */
function matchingFlows(store: Reader, q: LogQuery): Flow[] {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (q.kind) {
    where.push("kind = ?");
    params.push(q.kind);
  }
  if (q.mac !== undefined) {
    where.push("client_mac = ?");
    params.push(q.mac);
  }
  if (q.vendor !== undefined) {
    where.push("instr(lower(vendor), ?) > 0");
    params.push(q.vendor);
  }
  if (q.ip !== undefined) {
    where.push("(client_ip BETWEEN ? AND ? OR server_ip BETWEEN ? AND ?)");
    params.push(q.ip[0], q.ip[1], q.ip[0], q.ip[1]);
  }
  if (q.from !== undefined) {
    where.push("last_seen >= ?");
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push("first_seen < ?");
    params.push(q.to);
  }
  const order = q.sort === "ip"
    ? "client_ip, id"
    : q.sort === "mac"
    ? "client_mac, id"
    : q.sort === "vendor"
    ? "vendor, client_mac, id"
    : "id";
  return store.query<Flow>(
    `SELECT id, client_mac, client_ip, vendor, events, first_seen, last_seen FROM flows WHERE ${
      and(where)
    } ORDER BY ${order}`,
    ...params,
  );
}

/**
 * The rows of a group of flows in time order, continuing after `resume`
 * ([time, id]) when given: one index-ordered search per flow, merged; or,
 * for a large group, an IN search sorted (few rows) or a walk of the time
 * index restricted to the group's time span (many rows).
 */
function groupRows(ctx: Ctx, group: Flow[], limit: number, resume?: SqlValue[]): EventRow[] {
  const { q } = ctx;
  const t = timeWhere(q, resume);
  const ord = orderBy(["e.time", "e.id"], q.desc);
  if (group.length <= MAX_ARMS) {
    const arm =
      `SELECT * FROM (${SELECT} FROM events AS e INDEXED BY events_flow CROSS JOIN flows AS f ON f.id = e.flow WHERE ${
        and(["e.flow = ?", ...t.sql])
      } ORDER BY ${ord} LIMIT ?)`;
    if (group.length === 1) {
      return run(
        ctx,
        `${SELECT} FROM events AS e INDEXED BY events_flow CROSS JOIN flows AS f ON f.id = e.flow WHERE ${
          and(["e.flow = ?", ...t.sql])
        } ORDER BY ${ord} LIMIT ?`,
        [group[0].id, ...t.params, limit],
      );
    }
    const params: SqlValue[] = [];
    for (const f of group) params.push(f.id, ...t.params, limit);
    params.push(limit);
    return run(
      ctx,
      `${Array(group.length).fill(arm).join(" UNION ALL ")} ORDER BY ${
        orderBy(["time", "id"], q.desc)
      } LIMIT ?`,
      params,
    );
  }
  const ids = JSON.stringify(group.map((f) => f.id));
  const total = group.reduce((n, f) => n + f.events, 0);
  if (total <= SMALL_MATCH) {
    return run(
      ctx,
      `${SELECT} FROM events AS e INDEXED BY events_flow CROSS JOIN flows AS f ON f.id = e.flow WHERE ${
        and(["e.flow IN (SELECT value FROM json_each(?))", ...t.sql])
      } ORDER BY ${ord} LIMIT ?`,
      [ids, ...t.params, limit],
    );
  }
  // Many rows: walk time order within the group's span, keeping the group's rows.
  let first = Infinity, last = -Infinity;
  for (const f of group) {
    if (f.first_seen < first) first = f.first_seen;
    if (f.last_seen > last) last = f.last_seen;
  }
  const w = timeWhere(q, resume, [first, last]);
  return run(
    ctx,
    `${SELECT} FROM events AS e INDEXED BY events_time CROSS JOIN flows AS f ON f.id = e.flow WHERE ${
      and([...w.sql, "e.flow IN (SELECT value FROM json_each(?))"])
    } ORDER BY ${ord} LIMIT ?`,
    [...w.params, ids, limit],
  );
}

/** Date order over everything (only a time range and perhaps a kind): the time index itself. */
function timeWalk(ctx: Ctx): EventRow[] {
  const { q } = ctx;
  const t = timeWhere(q, q.cursor);
  const index = q.kind === "dhcp" ? "events_dhcp_time" : "events_time";
  const where = [...t.sql];
  if (q.kind) where.unshift(`e.kind = '${q.kind === "dhcp" ? "dhcp" : "dns"}'`);
  return run(
    ctx,
    `${SELECT} FROM events AS e INDEXED BY ${index} CROSS JOIN flows AS f ON f.id = e.flow WHERE ${
      and(where)
    } ORDER BY ${orderBy(["e.time", "e.id"], q.desc)} LIMIT ?`,
    [...t.params, q.limit],
  );
}

function groupKey(sort: LogSort, f: Flow): SqlValue[] {
  return sort === "ip" ? [f.client_ip] : sort === "mac" ? [f.client_mac] : [f.vendor, f.client_mac];
}

function sameGroup(a: SqlValue[], b: SqlValue[]): boolean {
  return a.every((v, i) => compareKeys(v, b[i]) === 0);
}

/**
 * Non-chronological order: the matching flows grouped by the sort key, the
 * groups visited in order (skipping those before the cursor), each read in
 * time order until the page is full.
 */
function groupScan(ctx: Ctx, flows: Flow[]): EventRow[] {
  const { q, trace } = ctx;
  const out: EventRow[] = [];
  const ordered = q.desc ? [...flows].reverse() : flows;
  const size = q.sort === "vendor" ? 2 : 1;
  const cursorKey = q.cursor?.slice(0, size);
  const resume = q.cursor?.slice(size);
  let i = 0;
  while (i < ordered.length && out.length < q.limit && trace.visits < MAX_VISITS) {
    const key = groupKey(q.sort, ordered[i]);
    let j = i + 1;
    while (j < ordered.length && sameGroup(groupKey(q.sort, ordered[j]), key)) j++;
    const group = ordered.slice(i, j);
    i = j;
    let from: SqlValue[] | undefined;
    if (cursorKey) {
      let c = 0;
      for (let k = 0; k < size && c === 0; k++) c = compareKeys(key[k], cursorKey[k]);
      if (q.desc) c = -c;
      if (c < 0) continue; // before the cursor
      if (c === 0) from = resume;
    }
    trace.visits++;
    out.push(...groupRows(ctx, group, q.limit - out.length, from));
  }
  return out;
}

/** Executes a logs query; returns raw rows, the next cursor key and what plan ran. */
export function queryLogs(
  store: Reader,
  q: LogQuery,
): { rows: EventRow[]; next?: CursorKey; trace: PlanTrace } {
  const trace: PlanTrace = { plan: "", sql: [], visits: 0 };
  if (q.capture !== undefined) {
    const c = getCapture(store, q.capture);
    if (!c) throw new VerbError(`no capture ${q.capture} (vigia ctl captures lists them)`);
    if (c.first_packet === null || c.last_packet === null) {
      return { rows: [], trace: { ...trace, plan: "empty-capture" } };
    }
    // Its packets' time span (a millisecond wider: it was rounded) bounds the time index walk.
    q = {
      ...q,
      from: Math.max(q.from ?? -Infinity, c.first_packet - 1000),
      to: Math.min(q.to ?? Infinity, c.last_packet + 1000),
      captureIds: [c.first_event_id, c.last_event_id],
    };
  }
  const ctx: Ctx = { store, q, trace };
  let rows: EventRow[];
  const flowFilter = q.mac !== undefined || q.ip !== undefined || q.vendor !== undefined;
  if (q.sort === "date" && !flowFilter) {
    trace.plan = q.kind === "dhcp" ? "time-walk-dhcp" : "time-walk";
    rows = timeWalk(ctx);
  } else {
    const flows = matchingFlows(store, q);
    trace.flows = flows.length;
    if (q.sort === "date") {
      trace.plan = flows.length <= MAX_ARMS ? "flow-merge" : "flow-group";
      rows = flows.length ? groupRows(ctx, flows, q.limit, q.cursor) : [];
    } else {
      trace.plan = `${q.sort}-group-scan`;
      rows = groupScan(ctx, flows);
    }
  }
  let next: CursorKey | undefined;
  const last = rows[rows.length - 1];
  if (last && (rows.length >= q.limit || trace.visits >= MAX_VISITS)) next = cursorOf(q.sort, last);
  return { rows, next, trace };
}

function cursorOf(sort: LogSort, r: EventRow): CursorKey {
  switch (sort) {
    case "ip":
      return [r.client_ip ?? null, r.time, r.id];
    case "mac":
      return [r.client_mac ?? null, r.time, r.id];
    case "vendor":
      return [r.vendor ?? "", r.client_mac ?? null, r.time, r.id];
    default:
      return [r.time, r.id];
  }
}

// ---------------------------------------------------------------- output

/** `ctl logs`: parses, plans, runs and presents one page. */
export function logsPage(
  store: Reader,
  args: Record<string, unknown>,
  options: ParseOptions = {},
): Page<Record<string, unknown>> {
  return logsPageOf(store, parseLogArgs(args, options), options);
}

/** `ctl logs` of a parsed query: plans, runs and presents one page. */
export function logsPageOf(
  store: Reader,
  q: LogQuery,
  options: { timeZone?: string } = {},
): Page<Record<string, unknown>> {
  const { rows, next } = queryLogs(store, q);
  const clock = new ZonedClock(options.timeZone || undefined);
  const page: Page<Record<string, unknown>> = { rows: rows.map((r) => presentEvent(r, clock)) };
  if (next) page.next_cursor = encodeCursor(q.sort, q.desc, next);
  return page;
}

/** `ctl devices`: every MAC seen, in MAC order, optionally by maker. */
export function devicesPage(
  store: Reader,
  raw: Record<string, unknown>,
  options: { timeZone?: string } = {},
): Page<Record<string, unknown>> {
  const clock = new ZonedClock(options.timeZone || undefined);
  const args = parseArgs(deviceArgs, raw, options);
  const limit = args.limit;
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (args.vendor !== undefined) {
    where.push("instr(lower(vendor), ?) > 0");
    params.push(args.vendor.toLowerCase());
  }
  if (args.cursor !== undefined) {
    const [mac] = decodeCursor(args.cursor, "mac", false, 1);
    if (typeof mac !== "number") throw new VerbUsageError(`--cursor is not a devices cursor`);
    where.push("mac > ?");
    params.push(mac);
  }
  const rows = store.query<Record<string, number | string>>(
    `SELECT mac, vendor, first_seen, last_seen, ips, host_names, client_software, dns_count,
       dhcp_count, vlan FROM devices WHERE ${and(where)} ORDER BY mac LIMIT ?`,
    ...params,
    limit,
  );
  const stamp = (us: number) => clock.stamp(new Date(Math.floor(us / 1000))).timestamp;
  const out = rows.map((r) => {
    const row: Record<string, unknown> = {};
    for (const f of DEVICE_FIELDS) {
      const v = r[f.column];
      if (isSkipped(f, v)) continue;
      row[f.name] = f.type === "mac" ? intToMac(Number(v)) : f.json === "ts" ? stamp(Number(v)) : v;
    }
    return row;
  });
  const page: Page<Record<string, unknown>> = { rows: out };
  if (rows.length === limit) {
    page.next_cursor = encodeCursor("mac", false, [Number(rows[rows.length - 1].mac)]);
  }
  return page;
}
