/**
 * Fragmented DNS answers and PPP captures through the whole ingest: a
 * 4000-byte answer in three IPv4 fragments (and in three IPv6 fragments,
 * out of order) is stored with all its records; `vigia ingest` of a capture
 * of past days seals those days, and `vigia logs verify` checks them; a
 * capture vigia cannot read says what it ignored and why.
 */

import assert from "node:assert/strict";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { runVigia } from "../_helpers.ts";
import { concat, dnsMessage, ethernet, pcapBytes, u16, udpIp } from "../capture/_frames.ts";
import { bigAnswer, ipv4Fragments, ipv6Fragments } from "../capture/_fragments.ts";
import { makeEnv, readable, T0, writePcap } from "./_fixtures.ts";

const CLIENT_MAC = "3c:22:fb:00:00:01";
const SERVER_MAC = "00:11:22:33:44:55";

Deno.test("ingest: a 4000-byte DNS answer in three fragments is stored with all its records", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  try {
    const answer = bigAnswer(0x4000, "big.example.org", 4000);
    const records = (answer[6] << 8) | answer[7];
    const v4 = ipv4Fragments({ src: "10.0.0.1", dst: "10.0.0.2" }, 53, 40000, answer, [1480, 2960]);
    const v6 = ipv6Fragments({ src: "2001:db8::53", dst: "2001:db8::2" }, 53, 40001, answer, [
      1448,
      2896,
    ]);
    const query = udpIp(
      { src: "10.0.0.2", dst: "10.0.0.1" },
      40000,
      53,
      dnsMessage({
        id: 0x4000,
        qname: "big.example.org",
        qtype: 1,
      }),
    );
    const frames = [query, v4[0], v4[1], v4[2], v6[2], v6[0], v6[1]];
    const file = await writePcap(
      env.dir,
      "frag.pcap",
      frames.map((p, i) => ({
        ts: T0 + i,
        data: i === 0 ? ethernet(CLIENT_MAC, SERVER_MAC, p) : ethernet(SERVER_MAC, CLIENT_MAC, p),
      })),
    );
    const r = await runIngest(file, { ...env, alerts: env.bus });
    assert.equal(r.packets, 7);
    assert.equal(r.events, 3);
    const rows = readable(env).filter((x) => x.query === "big.example.org" && x.to_client === 1);
    assert.equal(rows.length, 2);
    for (const row of rows) {
      const answers = JSON.parse(row.answers as string) as unknown[][];
      assert.equal(answers.length, records, "every record of the reassembled answer is stored");
      assert.deepEqual(answers[records - 1].slice(1), ["A", 60, `10.0.0.${records - 1}`]);
      assert.equal(row.client_mac, CLIENT_MAC);
    }
  } finally {
    await env.close();
  }
});

Deno.test("ingest: vigia ingest seals the past days it wrote; logs verify checks them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-ingest-seal-" });
  try {
    const config = `${dir}/vigia.toml`;
    await Deno.writeTextFile(
      config,
      `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
        `[log]\ntimezone = "UTC"\n[sniffer]\nnew_station_alert = false\n`,
    );
    // Two days of 2020 over PPP (no MACs), and an LCP frame vigia cannot log.
    const day1 = Date.parse("2020-05-01T10:00:00Z");
    const day2 = Date.parse("2020-05-02T10:00:00Z");
    const ppp = (packet: Uint8Array) => concat(new Uint8Array([0xff, 0x03]), u16(0x0021), packet);
    const q = (id: number) =>
      ppp(udpIp(
        { src: "10.64.0.2", dst: "10.64.0.1" },
        40000 + id,
        53,
        dnsMessage({
          id,
          qname: `q${id}.example.org`,
          qtype: 1,
        }),
      ));
    const lcp = concat(new Uint8Array([0xff, 0x03]), u16(0xc021), new Uint8Array(8));
    const capture = `${dir}/old.pcap`;
    await Deno.writeFile(
      capture,
      pcapBytes(9, [
        { ts: day1, data: q(1) },
        { ts: day1 + 1, data: lcp },
        { ts: day2, data: q(2) },
      ]),
    );
    const r = await runVigia(["ingest", capture, "--config", config, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim());
    assert.equal(result.packets, 3);
    assert.equal(result.events, 2);
    const seals = (await Deno.readTextFile(`${dir}/log/seals.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(
      seals.map((s) => `${s.kind} ${s.file}`).sort(),
      ["final 2020-05-01.log", "final 2020-05-02.log"],
    );
    const ok = await runVigia(["logs", "verify", "--config", config]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok: 2 files match their seals/m);
    await Deno.writeTextFile(`${dir}/log/2020-05-01.log`, "forged\n", { append: true });
    const bad = await runVigia(["logs", "verify", "--config", config]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^EDITED +2020-05-01\.log: 7 bytes added after its final seal/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ingest: the summary says what was ignored and why, not just '0 events'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-ingest-ignored-" });
  try {
    const config = `${dir}/vigia.toml`;
    await Deno.writeTextFile(
      config,
      `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
        `[log]\ntimezone = "UTC"\n`,
    );
    const frame = concat(u16(0x0021), new Uint8Array(40));
    const unknown = `${dir}/unknown-link.pcap`;
    await Deno.writeFile(
      unknown,
      pcapBytes(147, [{ ts: T0, data: frame }, { ts: T0 + 1, data: frame }]),
    );
    const r = await runVigia(["ingest", unknown, "--config", config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /: 2 packets: 0 decoded into 0 DNS\/DHCP events stored, 2 ignored \(unsupported-link-type 2\), none malformed; /,
    );
    const lcp = concat(new Uint8Array([0xff, 0x03]), u16(0xc021), new Uint8Array(8));
    const ppp = `${dir}/lcp.pcap`;
    await Deno.writeFile(
      ppp,
      pcapBytes(9, [{ ts: T0, data: lcp }, { ts: T0 + 1, data: new Uint8Array(0) }]),
    );
    const p = await runVigia(["ingest", ppp, "--config", config, "--json"]);
    assert.equal(p.code, 0, p.stderr);
    const result = JSON.parse(p.stdout);
    assert.deepEqual(result.ignored_by, { "unsupported-ppp-protocol": 1 });
    assert.deepEqual(result.malformed, { "short-link": 1 });
    assert.equal(result.decoded + result.ignored + 1 + result.pending, result.packets);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
