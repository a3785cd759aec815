/**
 * Provenance of ingested captures (`captures.ts`): every ingest recorded,
 * every stored event tagged with its capture, the same file refused or
 * replaced with `force`, and retention by ingestion time, not packet time.
 */

import assert from "node:assert/strict";
import { CaptureError } from "../../lib/capture/mod.ts";
import { openEventWriter } from "../../lib/sniffer/event_writer.ts";
import { eventsDbPath, pruneEventsDb } from "../../lib/sniffer/events_db.ts";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { Pipeline } from "../../lib/sniffer/pipeline.ts";
import type { SnifferConfig } from "../../lib/sniffer/config.ts";
import { dnsEvent, dnsPair, type Env, makeEnv, meta, writePcap } from "./_fixtures.ts";

/** 2020-06-10: far older than any retention. */
const OLD = Date.parse("2020-06-10T09:00:00Z");

async function oldCapture(env: Env, name = "old.pcap", pairs = 5): Promise<string> {
  const records = [];
  for (let i = 0; i < pairs; i++) {
    records.push(...dnsPair({
      ts: OLD + i * 1000,
      clientMac: `3c:22:fb:00:00:0${i}`,
      clientIp: `10.0.0.${10 + i}`,
      serverIp: "10.0.0.1",
      id: i,
      qname: `h${i}.example`,
    }));
  }
  return await writePcap(env.dir, name, records);
}

const ingest = (env: Env, file: string, force = false) =>
  runIngest(file, { ...env, alerts: env.bus, force });

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("captures: every ingest is recorded, and every event it stored carries its id", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  try {
    const file = await oldCapture(env);
    const r = await ingest(env, file);
    assert.equal(r.packets, 10);
    assert.equal(r.events, 10);
    assert.equal(r.packets, r.decoded + r.ignored + r.pending);
    assert.equal(r.sha256, await sha256(file));
    const [c] = env.events.query<Record<string, unknown>>("SELECT * FROM captures");
    assert.equal(c.id, r.capture);
    assert.equal(c.path, file);
    assert.equal(c.size, (await Deno.stat(file)).size);
    assert.equal(c.sha256, r.sha256);
    assert.equal(c.format, "pcap");
    assert.equal(c.link_type, "1");
    assert.equal(c.packets, 10);
    assert.equal(c.events, 10);
    assert.equal(c.state, "done");
    assert.equal(c.first_packet, OLD * 1000);
    assert.equal(c.last_packet, (OLD + 4000.5) * 1000);
    assert.ok(Math.abs(Number(c.ingested_at) / 1000 - Date.now()) < 60_000);
    assert.deepEqual(JSON.parse(String(c.counts)).decoded, 10);
    const tagged = env.events.get<{ n: number; tagged: number }>(
      "SELECT count(*) AS n, count(*) FILTER (WHERE capture = ?) AS tagged FROM events",
      r.capture,
    )!;
    assert.deepEqual({ ...tagged }, { n: 10, tagged: 10 });
  } finally {
    await env.close();
  }
});

Deno.test("captures: the same file again is refused naming the earlier ingest; force replaces it", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  try {
    const file = await oldCapture(env);
    const first = await ingest(env, file);
    // A copy under another name is the same evidence: refused too.
    const copy = `${env.dir}/copy.pcap`;
    await Deno.copyFile(file, copy);
    await assert.rejects(
      () => ingest(env, copy),
      (e: Error) =>
        e instanceof CaptureError &&
        new RegExp(`already ingested: capture ${first.capture} \\(${file}, 10 events`).test(
          e.message,
        ) && /--force/.test(e.message),
    );
    const count = () => env.events.get<{ n: number }>("SELECT count(*) AS n FROM events")!.n;
    assert.equal(count(), 10, "the refused ingest stored nothing");
    const again = await ingest(env, copy, true);
    assert.deepEqual(again.replaced, [first.capture]);
    assert.notEqual(again.capture, first.capture);
    assert.equal(count(), 10, "replaced, not doubled");
    const ids = env.events.query<{ id: number }>("SELECT id FROM captures").map((c) => c.id);
    assert.deepEqual(ids, [again.capture]);
    assert.equal(
      env.events.get<{ n: number }>(
        "SELECT count(*) AS n FROM events WHERE capture = ?",
        again.capture,
      )!
        .n,
      10,
    );
    // A file vigia cannot read leaves no capture behind.
    const junk = `${env.dir}/junk.pcap`;
    await Deno.writeTextFile(junk, "not a capture at all, not even close");
    await assert.rejects(() => ingest(env, junk), CaptureError);
    assert.equal(env.events.query("SELECT id FROM captures").length, 1);
  } finally {
    await env.close();
  }
});

Deno.test("captures: the hash taken while reading covers the whole file, a cut one too; same size is not same file", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  try {
    const file = await oldCapture(env);
    const bytes = await Deno.readFile(file);
    // Cut in the middle of the last record: the reader stops there, the hash must not.
    const cut = `${env.dir}/cut.pcap`;
    await Deno.writeFile(cut, bytes.subarray(0, bytes.length - 7));
    const r = await ingest(env, cut);
    assert.equal(r.sha256, await sha256(cut));
    assert.equal(r.malformed["file-truncated"], 1);
    const c = env.events.get<{ sha256: string; size: number }>(
      "SELECT sha256, size FROM captures WHERE id = ?",
      r.capture,
    )!;
    assert.deepEqual({ ...c }, { sha256: r.sha256, size: bytes.length - 7 });
    // Same size, one byte different (a query name letter): another file, ingested, not refused.
    const other = `${env.dir}/other.pcap`;
    const changed = bytes.slice(0, bytes.length - 7);
    const at = changed.lastIndexOf(0x68); // 'h' of a query name
    changed[at] = 0x67;
    await Deno.writeFile(other, changed);
    const r2 = await ingest(env, other);
    assert.notEqual(r2.sha256, r.sha256);
    assert.equal(r2.sha256, await sha256(other));
    assert.deepEqual(r2.replaced, []);
    await assert.rejects(() => ingest(env, other), /already ingested/);
  } finally {
    await env.close();
  }
});

Deno.test("prune: live events age by packet time, ingested ones by ingestion time", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  try {
    const r = await ingest(env, await oldCapture(env));
    // Live rows (no capture): one as old as the capture, one from now.
    const writer = await openEventWriter(env.store, { log: env.log });
    const pipeline = new Pipeline({
      section: env.config.sniffer as SnifferConfig,
      store: env.store,
      writer,
      dailyLog: env.dailyLog,
      alerts: env.bus,
      log: env.log,
      timeZone: "UTC",
      backpressure: "wait",
    });
    await pipeline.process([
      dnsEvent(meta({ ts: OLD, srcMac: "3c:22:fb:00:00:09", srcIp: "10.0.0.99" })),
      dnsEvent(meta({ ts: Date.now(), srcMac: "3c:22:fb:00:00:09", srcIp: "10.0.0.99" })),
    ]);
    await pipeline.close();
    const rows = () =>
      env.events.query<{ capture: number | null }>("SELECT capture FROM events ORDER BY id")
        .map((e) => e.capture);
    assert.deepEqual(rows(), [...Array(10).fill(r.capture), null, null]);
    const path = eventsDbPath(env.store);
    const before = Date.now() - 30 * 86_400_000;
    // Through the running writer, as the daemon does: the old live row goes, the capture stays.
    assert.equal(await writer.prune({ before, ingestBefore: before }), 1);
    assert.deepEqual(rows(), [...Array(10).fill(r.capture), null]);
    await writer.close();
    // Once its ingestion time is past the cutoff, the capture goes with all its events.
    assert.equal(pruneEventsDb(path, { before, ingestBefore: Date.now() + 1000 }), 10);
    assert.deepEqual(rows(), [null]);
    assert.equal(env.events.query("SELECT id FROM captures").length, 0);
  } finally {
    await env.close();
  }
});
