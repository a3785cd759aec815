/**
 * `vigia ctl VERB ...`: the control verbs of DESIGN.md's CLI contract, each
 * mapped to a control request `{verb, args}` and its result printed as a
 * table or JSON.
 *
 * @module
 */

import type { Argv } from "yargs";
import { callControl, type ControlTarget } from "../control/mod.ts";
import { isPaged, keyValues, renderResult, table } from "./render.ts";
import { socketPathFromConfig } from "./common.ts";
import { remoteOptions, remoteTargetFrom } from "./remote.ts";

/** How a ctl command is declared: yargs positional/flags → verb + args. */
interface VerbSpec {
  /** yargs command string, e.g. `add <value>`. */
  command: string;
  describe: string;
  /** Control verb name. */
  verb: string;
  /** Option flags with their yargs types. */
  options?: Record<
    string,
    { type: "string" | "number" | "boolean"; describe: string; choices?: string[] }
  >;
  /** Positional names copied into args. */
  positionals?: string[];
  /** Default request timeout for long verbs. */
  timeoutMs?: number;
}

const LOG_SORTS = ["ip", "date", "time", "mac", "vendor"];

const FLAT_VERBS: VerbSpec[] = [
  { command: "status", describe: "daemon and component state", verb: "status" },
  {
    command: "reload",
    describe: "re-read the config (keeps the old one if invalid)",
    verb: "reload",
  },
  { command: "stop", describe: "stop the daemon", verb: "stop" },
  { command: "stats", describe: "counters of every component", verb: "stats" },
  {
    command: "logs",
    describe: "logged DNS/DHCP events",
    verb: "logs",
    options: {
      mac: { type: "string", describe: "client station MAC (querier, answered host, DHCP client)" },
      vendor: { type: "string", describe: "client's maker contains TEXT (case-insensitive)" },
      kind: { type: "string", describe: "dns or dhcp", choices: ["dns", "dhcp"] },
      ip: { type: "string", describe: "client or server IP, or a CIDR range" },
      day: { type: "string", describe: "local day YYYY-MM-DD" },
      since: { type: "string", describe: "ISO time or age (90m, 2h, 7d)" },
      until: { type: "string", describe: "ISO time or age" },
      sort: {
        type: "string",
        describe: "sort key (date and time: chronological)",
        choices: LOG_SORTS,
      },
      desc: { type: "boolean", describe: "descending order" },
      limit: { type: "number", describe: "rows per page" },
      cursor: { type: "string", describe: "continue after this cursor" },
    },
  },
  {
    command: "devices",
    describe: "every MAC seen, with vendor, IPs, first/last seen",
    verb: "devices",
    options: {
      vendor: { type: "string", describe: "vendor name contains TEXT" },
      limit: { type: "number", describe: "rows per page" },
      cursor: { type: "string", describe: "continue after this cursor" },
    },
  },
  {
    command: "alerts",
    describe: "recent alerts",
    verb: "alerts",
    options: {
      since: { type: "string", describe: "raised since ISO time or age (90m, 2h, 7d)" },
      by: {
        type: "string",
        describe: "which time --since means: raised (by vigia) or event (a packet's time)",
        choices: ["raised", "event"],
      },
      kind: { type: "string", describe: "alert kind, e.g. dns-flood" },
      limit: { type: "number", describe: "rows at most" },
    },
  },
];

const DENY_VERBS = (what: "dns" | "mac"): VerbSpec[] => [
  {
    command: "add <value>",
    describe: `add an unauthorized ${what === "dns" ? "DNS server" : "MAC"}`,
    verb: `deny ${what} add`,
    positionals: ["value"],
  },
  {
    command: "del <value>",
    describe: "remove it",
    verb: `deny ${what} del`,
    positionals: ["value"],
  },
  { command: "list", describe: "list them", verb: `deny ${what} list` },
];

const ZONE_VERBS: VerbSpec[] = [
  { command: "list", describe: "records served, with their source", verb: "zone list" },
  {
    command: "add <name> <type> <value>",
    describe: "add a record (served at once)",
    verb: "zone add",
    positionals: ["name", "type", "value"],
    options: { ttl: { type: "number", describe: "TTL in seconds" } },
  },
  {
    command: "del <name> [type]",
    describe: "delete records of a name",
    verb: "zone del",
    positionals: ["name", "type"],
  },
  {
    command: "status [zone]",
    describe: "per zone: role, serial, records, errors of its sources",
    verb: "zone status",
    positionals: ["zone"],
  },
];

const SCAN_VERBS: VerbSpec[] = [
  {
    command: "run [domain]",
    describe: "scan now (one domain or all)",
    verb: "scan run",
    positionals: ["domain"],
    timeoutMs: 600_000,
  },
  {
    command: "results [domain]",
    describe: "latest scan results",
    verb: "scan results",
    positionals: ["domain"],
    options: { history: { type: "number", describe: "also show the N previous scans" } },
  },
];

const VERIDNS_VERBS: VerbSpec[] = [
  {
    command: "events",
    describe: "recent verifications",
    verb: "veridns events",
    options: {
      domain: { type: "string", describe: "only this domain" },
      client: { type: "string", describe: "only this client IP" },
      malicious: { type: "boolean", describe: "only verifications that found malicious addresses" },
      limit: { type: "number", describe: "rows at most" },
    },
  },
];

interface StatusResult extends Record<string, unknown> {
  components: { name: string; details: Record<string, unknown>; [k: string]: unknown }[];
}

/** `ctl status` for people: the daemon's facts, then one table row per component. */
function renderStatus(status: StatusResult): string {
  const { components, ...daemon } = status;
  const rows = components.map(({ details, ...c }) => ({
    ...c,
    details: Object.entries(details ?? {}).map(([k, v]) =>
      `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`
    )
      .join(" "),
  }));
  return `${keyValues(daemon)}

${table(rows, ["name", "enabled", "state", "uptime_s", "restarts", "last_error", "details"])}`;
}

/** Exit code holder shared with main. */
export const exit = { code: 0 };

async function targetFrom(argv: Record<string, unknown>): Promise<ControlTarget> {
  const remote = await remoteTargetFrom(argv);
  if (remote) return remote;
  if (typeof argv.socket === "string" && argv.socket) return { path: argv.socket };
  return { path: await socketPathFromConfig(argv.config as string | undefined) };
}

async function runVerb(spec: VerbSpec, argv: Record<string, unknown>): Promise<void> {
  const args: Record<string, unknown> = {};
  for (const p of spec.positionals ?? []) if (argv[p] !== undefined) args[p] = argv[p];
  for (const o of Object.keys(spec.options ?? {})) if (argv[o] !== undefined) args[o] = argv[o];
  try {
    const target = await targetFrom(argv);
    const result = await callControl(target, spec.verb, { args, timeoutMs: spec.timeoutMs });
    const json = Boolean(argv.json);
    const text = !json && spec.verb === "status"
      ? renderStatus(result as StatusResult)
      : renderResult(result, json);
    if (text) console.log(text);
    if (!json && isPaged(result) && result.next_cursor) {
      console.error(`more: --cursor ${result.next_cursor}`);
    }
    exit.code = 0;
  } catch (e) {
    console.error(`vigia ctl ${spec.verb}: ${(e as Error).message}`);
    exit.code = 1;
  }
}

function addVerbs(y: Argv, specs: VerbSpec[]): Argv {
  for (const spec of specs) {
    y = y.command(
      spec.command,
      spec.describe,
      (b: Argv) => {
        for (const [name, o] of Object.entries(spec.options ?? {})) {
          b = b.option(name, { type: o.type, describe: o.describe, choices: o.choices });
        }
        return b;
      },
      (argv: Record<string, unknown>) => runVerb(spec, argv),
    );
  }
  return y;
}

/** Adds `ctl` and its verbs to a yargs program. */
export function ctlCommand(y: Argv): Argv {
  return y.command(
    "ctl",
    "talk to the running daemon",
    (b: Argv) => {
      b = b
        .option("socket", { type: "string", describe: "control socket (default: from the config)" })
        .option("config", { type: "string", describe: "config file (to find the socket)" })
        .option("json", { type: "boolean", describe: "machine-readable output" });
      b = remoteOptions(b);
      b = addVerbs(b, FLAT_VERBS);
      b = b.command("deny", "unauthorized DNS servers and MACs", (d: Argv) =>
        d
          .command("dns", "unauthorized DNS servers", (x: Argv) =>
            addVerbs(x, DENY_VERBS("dns")).demandCommand(1))
          .command("mac", "unauthorized MACs", (x: Argv) =>
            addVerbs(x, DENY_VERBS("mac")).demandCommand(1))
          .demandCommand(1));
      b = b.command(
        "zone",
        "records served by the dns component",
        (z: Argv) => addVerbs(z, ZONE_VERBS).demandCommand(1),
      );
      b = b.command(
        "scan",
        "fault-tolerance scans",
        (s: Argv) => addVerbs(s, SCAN_VERBS).demandCommand(1),
      );
      b = b.command(
        "veridns",
        "VeriDNS verifications",
        (v: Argv) => addVerbs(v, VERIDNS_VERBS).demandCommand(1),
      );
      return b.demandCommand(
        1,
        "name a verb: status, reload, stop, stats, logs, devices, alerts, deny, zone, scan, veridns",
      );
    },
  );
}
