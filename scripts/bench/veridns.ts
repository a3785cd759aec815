/**
 * VeriDNS throughput benchmark: verifications per second over 100
 * concurrent TLS connections with a warm resolver cache, with p50/p99
 * latency, against a reference measured in the same run: a trivial TLS
 * server on the same stack that answers every request frame with a fixed
 * 13-byte response (transport cost only).
 *
 * The server (the real veridns component with its store, daily log and alert
 * bus; trusted resolver = a DNS server on loopback) and the load generator run
 * as separate processes, so both share the machine's cores as they would.
 *
 * Usage: deno run -A scripts/bench/veridns.ts [--connections 100] [--seconds 5] [--domains 200]
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import {
  encodeVerifyRequest,
  encodeVerifyResponse,
  FrameDecoder,
  ipv4ToNumber,
} from "../../lib/veridns/codec.ts";
import { ensureSelfSigned } from "../../lib/tls/mod.ts";
import {
  freeTcpPort,
  startDns,
  startHarness,
  type TestZone,
} from "../../test/veridns/_fixtures.ts";

const args = Deno.args;
function opt(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}
const CONNECTIONS = opt("connections", 100);
const SECONDS = opt("seconds", 5);
const DOMAINS = opt("domains", 200);

function domainName(i: number): string {
  return `host${i}.bench.test`;
}
function domainAddress(i: number): string {
  return `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
}

/** Server process: the veridns component (or the echo reference) until stdin closes. */
async function serve(kind: "veridns" | "echo"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-bench-veridns-" });
  let stop: () => Promise<void>;
  let port: number;
  let ca: string;
  if (kind === "veridns") {
    const zone: TestZone = {};
    for (let i = 0; i < DOMAINS; i++) zone[domainName(i)] = { a: [domainAddress(i)], ttl: 3600 };
    const dns = await startDns(zone);
    port = freeTcpPort();
    const h = await startHarness(
      `
[geoip]
city_db = ""
asn_db = ""
[log]
level = "warn"
[veridns]
listen = ["127.0.0.1:${port}"]
max_connections_per_ip = 1000
requests_per_second = 0
[[veridns.resolver]]
address = "${dns.address}"
`,
      dir,
    );
    ca = `${dir}/lib/veridns.crt`;
    stop = async () => {
      await h.close();
      await dns.close();
    };
  } else {
    const cert = await ensureSelfSigned(dir, { commonName: "bench", altNames: ["127.0.0.1"] });
    ca = cert.certPath;
    const ctx = tls.createSecureContext({
      cert: await Deno.readTextFile(cert.certPath),
      key: await Deno.readTextFile(cert.keyPath),
    });
    const answer = encodeVerifyResponse(0, []);
    const srv = net.createServer((raw) => {
      const s = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
      const d = new FrameDecoder({ role: "server" });
      const frames: unknown[] = [];
      s.on("data", (chunk: Uint8Array) => {
        d.feed(chunk, frames as never[]);
        for (let i = 0; i < frames.length; i++) s.write(answer);
        frames.length = 0;
      });
      s.on("error", () => {});
    });
    port = await new Promise<number>((r) =>
      srv.listen(0, "127.0.0.1", () => r((srv.address() as net.AddressInfo).port))
    );
    stop = () => new Promise<void>((r) => srv.close(() => r()));
  }
  console.log(JSON.stringify({ ready: true, port, ca }));
  // Runs until the orchestrator closes our stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** Load generator: CONNECTIONS sessions, each one request in flight, for SECONDS. */
async function load(port: number, ca: string, check: boolean): Promise<void> {
  const caPem = await Deno.readTextFile(ca);
  const requests = Array.from({ length: DOMAINS }, (_, i) => {
    // One in ten requests also reports an address no resolver gave: a malicious answer.
    const addrs = [ipv4ToNumber(domainAddress(i))];
    if (i % 10 === 0) addrs.push(ipv4ToNumber("203.0.113.66"));
    return (seq: number) => encodeVerifyRequest(seq, domainName(i), addrs);
  });
  const conns = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () => Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caPem] }),
    ),
  );
  // Warm-up: every domain once, so the resolver cache is warm for the timed run.
  const latencies: number[] = [];
  let wrong = 0;
  const run = async (conn: Deno.TlsConn, idx: number, until: number, record: boolean) => {
    const d = new FrameDecoder({ role: "client" });
    const buf = new Uint8Array(4096);
    const frames: { type: number; seq: number; verified?: boolean }[] = [];
    let seq = (idx * 1_000_003) >>> 0;
    let i = idx;
    while (performance.now() < until) {
      const dom = i % DOMAINS;
      i += CONNECTIONS;
      const t0 = performance.now();
      await conn.write(requests[dom](seq));
      while (frames.length === 0) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("server closed the connection");
        const err = d.feed(buf.subarray(0, n), frames as never[]);
        if (err) throw err;
      }
      const f = frames.shift()!;
      if (check && (f.seq !== seq || (f.verified === true) !== (dom % 10 !== 0))) wrong++;
      if (record) latencies.push(performance.now() - t0);
      seq = (seq + 1) >>> 0;
    }
  };
  const warmUntil = performance.now() + 1000;
  await Promise.all(conns.map((c, i) => run(c, i, warmUntil, false)));
  wrong = 0;
  const t0 = performance.now();
  await Promise.all(conns.map((c, i) => run(c, i, t0 + SECONDS * 1000, true)));
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(JSON.stringify({
    requests: latencies.length,
    rate: latencies.length / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    wrong,
  }));
}

function spawnSelf(extra: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...extra, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

async function measure(kind: "veridns" | "echo") {
  const server = spawnSelf(["--serve", kind]);
  const ready = JSON.parse(await firstLine(server.stdout));
  const client = spawnSelf(["--load", String(ready.port), ready.ca, kind]);
  await client.stdin.close();
  const result = JSON.parse(await firstLine(client.stdout));
  await client.status;
  await server.stdin.close();
  await server.status;
  await server.stdout.cancel().catch(() => {});
  return result as { requests: number; rate: number; p50: number; p99: number; wrong: number };
}

if (args.includes("--serve")) {
  await serve(args[args.indexOf("--serve") + 1] as "veridns" | "echo");
} else if (args.includes("--load")) {
  const i = args.indexOf("--load");
  await load(Number(args[i + 1]), args[i + 2], args[i + 3] === "veridns");
} else {
  console.log(
    `veridns benchmark: ${CONNECTIONS} TLS connections, ${SECONDS}s timed after 1s warm-up, ${DOMAINS} domains (10% with a malicious address), ${navigator.hardwareConcurrency} cores`,
  );
  const echo = await measure("echo");
  const v = await measure("veridns");
  const fmt = (r: typeof v) =>
    `${Math.round(r.rate).toString().padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${
      r.p99.toFixed(2)
    } ms   (${r.requests} requests)`;
  console.log(`reference (TLS frame echo): ${fmt(echo)}`);
  console.log(`veridns verifications:      ${fmt(v)}`);
  console.log(`ratio veridns / reference:  ${(v.rate / echo.rate).toFixed(2)}`);
  console.log(`wrong answers (verdict or sequence number): ${v.wrong}`);
  console.log(`target >= 5000 verifications/s: ${v.rate >= 5000 ? "met" : "NOT met"}`);
  if (v.wrong > 0) Deno.exit(1);
}
