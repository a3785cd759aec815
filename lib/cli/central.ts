/**
 * `vigia central init | status | logs | devices | alerts | scans`: the
 * central PostgreSQL of `[central]`, read directly (no daemon needed).
 * The query verbs take the `ctl` verbs' arguments plus `--sensor NAME`
 * (repeatable), and print the same tables or JSON lines with a `sensor`
 * column.
 *
 * @module
 */

import type { Argv } from "yargs";
import type { ArgSpec } from "../daemon/args.ts";
import { VerbUsageError } from "../daemon/errors.ts";
import {
  type CentralConfig,
  type CentralConnection,
  connectCentral,
  describeError,
  migrateCentral,
  sensorNameProblem,
} from "../central/mod.ts";
import { centralStatus, type CentralVerb, centralVerbs } from "../central/queries.ts";
import { requireSchema } from "../central/schema.ts";
import { configPathOf, loadAppConfig, UsageError } from "./common.ts";
import { exit, runPaged } from "./ctl.ts";
import { renderResult } from "./render.ts";

async function open(argv: Record<string, unknown>): Promise<
  { conn: CentralConnection; section: CentralConfig; timeZone?: string }
> {
  const config = await loadAppConfig(configPathOf(argv), { checks: false });
  const section = config.central as CentralConfig;
  if (!section.url) {
    throw new Error("central.url is empty in the config: name the central PostgreSQL");
  }
  const conn = connectCentral(section, { applicationName: "vigia central" });
  return { conn, section, timeZone: config.log.timezone || undefined };
}

function sensorsOf(argv: Record<string, unknown>): string[] {
  const raw = argv.sensor;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
  for (const s of list) {
    const problem = sensorNameProblem(s);
    if (problem) throw new UsageError(`--sensor ${problem}`);
  }
  return list;
}

async function guarded(
  prefix: string,
  argv: Record<string, unknown>,
  fn: (conn: CentralConnection, timeZone?: string) => Promise<void>,
): Promise<void> {
  let conn: CentralConnection | undefined;
  try {
    const opened = await open(argv);
    conn = opened.conn;
    await fn(conn, opened.timeZone);
    exit.code = 0;
  } catch (e) {
    const usage = e instanceof UsageError || e instanceof VerbUsageError;
    const message = conn ? conn.describe(e) : describeError(e);
    console.error(`${prefix}: ${message}`);
    exit.code = usage ? 2 : 1;
  } finally {
    await conn?.close().catch(() => {});
  }
}

function helpOf(a: ArgSpec): string {
  return a.choices ? `${a.describe} (${a.choices.join(", ")})` : a.describe;
}

function common(b: Argv): Argv {
  return b
    .option("config", {
      type: "string",
      describe: "config file (default: $VIGIA_CONFIG, else the embedded default)",
    })
    .option("json", { type: "boolean", describe: "JSON lines instead of a table" });
}

function addQueryVerb(y: Argv, verb: CentralVerb): Argv {
  const positionals = Object.entries(verb.args).filter(([, a]) => a.positional);
  const command = [verb.name, ...positionals.map(([n, a]) => (a.required ? `<${n}>` : `[${n}]`))]
    .join(" ");
  return y.command(
    command,
    verb.describe,
    (b: Argv) => {
      b = common(b);
      for (const [name, a] of positionals) {
        b = b.positional(name, { type: "string", describe: helpOf(a) });
      }
      for (const [name, a] of Object.entries(verb.args)) {
        if (a.positional) continue;
        b = b.option(name, {
          type: a.type === "boolean" ? "boolean" : "string",
          describe: helpOf(a),
        });
      }
      return b
        .option("all", { type: "boolean", describe: "every page, one after the other" })
        .option("sensor", {
          type: "string",
          array: true,
          describe: "only this sensor (repeatable)",
        });
    },
    (argv: Record<string, unknown>) =>
      guarded(`vigia central ${verb.name}`, argv, async (conn, timeZone) => {
        const sensors = sensorsOf(argv);
        await requireSchema(conn.sql);
        const args: Record<string, unknown> = {};
        for (const name of Object.keys(verb.args)) {
          if (argv[name] !== undefined) args[name] = argv[name];
        }
        await runPaged((a) => verb.run(conn.sql, a, { sensors, timeZone }), args, {
          json: argv.json === true,
          all: argv.all === true,
        });
      }),
  );
}

/** Adds `central ...` to a yargs program. */
export function centralCommand(y: Argv): Argv {
  return y.command("central", "the central PostgreSQL of every sensor ([central])", (c: Argv) => {
    c = c.command(
      "init",
      "create or migrate the central schema (idempotent; refuses a newer schema)",
      (b: Argv) => common(b),
      (argv: Record<string, unknown>) =>
        guarded("vigia central init", argv, async (conn) => {
          const r = await migrateCentral(conn.sql, "vigia central init");
          const result = {
            schema: "vigia",
            from: r.from,
            version: r.to,
            migrated: r.from !== r.to,
          };
          console.log(renderResult(result, argv.json === true));
        }),
    ).command(
      "status",
      "per sensor and stream: rows shipped, backlog, last ship, last error",
      (b: Argv) =>
        common(b).option("sensor", {
          type: "string",
          array: true,
          describe: "only this sensor (repeatable)",
        }),
      (argv: Record<string, unknown>) =>
        guarded("vigia central status", argv, async (conn) => {
          const sensors = sensorsOf(argv);
          await requireSchema(conn.sql);
          console.log(renderResult(await centralStatus(conn.sql, { sensors }), argv.json === true));
        }),
    );
    for (const verb of centralVerbs) c = addQueryVerb(c, verb);
    return c.demandCommand(1, "name a central command: init, status, logs, devices, alerts, scans");
  });
}
