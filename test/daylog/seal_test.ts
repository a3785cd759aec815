/**
 * Log sealing (lib/daylog/seal.ts): files sealed at rotation, at close and
 * by checkpoints, chained and signed; `verifyLogs` and `vigia logs verify`
 * name every file edited by one byte, truncated, deleted, added or
 * reordered, and every record of the seal file removed or swapped; signed
 * seals verify with the public key and a wrong key is refused.
 */

import assert from "node:assert/strict";
import { DailyLog, LogSealer, SEAL_FILE, verifyLogs } from "../../lib/daylog/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { runVigia } from "../_helpers.ts";

const root = await Deno.makeTempDir({ prefix: "vigia-seal-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
let n = 0;

/** A fresh log dir holding `days` daily files (and one alerts file), each sealed as final. */
async function sealedDir(days: string[], keyFile?: string): Promise<string> {
  const dir = `${root}/logs-${++n}`;
  await Deno.mkdir(dir);
  const sealer = new LogSealer({ dir, keyFile, onError: (e) => assert.fail(e.message) });
  for (const day of days) {
    const lines = Array.from(
      { length: 50 },
      (_, i) =>
        `${day}T10:00:${String(i).padStart(2, "0")}.000Z\tdns\tmac=02:00:00:00:00:0${
          i % 10
        }\tqname=q${i}.example.org\n`,
    )
      .join("");
    await Deno.writeTextFile(`${dir}/${day}.log`, lines);
    sealer.complete(`${day}.log`);
  }
  await Deno.writeTextFile(`${dir}/alerts-${days[0]}.log`, `${days[0]}T10:00:00.000Z\tflood\n`);
  sealer.complete(`alerts-${days[0]}.log`);
  await sealer.close();
  assert.equal(sealer.sealed, days.length + 1);
  return dir;
}

const DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"];

async function keyPair(): Promise<{ priv: string; pub: string }> {
  const k = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pem = (label: string, der: ArrayBuffer) => {
    const b64 = btoa(String.fromCharCode(...new Uint8Array(der))).replace(/(.{64})/g, "$1\n");
    return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
  };
  const priv = `${root}/key-${++n}.pem`;
  const pub = `${root}/key-${n}.pub`;
  await Deno.writeTextFile(
    priv,
    pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", k.privateKey)),
  );
  await Deno.writeTextFile(
    pub,
    pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", k.publicKey)),
  );
  return { priv, pub };
}

function kinds(report: Awaited<ReturnType<typeof verifyLogs>>): string[] {
  return report.problems.map((p) => `${p.kind} ${p.file}`).sort();
}

Deno.test("seal: untouched files verify; the chain links every record", async () => {
  const dir = await sealedDir(DAYS);
  const report = await verifyLogs(dir);
  assert.deepEqual(report.problems, []);
  assert.equal(report.records, 5);
  assert.deepEqual(
    report.verified.sort(),
    [...DAYS.map((d) => `${d}.log`), "alerts-2026-11-01.log"].sort(),
  );
  const records = (await Deno.readTextFile(`${dir}/${SEAL_FILE}`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(records[0].prev, "0".repeat(64));
  for (let i = 1; i < records.length; i++) assert.equal(records[i].prev, records[i - 1].hash);
  assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
});

Deno.test("seal: one byte edited, truncated, deleted, a day added, files reordered: each named", async () => {
  const dir = await sealedDir(DAYS);
  // One byte of 2026-11-01.log changed, same length.
  const f1 = await Deno.readFile(`${dir}/2026-11-01.log`);
  f1[100] ^= 0x01;
  await Deno.writeFile(`${dir}/2026-11-01.log`, f1);
  assert.deepEqual(kinds(await verifyLogs(dir)), ["edited 2026-11-01.log"]);

  // 2026-11-02.log cut short.
  await Deno.truncate(`${dir}/2026-11-02.log`, 500);
  // 2026-11-03.log deleted.
  await Deno.remove(`${dir}/2026-11-03.log`);
  // A day that was never sealed.
  await Deno.writeTextFile(
    `${dir}/2026-10-15.log`,
    "2026-10-15T00:00:00.000Z\tdns\tqname=forged\n",
  );
  const report = await verifyLogs(dir);
  assert.deepEqual(kinds(report), [
    "added 2026-10-15.log",
    "deleted 2026-11-03.log",
    "edited 2026-11-01.log",
    "truncated 2026-11-02.log",
  ]);
  assert.match(report.problems.find((p) => p.kind === "truncated")!.detail, /500 bytes/);

  // Two files swapped (each holds the other's sealed content).
  const dir2 = await sealedDir(DAYS);
  await Deno.rename(`${dir2}/2026-11-03.log`, `${dir2}/tmp`);
  await Deno.rename(`${dir2}/2026-11-04.log`, `${dir2}/2026-11-03.log`);
  await Deno.rename(`${dir2}/tmp`, `${dir2}/2026-11-04.log`);
  const swapped = await verifyLogs(dir2);
  assert.deepEqual(kinds(swapped), ["reordered 2026-11-03.log", "reordered 2026-11-04.log"]);
  assert.match(swapped.problems[0].detail, /sealed as 2026-11-0[34]\.log/);

  // Lines reordered inside a file: same bytes, another order.
  const dir3 = await sealedDir(DAYS);
  const lines = (await Deno.readTextFile(`${dir3}/2026-11-02.log`)).split("\n");
  [lines[3], lines[4]] = [lines[4], lines[3]];
  await Deno.writeTextFile(`${dir3}/2026-11-02.log`, lines.join("\n"));
  assert.deepEqual(kinds(await verifyLogs(dir3)), ["edited 2026-11-02.log"]);

  // Bytes appended to a file after its final seal.
  const dir4 = await sealedDir(DAYS);
  await Deno.writeTextFile(`${dir4}/2026-11-04.log`, "late\tforged\n", { append: true });
  assert.deepEqual(kinds(await verifyLogs(dir4)), ["edited 2026-11-04.log"]);
});

Deno.test("seal: records of the seal file removed, edited or reordered break the chain", async () => {
  const dir = await sealedDir(DAYS);
  const path = `${dir}/${SEAL_FILE}`;
  const lines = (await Deno.readTextFile(path)).trim().split("\n");

  await Deno.writeTextFile(
    path,
    [lines[0], lines[2], lines[1], ...lines.slice(3)].join("\n") + "\n",
  );
  const reordered = await verifyLogs(dir);
  assert.ok(
    reordered.problems.some((p) => p.kind === "seal-file" && /out of the chain/.test(p.detail)),
  );

  await Deno.writeTextFile(path, [lines[0], ...lines.slice(2)].join("\n") + "\n");
  const removed = await verifyLogs(dir);
  assert.ok(removed.problems.some((p) => p.kind === "seal-file" && /record 3/.test(p.detail)));
  // The file whose seal went missing is no longer covered: it shows as added.
  assert.ok(removed.problems.some((p) => p.kind === "added" && p.file === "2026-11-02.log"));

  const edited = lines.map((l) => l.replace(/"size":(\d+)/, (_, s) => `"size":${Number(s) - 1}`));
  await Deno.writeTextFile(path, edited.join("\n") + "\n");
  const altered = await verifyLogs(dir);
  assert.equal(altered.problems.filter((p) => /was altered/.test(p.detail)).length, 5);
});

Deno.test("seal: signed seals verify with the public key; a wrong key and unsigned records are refused", async () => {
  const key = await keyPair();
  const other = await keyPair();
  const dir = await sealedDir(DAYS, key.priv);
  const good = await verifyLogs(dir, { publicKeyFile: key.pub });
  assert.deepEqual(good.problems, []);
  assert.equal(good.signaturesChecked, true);
  // The private key file works as the public key too.
  assert.deepEqual((await verifyLogs(dir, { publicKeyFile: key.priv })).problems, []);

  const wrong = await verifyLogs(dir, { publicKeyFile: other.pub });
  assert.ok(wrong.problems.length > 0);
  assert.ok(wrong.problems.every((p) => p.kind === "signature"));
  assert.match(wrong.problems.at(-1)!.detail, /do not verify|does not verify/);

  // Without the key the signatures are noted, not checked.
  const unchecked = await verifyLogs(dir);
  assert.deepEqual(unchecked.problems, []);
  assert.ok(unchecked.notes.some((n) => /--public-key/.test(n)));

  // An unsigned chain fails a check that asks for signatures.
  const plain = await sealedDir(DAYS);
  const refused = await verifyLogs(plain, { publicKeyFile: key.pub });
  assert.ok(refused.problems.some((p) => p.kind === "signature"));

  await assert.rejects(verifyLogs(dir, { publicKeyFile: `${root}/missing.pub` }), /missing\.pub/);
  const notKey = `${root}/not-a-key.pem`;
  await Deno.writeTextFile(notKey, "hello");
  await assert.rejects(
    new LogSealer({ dir, keyFile: notKey }).seal("2026-11-01.log", "final"),
    /not-a-key\.pem.*PRIVATE KEY/,
  );
});

Deno.test("seal: DailyLog seals at rotation and close, checkpoints the current day, records retention", async () => {
  const dir = `${root}/daily-${++n}`;
  const store = openStore(`${root}/store-${n}.db`);
  const today = new Date().toISOString().slice(0, 10);
  const log = new DailyLog({
    dir,
    timeZone: "UTC",
    retentionDays: 0,
    seal: { store, checkpointInterval: 50 },
  });
  log.event("dns", { qname: "old.example" }, new Date("2026-01-10T12:00:00Z"));
  log.event("dns", { qname: "next.example" }, new Date("2026-01-11T12:00:00Z"));
  log.flush(); // 2026-01-10 is over: closed and sealed
  log.event("dns", { qname: "now.example" });
  log.flush();
  // A checkpoint of the current day comes on its own.
  const deadline = Date.now() + 10_000;
  while (!(await Deno.readTextFile(`${dir}/${SEAL_FILE}`).catch(() => "")).includes("checkpoint")) {
    assert.ok(Date.now() < deadline, "no checkpoint within 10 s");
    await log.sealer!.idle();
    await new Promise((r) => setTimeout(r, 20));
  }
  await log.close();
  const records = (await Deno.readTextFile(`${dir}/${SEAL_FILE}`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const last = new Map(records.map((r) => [r.file, r.kind]));
  assert.equal(last.get("2026-01-10.log"), "final");
  assert.equal(last.get("2026-01-11.log"), "final", "a past day written is sealed at close");
  assert.equal(last.get(`${today}.log`), "checkpoint", "today is checkpointed at close");
  const stored = store.query<{ seq: number; hash: string }>(
    "SELECT seq, hash FROM log_seals ORDER BY seq",
  );
  assert.deepEqual(stored.map((r) => r.hash), records.map((r) => r.hash));

  // Today's file keeps growing after its checkpoint: a note, not a problem.
  await Deno.writeTextFile(`${dir}/${today}.log`, `${today}T23:00:00.000Z\tdns\tqname=x\n`, {
    append: true,
  });
  const report = await verifyLogs(dir, { store });
  assert.deepEqual(report.problems, []);
  assert.ok(report.notes.some((x) => x.includes(`${today}.log`) && /not sealed yet/.test(x)));

  // The store's copy shows a seal file cut short.
  const text = await Deno.readTextFile(`${dir}/${SEAL_FILE}`);
  await Deno.writeTextFile(`${dir}/${SEAL_FILE}`, text.split("\n").slice(0, 1).join("\n") + "\n");
  const cut = await verifyLogs(dir, { store });
  assert.ok(
    cut.problems.some((p) => p.kind === "seal-file" && /missing from the seal file/.test(p.detail)),
  );
  store.close();

  // Retention deletes old files and records it, so verify does not call them deleted.
  const kept = `${root}/retained-${++n}`;
  const sealer = new LogSealer({ dir: kept });
  await Deno.mkdir(kept);
  await Deno.writeTextFile(`${kept}/2020-01-01.log`, "old\n");
  await sealer.seal("2020-01-01.log", "final");
  const pruning = new DailyLog({ dir: kept, timeZone: "UTC", retentionDays: 30, seal: {} });
  pruning.event("dns", { qname: "today.example" });
  await new Promise((r) => setTimeout(r, 0)); // the prune runs in a microtask after the first line
  await pruning.close();
  const after = await verifyLogs(kept);
  assert.deepEqual(after.problems, []);
  assert.ok((await Deno.readTextFile(`${kept}/${SEAL_FILE}`)).includes('"kind":"removed"'));
});

Deno.test("seal: vigia logs verify names the problems and exits 1; 0 when all is well", async () => {
  const key = await keyPair();
  const other = await keyPair();
  const dir = await sealedDir(DAYS, key.priv);
  const ok = await runVigia(["logs", "verify", "--dir", dir, "--public-key", key.pub]);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  assert.match(ok.stdout, /^ok: 5 files match their seals \(5 seals, signatures checked\)/m);

  const wrongKey = await runVigia(["logs", "verify", "--dir", dir, "--public-key", other.pub]);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stdout, /^SIGNATURE /m);

  await Deno.remove(`${dir}/2026-11-02.log`);
  const f = await Deno.readFile(`${dir}/2026-11-04.log`);
  f[7] = 0x39;
  await Deno.writeFile(`${dir}/2026-11-04.log`, f);
  const bad = await runVigia(["logs", "verify", "--dir", dir, "--json"]);
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout);
  assert.deepEqual(
    report.problems.map((p: { kind: string; file: string }) => `${p.kind} ${p.file}`).sort(),
    ["deleted 2026-11-02.log", "edited 2026-11-04.log"],
  );
  const text = await runVigia(["logs", "verify", "--dir", dir]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^DELETED +2026-11-02\.log: /m);
  assert.match(text.stdout, /^EDITED +2026-11-04\.log: /m);
  assert.match(text.stdout, /^2 problems in /m);
  const missingKey = await runVigia([
    "logs",
    "verify",
    "--dir",
    dir,
    "--public-key",
    `${root}/nope.pub`,
  ]);
  assert.equal(missingKey.code, 1);
  assert.match(missingKey.stderr, /nope\.pub/);
});

Deno.test("seal: config check refuses a seal_key_file that is missing or not a private key", async () => {
  const key = await keyPair();
  const dir = `${root}/cfg-${++n}`;
  await Deno.mkdir(dir);
  const config = (keyFile: string) =>
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
    `[log]\nseal_key_file = "${keyFile}"\n`;
  await Deno.writeTextFile(`${dir}/good.toml`, config(key.priv));
  await Deno.writeTextFile(`${dir}/missing.toml`, config(`${dir}/nope.key`));
  await Deno.writeTextFile(`${dir}/public.toml`, config(key.pub));
  const good = await runVigia(["config", "check", "--config", `${dir}/good.toml`]);
  assert.equal(good.code, 0, good.stderr);
  const missing = await runVigia(["config", "check", "--config", `${dir}/missing.toml`]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /missing\.toml:\d+:\d+: log\.seal_key_file: .*nope\.key: no such file/,
  );
  const pub = await runVigia(["config", "check", "--config", `${dir}/public.toml`]);
  assert.equal(pub.code, 1);
  assert.match(pub.stderr, /log\.seal_key_file: .*not a PKCS#8 PEM private key/);
});

Deno.test("seal: files logrotate moved and compressed still verify; an edit inside a .gz is named", async () => {
  const dir = `${root}/rotated-${++n}`;
  await Deno.mkdir(dir);
  const sealer = new LogSealer({ dir, onError: (e) => assert.fail(e.message) });
  const name = "2026-11-10.log";
  const gzip = async (path: string) => {
    const data = await Deno.readFile(path);
    const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"));
    await Deno.writeFile(`${path}.gz`, new Uint8Array(await new Response(stream).arrayBuffer()));
    await Deno.remove(path);
  };
  // Morning: written and checkpointed; logrotate moves it (maxsize) and compresses it.
  await Deno.writeTextFile(`${dir}/${name}`, "06:00 first line\n06:01 second line\n");
  await sealer.seal(name, "checkpoint");
  await Deno.rename(`${dir}/${name}`, `${dir}/${name}.1`);
  await gzip(`${dir}/${name}.1`);
  // vigia opens a new file at the path and writes on; the day ends.
  await Deno.writeTextFile(`${dir}/${name}`, "12:00 after the rotation\n");
  await sealer.seal(name, "final");
  // The next day logrotate renumbers and moves the rest away too.
  await Deno.rename(`${dir}/${name}.1.gz`, `${dir}/${name}.2.gz`);
  await Deno.rename(`${dir}/${name}`, `${dir}/${name}.1`);
  await gzip(`${dir}/${name}.1`);
  await sealer.close();
  const ok = await verifyLogs(dir);
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.verified, [name]);

  // A line changed inside the older compressed piece.
  const older = `${dir}/${name}.2.gz`;
  const text = new TextDecoder().decode(
    new Uint8Array(
      await new Response(
        (await Deno.open(older)).readable.pipeThrough<Uint8Array>(new DecompressionStream("gzip")),
      ).arrayBuffer(),
    ),
  );
  await Deno.writeTextFile(`${dir}/${name}.2`, text.replace("second", "forged"));
  await Deno.remove(older);
  await gzip(`${dir}/${name}.2`);
  assert.deepEqual(kinds(await verifyLogs(dir)), [`edited ${name}`]);
  // All its pieces gone: deleted.
  for (const piece of [`${name}.1.gz`, `${name}.2.gz`]) await Deno.remove(`${dir}/${piece}`);
  assert.deepEqual(kinds(await verifyLogs(dir)), [`deleted ${name}`]);
});
