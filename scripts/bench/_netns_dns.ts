/**
 * Shared harness of the live benchmarks: re-run the calling script inside a
 * network namespace it creates (loopback only, nothing leaves it), serve a
 * generated zone from NSD on 127.0.0.1:53 there, and drive it with dnsperf
 * at a fixed query rate.
 *
 * @module
 */

import { nsdConf } from "../nsd_conf.ts";

/** Runs a command; returns stdout+stderr, throws with them when it fails. */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/**
 * When `inner` is false: needs root, creates namespace `<prefix>-<pid>` with
 * `lo` up, re-runs `script` there with `--inner` and the same arguments,
 * deletes the namespace and exits. When `inner` is true it returns at once
 * and the caller goes on inside the namespace.
 */
export async function enterNetns(script: string, options: { inner: boolean; prefix: string }) {
  if (options.inner) return;
  if (Deno.uid() !== 0) {
    console.log(`${options.prefix}: needs root (network namespace, live capture); not run`);
    Deno.exit(0);
  }
  const ns = `${options.prefix}-${Deno.pid}`;
  await run("ip", ["netns", "add", ns]);
  try {
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", script, "--inner", ...Deno.args],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    if (!(await child.status).success) Deno.exitCode = 1;
  } finally {
    await run("ip", ["netns", "del", ns]);
  }
  Deno.exit();
}

/** NSD serving `bench.test` (SOA, NS and `hosts` A records) and the matching dnsperf query file. */
export interface BenchDns {
  /** The temp directory holding zone, queries and NSD's files. */
  dir: string;
  /** The NSD process. */
  nsd: Deno.ChildProcess;
  /** dnsperf at `pps / 2` queries/s (a query and its answer are two packets) for `seconds`. */
  load(
    options: { pps: number; seconds: number; clients: number },
  ): Promise<{ sent: number; completed: number }>;
}

/** Writes the zone and query file, starts NSD on 127.0.0.1:53 and waits until it answers. */
export async function startBenchDns(
  options: { prefix: string; hosts?: number },
): Promise<BenchDns> {
  const { prefix, hosts = 5000 } = options;
  const dir = await Deno.makeTempDir({ prefix });
  const ZONE = "bench.test";
  const zone = [
    `$ORIGIN ${ZONE}.`,
    "$TTL 300",
    "@ SOA ns1 host 1 7200 3600 1209600 300",
    "@ NS ns1",
    "ns1 A 127.0.0.1",
  ];
  const queries: string[] = [];
  for (let i = 0; i < hosts; i++) {
    zone.push(`h${i} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    queries.push(`h${i}.${ZONE} A`);
  }
  await Deno.writeTextFile(`${dir}/bench.zone`, zone.join("\n") + "\n");
  await Deno.writeTextFile(`${dir}/queries.txt`, queries.join("\n") + "\n");
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({ dir, zones: [{ name: ZONE, file: "bench.zone" }] }),
  );
  const nsd = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  for (let i = 0; i < 100; i++) {
    const out = await new Deno.Command("dig", {
      args: ["@127.0.0.1", `h1.${ZONE}`, "+short", "+tries=1", "+time=1"],
      stdout: "piped",
    }).output();
    if (new TextDecoder().decode(out.stdout).trim() === "10.0.0.1") break;
    if (i === 99) throw new Error("nsd did not start");
  }
  return {
    dir,
    nsd,
    async load({ pps, seconds, clients }) {
      const text = await run("dnsperf", [
        "-s",
        "127.0.0.1",
        "-d",
        `${dir}/queries.txt`,
        "-c",
        String(clients),
        "-Q",
        String(Math.round(pps / 2)),
        "-l",
        String(seconds),
        "-q",
        "2000",
      ]);
      const sent = Number(/Queries sent:\s+(\d+)/.exec(text)?.[1]);
      const completed = Number(/Queries completed:\s+(\d+)/.exec(text)?.[1]);
      if (!(sent > 0)) throw new Error(`dnsperf output not understood:\n${text}`);
      return { sent, completed };
    },
  };
}

/**
 * The reference of the live benchmarks: `tcpdump -w /dev/null` on `lo`
 * while `bench` sends its load. Returns packets expected (queries sent +
 * answers received), captured and dropped by the kernel.
 */
export async function tcpdumpReference(
  bench: BenchDns,
  load: { pps: number; seconds: number; clients: number },
): Promise<{ expected: number; captured: number; dropped: number }> {
  const td = new Deno.Command("tcpdump", {
    args: ["-i", "lo", "-n", "-w", "/dev/null", "-B", "32768", "udp port 53"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // tcpdump says "listening on lo" once the capture is open.
  const reader = td.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  while (!err.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) break;
    err += value;
  }
  const l = await bench.load(load);
  td.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    err += value;
  }
  await td.status;
  return {
    expected: l.sent + l.completed,
    captured: Number(/(\d+) packets? captured/.exec(err)?.[1]),
    dropped: Number(/(\d+) packets? dropped by kernel/.exec(err)?.[1]),
  };
}
