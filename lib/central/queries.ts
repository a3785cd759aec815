/**
 * `vigia central logs | devices | alerts | scans | status`: the `ctl`
 * verbs' filters, sort keys, paging and output, across sensors, read from
 * the central PostgreSQL (no daemon needed). Each row carries its `sensor`;
 * `--sensor NAME` (repeatable) narrows to some.
 *
 * Event rows are read back into the local row shape and shown by the
 * sniffer's own presenter, so a central line and a `ctl logs` line of the
 * same event are the same, plus the sensor.
 *
 * @module
 */

import {
  type ArgSpecs,
  type ArgValues,
  dayStart,
  decodeCursor,
  encodeCursor,
  nextDay,
  type Page,
  paging,
  parseArgs,
  type ParseOptions,
} from "../daemon/args.ts";
import { VerbUsageError } from "../daemon/errors.ts";
import { alertArgs } from "../daemon/verbs.ts";
import { ZonedClock } from "../daylog/mod.ts";
import { parseCidr, parseMac } from "../net/mod.ts";
import {
  DEVICE_FIELDS,
  deviceArgs,
  type EventRow,
  ipToKey,
  logArgs,
  macToInt,
  presentEvent,
} from "../sniffer/mod.ts";
import type { Sql } from "./connect.ts";
import { CENTRAL_EVENT_COLUMNS } from "./schema.ts";

/** A `vigia central` query verb, declared once for the CLI, its help and its tests. */
export interface CentralVerb {
  /** Verb name (`logs`). */
  name: string;
  /** One line of help. */
  describe: string;
  /** Output shape (as a control verb's). */
  output: "paged" | "list";
  /** Arguments (the `ctl` verb's, parsed by the same layer); `--sensor` is added by the CLI. */
  args: ArgSpecs;
  /** Answers a request: `args` as the command line gave them, `sensors` from `--sensor`. */
  run(
    sql: Sql,
    args: Record<string, unknown>,
    options: { sensors: string[]; timeZone?: string },
  ): Promise<unknown>;
}

const SORT_EXPR: Record<string, string> = {
  date: "",
  ip: "coalesce(CASE WHEN to_client THEN dst_ip ELSE src_ip END, '0.0.0.0'::inet)",
  mac: "coalesce(mac, '00:00:00:00:00:00'::macaddr)",
  vendor: "coalesce(vendor, '')",
};

/** Columns read back in the local row shape (µs times, MACs and IPs as text, answers as JSON text). */
const EVENT_SELECT = CENTRAL_EVENT_COLUMNS.map((c) => {
  if (c.name === "local_id") return "local_id AS id";
  if (c.name === "time") return "(extract(epoch FROM time) * 1000000)::bigint AS time";
  if (c.pg.startsWith("macaddr")) return `${c.name}::text AS ${c.name}`;
  if (c.pg.startsWith("inet")) return `host(${c.name}) AS ${c.name}`;
  if (c.pg.startsWith("jsonb")) return `${c.name}::text AS ${c.name}`;
  return c.name;
}).join(", ");

const MAC_COLUMNS = CENTRAL_EVENT_COLUMNS.filter((c) => c.pg.startsWith("macaddr") && c.local)
  .map((c) => c.name);
const IP_COLUMNS = CENTRAL_EVENT_COLUMNS.filter((c) => c.local?.storage === "ip").map((c) =>
  c.name
);

/** A central row back in the local store's shape, for the sniffer's presenter. */
function localShape(r: Record<string, unknown>): EventRow {
  const row: EventRow = { ...r };
  row.client_mac = r.mac === null ? null : macToInt(String(r.mac));
  for (const c of MAC_COLUMNS) if (r[c] !== null) row[c] = macToInt(String(r[c]));
  for (const c of IP_COLUMNS) if (r[c] !== null) row[c] = ipToKey(String(r[c]));
  row.to_client = r.to_client ? 1 : 0;
  return row;
}

const centralLogArgs = { ...logArgs } as const satisfies ArgSpecs;

/** Parameters collected for a query (postgres.js `unsafe` with $n placeholders). */
class Params {
  readonly values: unknown[] = [];
  /** Adds a value; returns its placeholder. */
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

function sensorFilter(p: Params, sensors: string[], where: string[]): void {
  if (sensors.length) where.push(`sensor = ANY(${p.add(sensors)}::text[])`);
}

async function centralLogs(
  sql: Sql,
  raw: Record<string, unknown>,
  options: { sensors: string[]; timeZone?: string },
): Promise<Page> {
  const parse: ParseOptions = { timeZone: options.timeZone };
  const args = parseArgs(centralLogArgs, raw, parse) as ArgValues<typeof centralLogArgs>;
  const p = new Params();
  const where: string[] = [];
  sensorFilter(p, options.sensors, where);
  if (args.mac !== undefined) {
    const m = parseMac(args.mac);
    if (!m) {
      throw new VerbUsageError(
        `--mac must be a MAC address like aa:bb:cc:dd:ee:ff: got "${args.mac}"`,
      );
    }
    where.push(`mac = ${p.add(m)}::macaddr`);
  }
  if (args.vendor !== undefined) {
    where.push(`strpos(lower(vendor), ${p.add(args.vendor.toLowerCase())}) > 0`);
  }
  if (args.kind !== undefined) where.push(`kind = ${p.add(args.kind)}`);
  if (args.capture !== undefined) where.push(`capture = ${p.add(args.capture)}::bigint`);
  if (args.ip !== undefined) {
    if (!parseCidr(args.ip)) {
      throw new VerbUsageError(
        `--ip must be an IP address or a CIDR range like 10.0.0.0/8: got "${args.ip}"`,
      );
    }
    const ip = p.add(args.ip);
    where.push(`(src_ip <<= ${ip}::inet OR dst_ip <<= ${ip}::inet)`);
  }
  let from: number | undefined, to: number | undefined;
  if (args.day !== undefined) {
    from = dayStart(args.day, options.timeZone);
    to = dayStart(nextDay(args.day), options.timeZone);
  }
  if (args.since !== undefined) from = from === undefined ? args.since : Math.max(from, args.since);
  if (args.until !== undefined) to = to === undefined ? args.until : Math.min(to, args.until);
  if (from !== undefined) where.push(`time >= to_timestamp(${p.add(from / 1000)})`);
  if (to !== undefined) where.push(`time < to_timestamp(${p.add(to / 1000)})`);
  const sort = args.sort === "time" ? "date" : args.sort;
  const expr = SORT_EXPR[sort];
  const key = [...(expr ? [expr] : []), "time", "sensor", "local_id"];
  const dir = args.desc ? "DESC" : "";
  if (args.cursor !== undefined) {
    const shape = [...(expr ? ["string" as const] : []), "number", "string", "number"] as const;
    const c = decodeCursor(args.cursor, shape);
    const values = c.map((v, i) => {
      if (expr && i === 0) {
        const cast = sort === "ip" ? "::inet" : sort === "mac" ? "::macaddr" : "::text";
        return `${p.add(v)}${cast}`;
      }
      if (key[i] === "time") return `to_timestamp(${p.add(Number(v) / 1e6)})`;
      return key[i] === "local_id" ? `${p.add(v)}::bigint` : p.add(v);
    });
    where.push(`(${key.join(", ")}) ${args.desc ? "<" : ">"} (${values.join(", ")})`);
  }
  const text = `SELECT ${EVENT_SELECT}${expr ? `, (${expr})::text AS sort_key` : ""}
    FROM vigia.events ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${key.map((k) => `${k} ${dir}`).join(", ")} LIMIT ${p.add(args.limit)}`;
  // Sent now; the clock is made while PostgreSQL plans (a new session's first
  // plan loads the partitions' catalog): its first use loads ICU's zone data.
  const query = sql.unsafe(text, p.values as never[]).execute();
  const clock = new ZonedClock(options.timeZone || undefined);
  clock.stamp(new Date());
  const rows = await query;
  const page: Page = {
    rows: rows.map((r) => ({ sensor: r.sensor, ...presentEvent(localShape(r), clock) })),
  };
  if (rows.length === args.limit) {
    const last = rows[rows.length - 1];
    // The cursor keeps µs: timestamptz holds them, JavaScript dates would not.
    page.next_cursor = encodeCursor([
      ...(expr ? [String(last.sort_key)] : []),
      Number(last.time),
      String(last.sensor),
      Number(last.id),
    ]);
  }
  return page;
}

async function centralDevices(
  sql: Sql,
  raw: Record<string, unknown>,
  options: { sensors: string[]; timeZone?: string },
): Promise<Page> {
  const args = parseArgs(deviceArgs, raw, { timeZone: options.timeZone });
  const p = new Params();
  const where: string[] = [];
  sensorFilter(p, options.sensors, where);
  if (args.vendor !== undefined) {
    where.push(`strpos(lower(vendor), ${p.add(args.vendor.toLowerCase())}) > 0`);
  }
  if (args.cursor !== undefined) {
    const [mac, sensor] = decodeCursor(args.cursor, ["string", "string"]);
    where.push(`(mac, sensor) > (${p.add(mac)}::macaddr, ${p.add(sensor)})`);
  }
  const rows = await sql.unsafe(
    `SELECT sensor, mac::text AS mac, vendor, floor(extract(epoch FROM first_seen) * 1000)::bigint AS first_seen,
       floor(extract(epoch FROM last_seen) * 1000)::bigint AS last_seen, ips, host_names, client_software,
       dns, dhcp, vlan
     FROM vigia.devices ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY mac, sensor LIMIT ${p.add(args.limit)}`,
    p.values as never[],
  );
  const clock = new ZonedClock(options.timeZone || undefined);
  const out = rows.map((r) => {
    const row: Record<string, unknown> = { sensor: r.sensor };
    for (const f of DEVICE_FIELDS) {
      const v = r[f.name];
      if (v === null || v === undefined || v === "" || (f.skip !== undefined && v === f.skip)) {
        continue;
      }
      row[f.name] = f.json === "ts" ? clock.stamp(new Date(Number(v))).timestamp : v;
    }
    return row;
  });
  const page: Page = { rows: out };
  if (rows.length === args.limit) {
    const last = rows[rows.length - 1];
    page.next_cursor = encodeCursor([String(last.mac), String(last.sensor)]);
  }
  return page;
}

async function centralAlerts(
  sql: Sql,
  raw: Record<string, unknown>,
  options: { sensors: string[]; timeZone?: string },
): Promise<Page> {
  const args = parseArgs(alertArgs, raw, { timeZone: options.timeZone });
  const col = args.by === "event" ? "time" : "raised_at";
  const p = new Params();
  const where: string[] = [];
  sensorFilter(p, options.sensors, where);
  if (args.since !== undefined) where.push(`${col} >= to_timestamp(${p.add(args.since / 1000)})`);
  if (args.until !== undefined) where.push(`${col} < to_timestamp(${p.add(args.until / 1000)})`);
  if (args.kind !== undefined) where.push(`kind = ${p.add(args.kind)}`);
  if (args.cursor !== undefined) {
    const [t, sensor, id] = decodeCursor(args.cursor, ["number", "string", "number"]);
    where.push(
      `(${col}, sensor, local_id) < (to_timestamp(${p.add(Number(t) / 1000)}), ${p.add(sensor)}, ${
        p.add(id)
      }::bigint)`,
    );
  }
  const rows = await sql.unsafe(
    `SELECT sensor, local_id, (extract(epoch FROM time) * 1000)::bigint AS time,
       (extract(epoch FROM raised_at) * 1000)::bigint AS raised_at, kind, severity, subject,
       details::text AS details, repeats, (extract(epoch FROM ${col}) * 1000)::bigint AS key
     FROM vigia.alerts ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY ${col} DESC, sensor DESC, local_id DESC LIMIT ${p.add(args.limit)}`,
    p.values as never[],
  );
  const clock = new ZonedClock(options.timeZone || undefined);
  const page: Page = {
    rows: rows.map((r) => ({
      sensor: r.sensor,
      id: Number(r.local_id),
      time: clock.stamp(new Date(Number(r.time))).timestamp,
      raised: clock.stamp(new Date(Number(r.raised_at))).timestamp,
      kind: r.kind,
      severity: r.severity,
      subject: r.subject,
      repeats: r.repeats,
      details: JSON.parse(String(r.details)),
    })),
  };
  if (rows.length === args.limit) {
    const last = rows[rows.length - 1];
    page.next_cursor = encodeCursor([Number(last.key), String(last.sensor), Number(last.local_id)]);
  }
  return page;
}

const scanArgs = {
  domain: { type: "string", positional: true, describe: "only this domain" },
  ...paging(100),
} as const satisfies ArgSpecs;

async function centralScans(
  sql: Sql,
  raw: Record<string, unknown>,
  options: { sensors: string[]; timeZone?: string },
): Promise<Page> {
  const args = parseArgs(scanArgs, raw, { timeZone: options.timeZone });
  const p = new Params();
  const where: string[] = [];
  sensorFilter(p, options.sensors, where);
  if (args.domain !== undefined) where.push(`domain = ${p.add(args.domain.toLowerCase())}`);
  if (args.cursor !== undefined) {
    const [domain, sensor] = decodeCursor(args.cursor, ["string", "string"]);
    where.push(`(domain, sensor) > (${p.add(domain)}, ${p.add(sensor)})`);
  }
  // The latest scan of each domain by each sensor.
  const rows = await sql.unsafe(
    `SELECT DISTINCT ON (domain, sensor) sensor, domain, (extract(epoch FROM time) * 1000)::bigint AS time,
       addresses, asns, countries, flux, worst, findings
     FROM vigia.scans ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY domain, sensor, time DESC LIMIT ${p.add(args.limit)}`,
    p.values as never[],
  );
  const clock = new ZonedClock(options.timeZone || undefined);
  const page: Page = {
    rows: rows.map((r) => ({
      sensor: r.sensor,
      domain: r.domain,
      time: clock.stamp(new Date(Number(r.time))).timestamp,
      addresses: r.addresses,
      asns: r.asns,
      countries: r.countries,
      flux: r.flux,
      worst: r.worst ?? "",
      findings: r.findings,
    })),
  };
  if (rows.length === args.limit) {
    const last = rows[rows.length - 1];
    page.next_cursor = encodeCursor([String(last.domain), String(last.sensor)]);
  }
  return page;
}

/**
 * `central status`: per sensor and stream, shipped rows, backlog, last ship,
 * the last error and when, rows PostgreSQL refused (quarantined on the
 * sensor) and rows lost to a local disk bound, the holder.
 */
export async function centralStatus(
  sql: Sql,
  options: { sensors: string[] },
): Promise<Record<string, unknown>[]> {
  const rows = await sql`
    SELECT s.name AS sensor, sh.stream, sh.rows_shipped, sh.backlog, sh.last_ship, sh.last_error,
      sh.last_error_at, sh.rows_quarantined, sh.rows_lost, s.holder, s.lease_until > now() AS live
    FROM vigia.sensors s LEFT JOIN vigia.shipping sh ON sh.sensor = s.name
    WHERE ${options.sensors.length ? sql`s.name = ANY(${options.sensors})` : sql`true`}
    ORDER BY s.name, sh.stream`;
  return rows.map((r) => ({
    sensor: r.sensor,
    stream: r.stream ?? "",
    rows_shipped: Number(r.rows_shipped ?? 0),
    backlog: Number(r.backlog ?? 0),
    last_ship: r.last_ship ? new Date(r.last_ship).toISOString() : null,
    last_error: r.last_error ?? null,
    last_error_at: r.last_error_at ? new Date(r.last_error_at).toISOString() : null,
    rows_quarantined: Number(r.rows_quarantined ?? 0),
    rows_lost: Number(r.rows_lost ?? 0),
    shipping: r.live ? r.holder : null,
  }));
}

/** The query verbs of `vigia central`. */
export const centralVerbs: CentralVerb[] = [
  {
    name: "logs",
    describe: "logged DNS/DHCP events of every sensor (the ctl logs filters)",
    output: "paged",
    args: centralLogArgs,
    run: centralLogs,
  },
  {
    name: "devices",
    describe: "every MAC seen by each sensor",
    output: "paged",
    args: deviceArgs,
    run: centralDevices,
  },
  {
    name: "alerts",
    describe: "alerts of every sensor, newest first",
    output: "paged",
    args: alertArgs,
    run: centralAlerts,
  },
  {
    name: "scans",
    describe: "the latest scan of each domain by each sensor",
    output: "paged",
    args: scanArgs,
    run: centralScans,
  },
];
