/**
 * Live capture reassembles IP fragments: in a network namespace of its own
 * (whose `lo` gets a 1500-byte MTU, so the kernel fragments), a 4000-byte
 * DNS answer sent over IPv4 and over IPv6 is captured with the default BPF
 * filter and arrives as one event each, with all its records. Needs root.
 */

import assert from "node:assert/strict";
import { hasCommand, isRoot, repoRoot } from "../_env.ts";

const canRun = isRoot && Deno.build.os === "linux" && hasCommand("ip");
if (!canRun) console.log("SKIP capture/live fragments: needs root and ip(8) on Linux");

Deno.test({
  name: "live: a 4000-byte answer fragmented by the kernel is reassembled (IPv4 and IPv6)",
  ignore: !canRun,
  async fn() {
    const ns = `vigia-frag-${Deno.pid}`;
    const dir = await Deno.makeTempDir({ prefix: "vigia-livefrag-" });
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `import { startLiveCapture } from "${repoRoot}/lib/capture/mod.ts";
import { bigAnswer } from "${repoRoot}/test/capture/_fragments.ts";
const ip = (...args) => new Deno.Command("ip", { args }).output();
await ip("link", "set", "lo", "mtu", "1500");
await ip("link", "set", "lo", "up");
const answer = bigAnswer(0x4444, "big.example.org", 4000);
const events = [];
let done;
const enough = new Promise((r) => done = r);
const capture = await startLiveCapture("lo", {
  onBatch(batch) {
    events.push(...batch);
    if (events.filter((e) => e.meta.srcPort === 53).length >= 2) done();
  },
});
for (const [host, family] of [["127.0.0.1", "v4"], ["::1", "v6"]]) {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: host, port: 53 });
  await sock.send(answer, { transport: "udp", hostname: host, port: 40000 });
  sock.close();
}
let timer;
await Promise.race([enough, new Promise((r) => timer = setTimeout(r, 10000))]);
clearTimeout(timer);
await capture.stop();
const c = capture.counters();
console.log(JSON.stringify({
  events: events.filter((e) => e.meta.srcPort === 53).map((e) => ({
    ip: e.meta.ipVersion,
    answers: e.dns.answers.length,
    length: e.meta.payloadLength,
  })),
  records: (answer[6] << 8) | answer[7],
  size: answer.length,
  fragments: c.fragments,
  reassembled: c.reassembled,
  pending: c.pending,
}));
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
          "--unstable-net",
          "-A",
          probe,
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(text.split("\n").at(-1)!);
      assert.ok(r.size >= 4000);
      assert.deepEqual(r.events, [
        { ip: 4, answers: r.records, length: r.size },
        { ip: 6, answers: r.records, length: r.size },
      ]);
      assert.equal(r.reassembled, 2);
      assert.ok(r.fragments >= 6, `${r.fragments} fragments`);
      assert.equal(r.pending, 0);
    } finally {
      await ip("netns", "del", ns);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
