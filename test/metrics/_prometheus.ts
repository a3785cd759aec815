/**
 * A real Prometheus server (Debian's `prometheus`) for tests: started in a
 * temp dir on a free loopback port, scraping the given targets every
 * second, queried through its HTTP API.
 *
 * @module
 */

import { freePort } from "../_helpers.ts";

/** A running Prometheus. */
export interface TestPrometheus {
  /** Base URL of its HTTP API. */
  url: string;
  /** Runs an instant query; returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /**
   * Polls `expr` until `accept` holds for its result (bounded by `timeoutMs`;
   * Prometheus scrapes once a second, so each poll waits for the next scrape).
   */
  until(
    expr: string,
    accept: (r: { metric: Record<string, string>; value: [number, string] }[]) => boolean,
    timeoutMs?: number,
  ): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startPrometheus}. */
export interface PrometheusOptions {
  /** `HOST:PORT` of each target's `/metrics`. */
  targets: string[];
  /** A file with the bearer token to send. */
  tokenFile?: string;
}

/** Starts Prometheus and resolves once it is ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<TestPrometheus> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-prometheus-" });
  const port = freePort();
  const auth = options.tokenFile
    ? `    authorization:\n      type: Bearer\n      credentials_file: ${options.tokenFile}\n`
    : "";
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: vigia\n${auth}    static_configs:\n      - targets: [${
      options.targets.map((t) => `"${t}"`).join(", ")
    }]\n`,
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-lifecycle",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  child.status.then(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await child.status;
    clearTimeout(timer);
    await stderr;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let ready = false;
  for (let i = 0; i < 300 && !exited && !ready; i++) {
    try {
      const r = await fetch(`${url}/-/ready`);
      await r.body?.cancel();
      ready = r.ok;
    } catch { /* not listening yet */ }
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (!ready) {
    await stop();
    throw new Error(`prometheus did not become ready:\n${await stderr}`);
  }
  const query = async (expr: string) => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await r.json();
    if (body.status !== "success") throw new Error(`query ${expr}: ${JSON.stringify(body)}`);
    return body.data.result;
  };
  return {
    url,
    query,
    until: async (expr, accept, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        const result = await query(expr);
        last = result;
        if (accept(result)) return result;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`prometheus: ${expr} never satisfied; last result ${JSON.stringify(last)}`);
    },
    stop,
  };
}
