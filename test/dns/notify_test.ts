/**
 * NOTIFY out: sent to each target of the zone's rules, signed with the
 * rule's key, sent again when not answered (a real UDP peer on loopback that
 * ignores the first one), and given up after the attempts run out.
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { createLogger } from "../../lib/log/mod.ts";
import { Notifier } from "../../lib/dns/notify.ts";
import {
  findTsig,
  keyring,
  newTsigSecret,
  parseTsigKey,
  signMessage,
  verifyTsig,
} from "../../lib/dns/tsig.ts";
import { TransferPolicy } from "../../lib/dns/xfr_out.ts";

async function peer(answerFrom: number): Promise<{
  port: number;
  received: Uint8Array[];
  close: () => Promise<void>;
  answered: Promise<void>;
}> {
  const s = dgram.createSocket("udp4");
  const received: Uint8Array[] = [];
  let done!: () => void;
  const answered = new Promise<void>((r) => (done = r));
  const key = parseTsigKey(KEY);
  s.on("message", (msg: Uint8Array, rinfo: { port: number; address: string }) => {
    const m = new Uint8Array(msg);
    received.push(m);
    if (received.length < answerFrom) return;
    const tsig = findTsig(m);
    assert.ok(tsig && tsig !== "malformed", "NOTIFY is signed");
    const v = verifyTsig(m, tsig, { keys: keyring([key]) });
    assert.equal(v.error, 0);
    const reply = m.slice(0, tsig.at);
    reply[2] |= 0x80;
    reply[11] = 0;
    s.send(signMessage(reply, key, { priorMac: v.mac }).message, rinfo.port, rinfo.address);
    done();
  });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return {
    port: s.address().port,
    received,
    answered,
    close: () => new Promise((r) => s.close(() => r())),
  };
}

const KEY = { name: "xfr-key.", algorithm: "hmac-sha256", secret: newTsigSecret("hmac-sha256") };

Deno.test("NOTIFY is signed, retried until answered, and given up after the attempts", async () => {
  const slow = await peer(2);
  const deaf = await peer(99);
  const policy = new TransferPolicy({
    keys: [KEY],
    transfers: [{
      zones: ["example.test."],
      allow: [],
      key: "xfr-key.",
      notify: [`127.0.0.1:${slow.port}`, `127.0.0.1:${deaf.port}`],
    }, { zones: ["other.test."], allow: [], key: "", notify: [`127.0.0.1:${deaf.port}`] }],
  });
  const notifier = new Notifier({
    policy: () => policy,
    log: createLogger({ level: "error" }),
    firstWaitMs: 50,
    attempts: 3,
  });
  try {
    notifier.notify("example.test.", 7);
    await slow.answered;
    assert.equal(slow.received.length, 2, "the first NOTIFY was ignored, the second answered");
    const m = slow.received[0];
    assert.equal((m[2] >> 3) & 15, 4, "opcode NOTIFY");
    assert.equal(m[2] & 4, 4, "AA set");
    // The deaf target gets 3 attempts (50, 100, 200 ms waits) and then is given up.
    for (let i = 0; i < 100 && notifier.stats.failed === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(deaf.received.length, 3);
    assert.deepEqual(
      [notifier.stats.answered, notifier.stats.failed, notifier.stats.sent],
      [1, 1, 5],
    );
    assert.ok(notifier.stats.last["example.test."]);
  } finally {
    notifier.close();
    await slow.close();
    await deaf.close();
  }
});
