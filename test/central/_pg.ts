/**
 * A real PostgreSQL (Debian's `postgresql` 15) for tests: `initdb` and
 * `postgres` run as the `postgres` user in a temp dir it owns, listening on a
 * loopback port and on a Unix socket in that dir, with password (SCRAM)
 * authentication for everyone. Durability is off (fsync, full page writes)
 * because a test server's data is thrown away; crash recovery still runs
 * after a kill -9, which is what the crash tests exercise.
 *
 * @module
 */

import { freePort } from "../_helpers.ts";

const BIN = "/usr/lib/postgresql/15/bin";

/** Why PostgreSQL cannot be had here, or null when it can. */
export function postgresMissing(): string | null {
  for (const name of ["initdb", "postgres"]) {
    try {
      Deno.statSync(`${BIN}/${name}`);
    } catch {
      return `${BIN}/${name} not installed (Debian package postgresql)`;
    }
  }
  try {
    Deno.statSync("/usr/bin/setpriv");
  } catch {
    return "setpriv not installed (util-linux): PostgreSQL refuses to run as root";
  }
  if (Deno.uid() !== 0) return "not root: cannot start PostgreSQL as the postgres user";
  return null;
}

/** A running test PostgreSQL. */
export interface TestPostgres {
  /** Its temp directory (data in `data/`, the Unix socket here too). */
  dir: string;
  /** Loopback TCP port. */
  port: number;
  /** The test role that owns database `vigia`. */
  user: string;
  /** Its password. */
  password: string;
  /** A file holding the password (for `password_file`). */
  passwordFile: string;
  /** libpq URI for the test role and database over TCP (no password in it). */
  url: string;
  /** libpq URI over the Unix socket directory. */
  socketUrl: string;
  /** Runs SQL as the superuser through psql; returns its unaligned output, one row a line. */
  psql(sql: string, options?: { db?: string }): Promise<string>;
  /** Makes a fresh empty database owned by the test role; returns its URI. */
  freshDatabase(name: string): Promise<string>;
  /** Fast shutdown (like `pg_ctl stop -m fast`), waiting for it. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend: a crash, no shutdown checkpoint. */
  kill9(): Promise<void>;
  /**
   * Starts it again (after stop or kill9) on the same port; resolves when it
   * accepts connections. Nothing to do when it runs.
   */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

const AS_POSTGRES = ["--reuid=postgres", "--regid=postgres", "--init-groups"];

function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) pids.push(Number(entry.name));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/**
 * Starts a fresh PostgreSQL with role `vigia_test` owning database `vigia`;
 * `settings` add or override server settings (`-c name=value`), e.g. a
 * benchmark's `shared_buffers`.
 */
export async function startPostgres(
  options: { settings?: Record<string, string> } = {},
): Promise<TestPostgres> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-pg-" });
  const pw = await run("id", ["-u", "postgres"]);
  const gid = await run("id", ["-g", "postgres"]);
  await Deno.chown(dir, Number(pw), Number(gid));
  const superPassword = crypto.randomUUID();
  const password = "t3st-" + crypto.randomUUID().slice(0, 8);
  const superFile = `${dir}/super.pw`;
  const passwordFile = `${dir}/vigia.pw`;
  await Deno.writeTextFile(superFile, superPassword + "\n");
  await Deno.writeTextFile(passwordFile, password + "\n");
  await Deno.chown(superFile, Number(pw), Number(gid));
  await run("setpriv", [
    ...AS_POSTGRES,
    `${BIN}/initdb`,
    "-D",
    `${dir}/data`,
    "-U",
    "postgres",
    "--pwfile",
    superFile,
    "--auth=scram-sha-256",
    "--no-sync",
    "--no-instructions",
    "-E",
    "UTF8",
    "--locale=C",
  ]);
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  let log = "";

  const start = async () => {
    if (child) return;
    // After a kill -9 the old backends may hold the shared memory for a
    // moment; postgres then refuses to start, so retry (bounded).
    for (let attempt = 0; attempt < 50; attempt++) {
      child = new Deno.Command("setpriv", {
        args: [
          ...AS_POSTGRES,
          `${BIN}/postgres`,
          "-D",
          `${dir}/data`,
          "-k",
          dir,
          "-p",
          String(port),
          "-c",
          "listen_addresses=127.0.0.1",
          "-c",
          "fsync=off",
          "-c",
          "full_page_writes=off",
          "-c",
          "synchronous_commit=off",
          "-c",
          "max_connections=50",
          "-c",
          "shared_buffers=32MB",
          "-c",
          "logging_collector=off",
          ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const c = child;
      const ready = await new Promise<boolean>((resolve) => {
        const dec = new TextDecoder();
        let seen = "";
        (async () => {
          for await (const chunk of c.stderr) {
            const s = dec.decode(chunk, { stream: true });
            log += s;
            seen += s;
            if (seen.includes("ready to accept connections")) resolve(true);
          }
          resolve(false);
        })();
      });
      if (ready) return;
      await c.status;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`postgres did not start:\n${log.slice(-2000)}`);
  };

  const superEnv = { PGPASSWORD: superPassword };
  const psql = (sql: string, options: { db?: string } = {}) =>
    run("psql", [
      "-X",
      "-q",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      dir,
      "-p",
      String(port),
      "-U",
      "postgres",
      "-d",
      options.db ?? "postgres",
      "-c",
      sql,
    ], superEnv);

  const stop = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    try {
      c.kill("SIGINT");
    } catch { /* gone */ }
    await c.status;
  };

  const kill9 = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    // setpriv execs postgres, so the child's pid is the postmaster's.
    const backends = childPids(c.pid);
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
    for (const pid of backends) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await c.status;
  };

  await start();
  const user = "vigia_test";
  await psql(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
  await psql(`CREATE DATABASE vigia OWNER ${user}`);
  const url = `postgresql://${user}@127.0.0.1:${port}/vigia`;
  const socketUrl = `postgresql://${user}@/vigia?host=${encodeURIComponent(dir)}&port=${port}`;

  return {
    dir,
    port,
    user,
    password,
    passwordFile,
    url,
    socketUrl,
    psql,
    freshDatabase: async (name: string) => {
      // A step that failed may have left the server stopped.
      await start();
      await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await psql(`CREATE DATABASE ${name} OWNER ${user}`);
      return `postgresql://${user}@127.0.0.1:${port}/${name}`;
    },
    stop,
    kill9,
    start,
    close: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
