/**
 * Live capture with libpcap on `lo`: real `dig` queries to a UDP responder
 * and a DNS-over-TCP exchange written in pieces arrive as events; stop() is
 * prompt while idle; missing interface, bad filter and a missing
 * CAP_NET_RAW give clear errors. Needs root (skipped otherwise).
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  CaptureError,
  type DnsFields,
  type SniffedEvent,
  startLiveCapture,
} from "../../lib/capture/mod.ts";
import { hasCommand, isRoot, repoRoot } from "../_env.ts";
import { concat, dnsMessage, ip, u16 } from "./_frames.ts";

const canCapture = isRoot && Deno.build.os === "linux";
if (!canCapture) {
  console.log("SKIP capture/live: live capture on lo needs root (CAP_NET_RAW) on Linux");
}
const hasDig = hasCommand("dig");
if (canCapture && !hasDig) console.log("SKIP capture/live dig test: dig is not installed");
const hasSetpriv = hasCommand("setpriv");
if (canCapture && !hasSetpriv) {
  console.log("SKIP capture/live capability test: setpriv is not installed");
}

const ANSWER = "192.0.2.99";

/** A UDP DNS responder on 127.0.0.1 answering every A query with ANSWER. */
async function udpResponder(): Promise<{ port: number; close(): Promise<void> }> {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    if (msg.length < 12) return;
    // The question echoed back (dig's OPT record is left out), one A record pointing at its name.
    const reply = concat(
      new Uint8Array(msg.subarray(0, 2)),
      u16(0x8180),
      u16(1),
      u16(1),
      u16(0),
      u16(0),
      new Uint8Array(msg.subarray(12, 12 + questionLength(msg))),
      new Uint8Array([0xc0, 12]),
      u16(1),
      u16(1),
      new Uint8Array([0, 0, 0, 60]),
      u16(4),
      ip(ANSWER),
    );
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", res));
  return {
    port: sock.address().port,
    close: () => new Promise<void>((res) => sock.close(() => res())),
  };
}

function questionLength(msg: Uint8Array): number {
  let p = 12;
  while (p < msg.length && msg[p] !== 0) p += msg[p] + 1;
  return p + 1 + 4 - 12;
}

/** Collects events until `want` says there are enough. */
function collector(want: (events: SniffedEvent[]) => boolean) {
  const events: SniffedEvent[] = [];
  let resolve!: () => void;
  const enough = new Promise<void>((r) => resolve = r);
  return {
    events,
    enough,
    onBatch(batch: SniffedEvent[]) {
      events.push(...batch);
      if (want(events)) resolve();
    },
  };
}

/** Rejects after `ms` (a bound on waiting for an event, not a synchronisation sleep). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, rej) =>
    timer = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms)
  );
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const dns = (e: SniffedEvent) => (e as { dns: DnsFields }).dns;

Deno.test({
  name: "live: dig queries on lo arrive as DNS events; stop() is prompt",
  ignore: !canCapture || !hasDig,
  async fn() {
    const server = await udpResponder();
    const col = collector((ev) =>
      ev.filter((e) => e.kind === "dns" && dns(e).query === "live.vigia.test").length >= 6
    );
    const capture = await startLiveCapture("lo", {
      filter: `udp port ${server.port}`,
      dnsPorts: [server.port],
      timeoutMs: 20,
      onBatch: col.onBatch,
    });
    try {
      assert.equal(capture.iface, "lo");
      assert.equal(capture.linkType, 1);
      for (let i = 0; i < 3; i++) {
        const out = await new Deno.Command("dig", {
          args: [
            `@127.0.0.1`,
            "-p",
            String(server.port),
            "live.vigia.test",
            "A",
            "+tries=1",
            "+time=2",
            "+short",
          ],
          stdout: "piped",
        }).output();
        assert.equal(
          new TextDecoder().decode(out.stdout).trim(),
          ANSWER,
          "dig got the responder's answer",
        );
      }
      await within(col.enough, 5000, "3 queries and 3 responses captured");
      const ours = col.events.filter((e) => e.kind === "dns" && dns(e).query === "live.vigia.test");
      const queries = ours.filter((e) => !dns(e).qr);
      const responses = ours.filter((e) => dns(e).qr);
      assert.equal(queries.length, 3);
      assert.equal(responses.length, 3);
      for (const q of queries) {
        assert.equal(q.meta.srcIp, "127.0.0.1");
        assert.equal(q.meta.dstPort, server.port);
        assert.equal(q.meta.srcMac, "00:00:00:00:00:00");
        assert.equal(dns(q).qtype_name, "A");
        assert.ok(Math.abs(q.meta.ts - Date.now()) < 60_000, "capture time is now");
      }
      assert.deepEqual(responses.map((r) => dns(r).answers.map((a) => a.data)), [
        [ANSWER],
        [ANSWER],
        [ANSWER],
      ]);
      assert.deepEqual(
        responses.map((r) => dns(r).trans_id),
        queries.map((q) => dns(q).trans_id),
      );
      const c = capture.counters();
      assert.ok(c.packets >= 6);
      assert.ok(c.dns >= 6);
      assert.equal(c.kernelDrops, 0);
      assert.equal(c.vigiaDrops, 0);
    } finally {
      // The interface is idle now: pcap_dispatch is blocked and only pcap_breakloop frees it.
      const t0 = performance.now();
      await capture.stop();
      const took = performance.now() - t0;
      assert.ok(took < 1000, `stop() took ${took.toFixed(0)} ms`);
      await capture.done;
      await server.close();
    }
  },
});

Deno.test({
  name: "live: DNS over TCP written in pieces is reassembled",
  ignore: !canCapture,
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const reply = dnsMessage({
      id: 77,
      response: true,
      qname: "tcp.vigia.test",
      qtype: 1,
      answers: [{ type: 1, data: ip(ANSWER) }],
    });
    const serving = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(512);
      let got = 0;
      while (got < 2 || got < 2 + ((buf[0] << 8) | buf[1])) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      await conn.write(concat(u16(reply.length), reply));
      conn.close();
    })();
    const col = collector((ev) => ev.filter((e) => e.kind === "dns").length >= 2);
    const capture = await startLiveCapture("lo", {
      filter: `tcp port ${port}`,
      dnsPorts: [port],
      onBatch: col.onBatch,
    });
    try {
      const query = dnsMessage({ id: 77, qname: "tcp.vigia.test", qtype: 1 });
      const wire = concat(u16(query.length), query);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.setNoDelay(true);
      // Three writes: the length prefix alone, half the message, the rest.
      for (const part of [wire.subarray(0, 1), wire.subarray(1, 15), wire.subarray(15)]) {
        await conn.write(part);
      }
      const answer = new Uint8Array(512);
      let n = 0;
      for (let r = await conn.read(answer); r !== null; r = await conn.read(answer.subarray(n))) {
        n += r;
      }
      conn.close();
      await serving;
      assert.equal(n, 2 + reply.length);
      await within(col.enough, 5000, "TCP query and response captured");
      const events = col.events.filter((e) => e.kind === "dns");
      assert.deepEqual(events.map((e) => [e.meta.proto, dns(e).qr, dns(e).query]), [
        ["tcp", false, "tcp.vigia.test"],
        ["tcp", true, "tcp.vigia.test"],
      ]);
      assert.deepEqual(dns(events[1]).answers.map((a) => a.data), [ANSWER]);
      assert.deepEqual(capture.counters().malformed, {});
    } finally {
      await capture.stop();
      listener.close();
    }
  },
});

/** Sends `count` DNS queries for `name` to 127.0.0.1:`port` from a child process (not this thread). */
function sendFromChild(port: number, count: number, name: string): Deno.ChildProcess {
  const code = `
import dgram from "node:dgram";
const s = dgram.createSocket("udp4");
const label = (t) => [t.length, ...new TextEncoder().encode(t)];
const q = new Uint8Array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...${
    JSON.stringify(name)
  }.split(".").flatMap(label), 0, 0, 1, 0, 1]);
for (let i = 0; i < ${count}; i++) {
  q[0] = i >> 8; q[1] = i & 255;
  await new Promise((r) => s.send(q, ${port}, "127.0.0.1", r));
}
s.close();
`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", code],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

Deno.test({
  name: "live: decodeIn worker delivers the same events",
  ignore: !canCapture,
  async fn() {
    const listener = dgram.createSocket("udp4");
    await new Promise<void>((res) => listener.bind(0, "127.0.0.1", res));
    const port = listener.address().port;
    const col = collector((ev) => ev.length >= 50);
    const capture = await startLiveCapture("lo", {
      filter: `udp dst port ${port}`,
      dnsPorts: [port],
      decodeIn: "worker",
      onBatch: col.onBatch,
    });
    try {
      assert.ok((await sendFromChild(port, 50, "worker.vigia.test").status).success);
      await within(col.enough, 5000, "50 queries captured");
      assert.deepEqual(
        col.events.map((e) => dns(e).trans_id),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.ok(col.events.every((e) => dns(e).query === "worker.vigia.test"));
      assert.equal(capture.counters().dns, 50);
    } finally {
      await capture.stop();
      await new Promise<void>((res) => listener.close(() => res()));
    }
  },
});

Deno.test({
  name: "live: a consumer that falls behind costs counted vigia drops, not memory",
  ignore: !canCapture,
  async fn() {
    const listener = dgram.createSocket("udp4");
    await new Promise<void>((res) => listener.bind(0, "127.0.0.1", res));
    const port = listener.address().port;
    let delivered = 0;
    const blocker = new Int32Array(new SharedArrayBuffer(4));
    const capture = await startLiveCapture("lo", {
      filter: `udp dst port ${port}`,
      dnsPorts: [port],
      batchSize: 1,
      maxPendingEvents: 1,
      onBatch(batch) {
        // The first batch stalls this thread while the child keeps sending.
        if (delivered === 0) Atomics.wait(blocker, 0, 0, 400);
        delivered += batch.length;
      },
    });
    try {
      assert.ok((await sendFromChild(port, 2000, "slow.vigia.test").status).success);
    } finally {
      await capture.stop();
      await new Promise<void>((res) => listener.close(() => res()));
    }
    const c = capture.counters();
    assert.ok(c.vigiaDrops > 0, JSON.stringify(c));
    assert.equal(c.packets, 2000);
    assert.equal(delivered + c.vigiaDrops, 2000);
    assert.equal(c.kernelDrops, 0);
  },
});

Deno.test({
  name: "live: frames wrap around a small ring in order; every packet delivered or counted",
  ignore: !canCapture,
  async fn() {
    const listener = dgram.createSocket("udp4");
    await new Promise<void>((res) => listener.bind(0, "127.0.0.1", res));
    const port = listener.address().port;
    const ids: number[] = [];
    let wrongName = 0;
    // 5000 frames of about 80 bytes go through a 64 KiB ring: it wraps six times at least.
    const capture = await startLiveCapture("lo", {
      filter: `udp dst port ${port}`,
      dnsPorts: [port],
      snaplen: 512,
      ringBytes: 65536,
      onBatch(batch) {
        for (const e of batch) {
          ids.push(dns(e).trans_id);
          if (dns(e).query !== "wrap.vigia.test") wrongName++;
        }
      },
    });
    try {
      assert.ok((await sendFromChild(port, 5000, "wrap.vigia.test").status).success);
    } finally {
      await capture.stop();
      await new Promise<void>((res) => listener.close(() => res()));
    }
    const c = capture.counters();
    assert.equal(c.packets, 5000);
    assert.equal(ids.length + c.vigiaDrops, 5000, JSON.stringify(c));
    assert.ok(ids.length > 0);
    assert.equal(wrongName, 0);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), "delivered in the order sent");
    assert.deepEqual(c.malformed, {});
  },
});

Deno.test({
  name: "live: while decoding falls behind, the main thread still runs its timers",
  ignore: !canCapture,
  async fn() {
    const listener = dgram.createSocket("udp4");
    await new Promise<void>((res) => listener.bind(0, "127.0.0.1", res));
    const port = listener.address().port;
    let delivered = 0;
    let busy = 0;
    const capture = await startLiveCapture("lo", {
      filter: `udp dst port ${port}`,
      dnsPorts: [port],
      batchSize: 16,
      onBatch(batch) {
        // A slow consumer: 4 ms a batch of 16, so 4000 packets are a second of work.
        const t = performance.now();
        while (performance.now() - t < 4);
        busy += performance.now() - t;
        delivered += batch.length;
      },
    });
    let last = performance.now(), longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 10);
    try {
      assert.ok((await sendFromChild(port, 4000, "busy.vigia.test").status).success);
      // The backlog is worked off with the timer running in between.
      const c0 = capture.counters();
      let resolve!: () => void;
      const caughtUp = new Promise<void>((r) => resolve = r);
      const poll = setInterval(() => {
        if (delivered + capture.counters().vigiaDrops >= c0.packets) resolve();
      }, 20);
      await within(caughtUp, 20_000, "backlog decoded").finally(() => clearInterval(poll));
    } finally {
      clearInterval(ticker);
      await capture.stop();
      await new Promise<void>((res) => listener.close(() => res()));
    }
    assert.ok(busy > 900, `the consumer was busy ${busy.toFixed(0)} ms`);
    assert.ok(longest < 300, `the 10 ms timer waited ${longest.toFixed(0)} ms at most`);
    assert.equal(delivered + capture.counters().vigiaDrops, 4000);
  },
});

Deno.test({
  name: "live: done rejects when the interface disappears (veth in a test netns)",
  ignore: !canCapture || !hasCommand("ip"),
  async fn() {
    const ns = `vigia-capdie-${Deno.pid}`;
    const dir = await Deno.makeTempDir({ prefix: "vigia-capdie-" });
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `import { startLiveCapture } from "${repoRoot}/lib/capture/mod.ts";
const ip = (...args) => new Deno.Command("ip", { args }).output();
await ip("link", "add", "vdie0", "type", "veth", "peer", "name", "vdie1");
await ip("link", "set", "vdie0", "up");
await ip("link", "set", "vdie1", "up");
const c = await startLiveCapture("vdie0", { onBatch() {} });
await ip("link", "del", "vdie0");
try {
  await c.done;
  console.log("resolved");
} catch (e) {
  console.log(e.name + ": " + e.message);
}
`,
    );
    const ip = (...args: string[]) =>
      new Deno.Command("ip", { args, stdout: "null", stderr: "null" }).output();
    assert.ok((await ip("netns", "add", ns)).success);
    try {
      const out = await new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns,
          Deno.execPath(),
          "run",
          "--no-check",
          "--no-config",
          "-A",
          probe,
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.match(
        text,
        /^CaptureError: Capture on "vdie0" failed: /,
        new TextDecoder().decode(out.stderr),
      );
    } finally {
      await ip("netns", "del", ns);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Runs, in a child process, a probe that starts a capture on lo and prints
 * "STARTED" or the error; `wrap` turns the deno command line into another one.
 */
async function probe(
  denoFlags: string[],
  wrap: (deno: string[]) => string[] = (deno) => deno,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-capprobe-" });
  await Deno.chmod(dir, 0o777); // the probe may run as nobody
  try {
    const file = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      file,
      `import { startLiveCapture } from "${repoRoot}/lib/capture/mod.ts";
try {
  const c = await startLiveCapture("lo", { onBatch() {} });
  await c.stop();
  console.log("STARTED");
} catch (e) {
  console.log(e.name + ": " + e.message);
}
`,
    );
    const [cmd, ...args] = wrap([
      Deno.execPath(),
      "run",
      "--no-check",
      "--no-config",
      ...denoFlags,
      file,
    ]);
    const out = await new Deno.Command(cmd, {
      args,
      env: { NO_COLOR: "1", DENO_DIR: dir, HOME: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("live: without --allow-ffi the error names the permission", async () => {
  const text = await probe(["--allow-read"]);
  assert.match(
    text,
    /^CaptureError: Cannot load libpcap: live capture needs the --allow-ffi permission/,
  );
});

Deno.test({
  name: "live: without libpcap the error names the library and the package",
  ignore: !canCapture || !hasCommand("unshare"),
  async fn() {
    const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
    // A private mount namespace where every libpcap file reads as /dev/null.
    const text = await probe(["-A"], (deno) => [
      "unshare",
      "-m",
      "sh",
      "-c",
      `for f in /usr/lib/*/libpcap.so* /lib/*/libpcap.so*; do [ -e "$f" ] && mount --bind /dev/null "$f"; done; exec ${
        deno.map(quote).join(" ")
      }`,
    ]);
    assert.match(
      text,
      /^CaptureError: Cannot load libpcap \(tried libpcap\.so\.0\.8, .*apt-get install libpcap0\.8/,
    );
  },
});

Deno.test({
  name: "live: a missing interface and a bad filter are clear CaptureErrors",
  ignore: !canCapture,
  async fn() {
    await assert.rejects(
      startLiveCapture("vigia-nope0", { onBatch() {} }),
      (e: Error) => e instanceof CaptureError && /"vigia-nope0".*no such interface/.test(e.message),
    );
    await assert.rejects(
      startLiveCapture("lo", { filter: "port banana", onBatch() {} }),
      (e: Error) =>
        e instanceof CaptureError && e.message.includes('invalid capture filter "port banana"'),
    );
    await assert.rejects(
      startLiveCapture("lo", { timeoutMs: 0, onBatch() {} }),
      (e: Error) => e instanceof CaptureError && e.message.includes("timeoutMs"),
    );
  },
});

Deno.test({
  name:
    "live: without CAP_NET_RAW the error names the capability; with it (not root) capture works",
  ignore: !canCapture || !hasSetpriv,
  async fn() {
    const asNobody = (caps: string[]) => (deno: string[]) => [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      ...caps,
      ...deno,
    ];
    const denied = await probe(["--allow-ffi", "--allow-read"], asNobody([]));
    assert.match(denied, /^CaptureError: Cannot capture on "lo": permission denied .*CAP_NET_RAW/);
    const allowed = await probe(
      ["--allow-ffi", "--allow-read"],
      asNobody(["--inh-caps=+net_raw", "--ambient-caps=+net_raw"]),
    );
    assert.equal(allowed, "STARTED");
  },
});
