/**
 * Shared test helpers: run the real `vigia` CLI and daemon as processes with
 * exactly the permission flags of the compiled binary, find the shared test
 * data, pick free loopback ports, and run a real SMTP server on loopback.
 *
 * @module
 */

import { SMTPServer } from "smtp-server";
import { repoRoot } from "./_env.ts";
import { callControl } from "../lib/control/mod.ts";
import { components } from "../lib/app/mod.ts";
import { verbCatalogue, type VerbOutput } from "../lib/daemon/mod.ts";

export { hasCommand, isRoot, repoRoot, sharedTestdata, skipUnless } from "./_env.ts";

/**
 * The permission flags of `deno task vigia` in deno.json: the same set that
 * `deno compile` bakes into the binary, so tests run the daemon as it ships.
 */
export const VIGIA_FLAGS: string[] = (() => {
  const denoJson = JSON.parse(Deno.readTextFileSync(`${repoRoot}/deno.json`));
  const task: string = denoJson.tasks.vigia;
  return task.split(/\s+/).filter((t) => t.startsWith("--allow-") || t.startsWith("--deny-"));
})();

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runVigia}. */
export interface RunOptions {
  /** Working directory. @default a fresh temp dir is NOT made; the repo root is used */
  cwd?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Text fed to stdin. */
  stdin?: string;
}

/** Runs `vigia ARGS` under `deno run` with the binary's flags. */
export async function runVigia(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...VIGIA_FLAGS, `${repoRoot}/main.ts`, ...args],
    cwd: options.cwd ?? repoRoot,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A free TCP port on 127.0.0.1 (also free for UDP in practice; checked for both). */
export function freePort(hostname = "127.0.0.1"): number {
  for (let i = 0; i < 20; i++) {
    const l = Deno.listen({ hostname, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    try {
      const u = Deno.listenDatagram({ transport: "udp", hostname, port });
      u.close();
      return port;
    } catch { /* UDP side taken: try another */ }
  }
  throw new Error("no free port found");
}

/** A daemon started for a test. */
export interface TestDaemon {
  /** Its temp directory (config, state, logs, socket). */
  dir: string;
  /** The config file. */
  configPath: string;
  /** The control socket. */
  socketPath: string;
  /** The daily log directory. */
  logDir: string;
  /** Runs `vigia ctl --socket S ARGS` as a process. */
  ctl(args: string[]): Promise<RunResult>;
  /**
   * Runs `vigia ctl --json ARGS` and parses it: list and paged verbs give an
   * array of rows (a page's final `next_cursor` line checked and dropped),
   * others one object.
   */
  ctlJson(args: string[]): Promise<unknown>;
  /** Sends a control request directly (no process), returning the result. */
  call(verb: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Everything the daemon wrote to stderr so far. */
  logs(): string;
  /** Resolves with the first stderr line matching `pattern` (bounded by `timeoutMs`). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal to the daemon process. */
  signal(sig: Deno.Signal): void;
  /** Waits for the process to exit (bounded) and returns its exit code. */
  exited(timeoutMs?: number): Promise<number>;
  /** Stops the daemon (ctl stop, then SIGKILL after a bound) and removes its directory. */
  stop(): Promise<number>;
  /** The process id. */
  pid: number;
}

/** Component sections that {@linkcode startDaemon} disables unless the test's config names them. */
export const COMPONENT_SECTIONS: string[] = components.map((c) => c.name);

const CATALOGUE = verbCatalogue(components);

/** The output shape of the verb a `ctl` command line names (from the verb specs). */
export function verbOutput(args: string[]): VerbOutput | undefined {
  const words = args.filter((a) => !a.startsWith("-"));
  let best: { name: string; output: VerbOutput } | undefined;
  for (const v of CATALOGUE.verbs) {
    const n = v.name.split(" ");
    if (n.every((w, i) => words[i] === w) && (!best || n.length > best.name.split(" ").length)) {
      best = v;
    }
  }
  return best?.output;
}

/** Options for {@linkcode startDaemon}. */
export interface StartOptions {
  /**
   * Config TOML. A `[paths]` section pointing into the temp dir is prepended
   * unless present, and every component section the text does not mention
   * gets `enabled = false`, so a test runs only what it configures (no
   * default ports, no scans of public domains).
   */
  config?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Expect the start to fail: resolve once the process exits instead of waiting for "ready". */
  expectFailure?: boolean;
  /** Bound for startup. @default 20000 */
  timeoutMs?: number;
}

/**
 * Starts `vigia run --config` in a temp dir and resolves once it logs
 * "ready" (its control socket is then listening).
 */
export async function startDaemon(options: StartOptions = {}): Promise<TestDaemon> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-test-" });
  const configPath = `${dir}/vigia.toml`;
  let config = options.config ?? "";
  if (!/^\[paths\]/m.test(config)) {
    config =
      `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n\n` +
      config;
  }
  for (const name of COMPONENT_SECTIONS) {
    if (!new RegExp(`^\\[${name}[\\].]`, "m").test(config)) {
      config += `\n[${name}]\nenabled = false\n`;
    }
  }
  await Deno.writeTextFile(configPath, config);
  const socketPath = /runtime_dir\s*=\s*"([^"]+)"/.exec(config)![1] + "/control.sock";
  const logDir = /log_dir\s*=\s*"([^"]+)"/.exec(config)![1];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...VIGIA_FLAGS, `${repoRoot}/main.ts`, "run", "--config", configPath],
    cwd: dir,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const pump = (async () => {
    const dec = new TextDecoder();
    let partial = "";
    for await (const chunk of child.stderr) {
      const s = dec.decode(chunk, { stream: true });
      text += s;
      partial += s;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  })();
  child.stdout.cancel().catch(() => {});
  const status = child.status;
  let exitCode: number | undefined;
  status.then((s) => (exitCode = s.code));

  const waitForLog = (re: RegExp, timeoutMs = 10_000): Promise<string> => {
    const hit = text.split("\n").find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.findIndex((w) => w.resolve === done), 1);
        reject(new Error(`daemon did not log ${re} within ${timeoutMs} ms; stderr:\n${text}`));
      }, timeoutMs);
      const done = (l: string) => {
        clearTimeout(timer);
        resolve(l);
      };
      waiters.push({ re, resolve: done });
      status.then(() => {
        setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) {
            waiters.splice(i, 1);
            clearTimeout(timer);
            reject(new Error(`daemon exited before logging ${re}; stderr:\n${text}`));
          }
        }, 50);
      });
    });
  };

  const exited = async (timeoutMs = 10_000): Promise<number> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const s = await Promise.race([
      status.then((x) => x.code),
      new Promise<number>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`daemon did not exit within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await pump;
    return s;
  };

  const daemon: TestDaemon = {
    dir,
    configPath,
    socketPath,
    logDir,
    pid: child.pid,
    ctl: (args) => runVigia(["ctl", "--socket", socketPath, ...args], { cwd: dir }),
    ctlJson: async (args) => {
      const r = await runVigia(["ctl", "--socket", socketPath, "--json", ...args], { cwd: dir });
      if (r.code !== 0) throw new Error(`ctl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
      const values = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const output = verbOutput(args);
      if (output === "paged") {
        // JSON lines of rows, then {"next_cursor": ...}.
        const last = values.pop();
        if (!last || !("next_cursor" in last)) {
          throw new Error(`ctl ${args.join(" ")}: no final next_cursor line: ${r.stdout}`);
        }
        return values;
      }
      return output === "list" || values.length !== 1 ? values : values[0];
    },
    call: (verb, args) => callControl({ path: socketPath }, verb, { args }),
    logs: () => text,
    waitForLog,
    signal: (sig) => child.kill(sig),
    exited,
    stop: async () => {
      if (exitCode === undefined) {
        try {
          await callControl({ path: socketPath }, "stop", { timeoutMs: 3000 });
        } catch {
          try {
            child.kill("SIGTERM");
          } catch { /* gone */ }
        }
      }
      let code: number;
      try {
        code = await exited(8000);
      } catch {
        child.kill("SIGKILL");
        code = await exited(3000);
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      return code;
    },
  };
  if (options.expectFailure) {
    await exited(options.timeoutMs ?? 20_000);
    return daemon;
  }
  try {
    await waitForLog(/\bready\b.*socket=/, options.timeoutMs ?? 20_000);
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  return daemon;
}

/** A message received by the test SMTP server. */
export interface ReceivedMail {
  from: string;
  to: string[];
  /** The raw RFC 5322 message. */
  raw: string;
}

/** A real SMTP server on loopback (npm:smtp-server), recording what it receives. */
export interface TestSmtp {
  port: number;
  messages: ReceivedMail[];
  /** Resolves when `count` messages have arrived (bounded). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** Options for {@linkcode startSmtp}. */
export interface SmtpOptions {
  /** `"none"` (default), `"starttls"` (offers STARTTLS) or `"implicit"` (TLS from the first byte). */
  tls?: "none" | "starttls" | "implicit";
  /** PEM key and certificate for TLS. */
  key?: string;
  cert?: string;
  /** When set, AUTH is required with this user and password. */
  auth?: { user: string; pass: string };
}

/** Makes a self-signed certificate for 127.0.0.1 with openssl (a test tool here, not a runtime dependency). */
export async function makeTestCertificate(
  dir: string,
): Promise<{ key: string; cert: string; keyPath: string; certPath: string }> {
  const keyPath = `${dir}/test.key`, certPath = `${dir}/test.crt`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return {
    key: await Deno.readTextFile(keyPath),
    cert: await Deno.readTextFile(certPath),
    keyPath,
    certPath,
  };
}

/** Starts an SMTP server on 127.0.0.1 (plain by default; STARTTLS, implicit TLS and AUTH on request). */
export async function startSmtp(options: SmtpOptions = {}): Promise<TestSmtp> {
  const { tls = "none" } = options;
  const messages: ReceivedMail[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = new SMTPServer({
    secure: tls === "implicit",
    key: options.key,
    cert: options.cert,
    authOptional: !options.auth,
    allowInsecureAuth: false,
    disabledCommands: [...(tls === "none" ? ["STARTTLS"] : []), ...(options.auth ? [] : ["AUTH"])],
    onAuth(auth, _session, callback) {
      if (
        options.auth && auth.username === options.auth.user && auth.password === options.auth.pass
      ) {
        callback(null, { user: auth.username });
      } else callback(new Error("invalid credentials"));
    },
    logger: false,
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        const raw = new TextDecoder().decode(
          chunks.reduce((a, b) => {
            const m = new Uint8Array(a.length + b.length);
            m.set(a);
            m.set(b, a.length);
            return m;
          }, new Uint8Array(0)),
        );
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
        });
        for (const w of [...waiters]) {
          if (messages.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        callback();
      });
    },
  });
  const port = freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port,
    messages,
    waitFor: (count, timeoutMs = 10_000) => {
      if (messages.length >= count) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `SMTP server got ${messages.length} of ${count} messages in ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
