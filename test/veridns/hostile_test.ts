/**
 * Hostile clients against a running veridns component while a good client
 * (from another loopback source address) keeps getting correct answers:
 * random bytes with and without TLS, a huge Length, NumberOfAddr not matching
 * the bytes, a frame cut in half, a client that stalls mid-frame, 1,000 idle
 * connections; plus the connection limits and the TLS version floor checked
 * with `openssl s_client`.
 */

import assert from "node:assert/strict";
import { encodeVerifyRequest } from "../../lib/veridns/codec.ts";
import { VeridnsSession } from "../../lib/veridns/mod.ts";
import { freeTcpPort, type Harness, startDns, startHarness, type TestDns } from "./_fixtures.ts";

const ZONE = { "www.example.test": { a: ["192.0.2.10"] } };

async function harness(dns: TestDns, extra: string): Promise<Harness> {
  const port = freeTcpPort();
  return await startHarness(`
[geoip]
city_db = ""
asn_db = ""
[veridns]
listen = ["127.0.0.1:${port}"]
${extra}
[[veridns.resolver]]
address = "${dns.address}"
`);
}

function hostPort(address: string): { hostname: string; port: number } {
  const i = address.lastIndexOf(":");
  return { hostname: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Resolves when the server closes `conn` (read gives EOF or an error), or rejects after `ms`. */
async function closedByServer(conn: Deno.Conn, ms = 5000): Promise<number> {
  const t0 = performance.now();
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([
      (async () => {
        for (;;) {
          try {
            if ((await conn.read(buf)) === null) return;
          } catch {
            return;
          }
        }
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return performance.now() - t0;
}

/** A good client asking again and again until stopped; records answers and the worst latency. */
function goodClient(address: string, ca: string) {
  let stop = false;
  const state = { answers: 0, worstMs: 0, errors: [] as string[] };
  const done = (async () => {
    const s = await VeridnsSession.open({
      server: address,
      ca,
      localAddress: "127.0.0.9",
      timeoutMs: 5000,
    });
    try {
      while (!stop) {
        const t0 = performance.now();
        const ok = await s.verify("www.example.test", ["192.0.2.10"]);
        const bad = await s.verify("www.example.test", ["192.0.2.66"]);
        state.worstMs = Math.max(state.worstMs, performance.now() - t0);
        if (!ok.verified || bad.malicious[0] !== "192.0.2.66") state.errors.push("wrong answer");
        state.answers += 2;
        await new Promise((r) => setTimeout(r, 5));
      }
    } catch (e) {
      state.errors.push((e as Error).message);
    } finally {
      s.close();
    }
  })();
  return {
    state,
    /** Waits until the client got `n` more answers (bounded). */
    async progress(n: number, ms = 5000): Promise<void> {
      const target = state.answers + n;
      const t0 = performance.now();
      while (state.answers < target) {
        if (state.errors.length) throw new Error(state.errors.join("; "));
        if (performance.now() - t0 > ms) throw new Error("good client got no answers");
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(): Promise<void> {
      stop = true;
      await done;
    },
  };
}

Deno.test({
  name: "veridns keeps answering a good client under hostile clients",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dns = await startDns(ZONE);
    const h = await harness(
      dns,
      `handshake_timeout = "1s"
frame_timeout = "300ms"
idle_timeout = "2s"
max_connections = 3000
max_connections_per_ip = 1500
max_frame_length = 1024`,
    );
    const ca = `${h.dir}/lib/veridns.crt`;
    const caPem = await Deno.readTextFile(ca);
    const { hostname, port } = hostPort(h.address);
    const tls = () => Deno.connectTls({ hostname, port, caCerts: [caPem] });
    const good = goodClient(h.address, ca);
    const bad = () => (h.component.stats!() as { bad_frames: Record<string, number> }).bad_frames;
    try {
      await good.progress(4);

      await t.step("random bytes over TLS", async () => {
        const conn = await tls();
        const junk = crypto.getRandomValues(new Uint8Array(2048));
        junk[0] = 0xde; // Type over 3 whatever the rest holds
        await conn.write(junk);
        await closedByServer(conn);
        assert.equal(bad().unknown_type, 1);
        await good.progress(2);
      });

      await t.step("random bytes without TLS", async () => {
        const before = (h.component.stats!() as Record<string, number>).handshake_failures;
        const conn = await Deno.connect({ hostname, port });
        await conn.write(crypto.getRandomValues(new Uint8Array(1024)));
        await closedByServer(conn);
        const after = (h.component.stats!() as Record<string, number>).handshake_failures;
        assert.equal(after, before + 1);
        await good.progress(2);
      });

      await t.step("huge Length is refused at once, nothing allocated from it", async () => {
        const conn = await tls();
        await conn.write(Uint8Array.of(0, 0, 0, 2, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 1));
        const ms = await closedByServer(conn);
        assert.ok(ms < 1000, `closed after ${ms} ms`);
        assert.equal(bad().too_long, 1);
        await good.progress(2);
      });

      await t.step("NumberOfAddr not matching the bytes", async () => {
        const conn = await tls();
        const f = encodeVerifyRequest(1, "www.example.test", [1, 2]);
        f[12 + 256 + 3] = 5;
        await conn.write(f);
        await closedByServer(conn);
        assert.equal(bad().count_mismatch, 1);
        await good.progress(2);
      });

      await t.step("a frame cut in half, then the client closes", async () => {
        const conn = await tls();
        const f = encodeVerifyRequest(1, "www.example.test", [1]);
        await conn.write(f.subarray(0, 140));
        await conn.closeWrite();
        await closedByServer(conn);
        assert.equal(bad().truncated, 1);
        await good.progress(2);
      });

      await t.step(
        "a client that sends one request and closes its side gets the answer",
        async () => {
          const truncatedBefore = bad().truncated;
          const conn = await tls();
          // A name the resolver is asked about now (not cached), so the answer comes later.
          await conn.write(encodeVerifyRequest(77, "fresh.example.test", [0xC000020A]));
          await conn.closeWrite();
          const { FrameDecoder } = await import("../../lib/veridns/codec.ts");
          const d = new FrameDecoder({ role: "client" });
          const got: { type: number; seq: number; malicious: number[] }[] = [];
          const buf = new Uint8Array(1024);
          let eof = false;
          while (!eof) {
            const n = await conn.read(buf).catch(() => null);
            if (n === null) eof = true;
            else assert.equal(d.feed(buf.subarray(0, n), got as never[]), null);
          }
          conn.close();
          assert.equal(got.length, 1);
          assert.deepEqual([got[0].type, got[0].seq, got[0].malicious], [3, 77, [0xC000020A]]);
          assert.equal(bad().truncated, truncatedBefore);
        },
      );

      await t.step("a client that stalls mid-frame is closed after frame_timeout", async () => {
        const conn = await tls();
        const f = encodeVerifyRequest(1, "www.example.test", [1]);
        await conn.write(f.subarray(0, 100));
        const ms = await closedByServer(conn);
        assert.ok(ms >= 250 && ms < 2500, `closed after ${ms} ms`);
        assert.equal(bad().stalled, 1);
        await good.progress(2);
      });

      await t.step("a domain that cannot be a DNS name is a bad frame", async () => {
        const conn = await tls();
        await conn.write(encodeVerifyRequest(1, "not a domain!", [1]));
        await closedByServer(conn);
        assert.equal(bad().bad_domain, 1);
      });

      await t.step("1,000 idle connections: the good client still gets answers", async () => {
        const stats = () => h.component.stats!() as Record<string, number>;
        const timeoutsBefore = stats().handshake_timeouts;
        const idle: Deno.Conn[] = [];
        for (let i = 0; i < 1000; i++) idle.push(await Deno.connect({ hostname, port }));
        // Some idle clients that did complete the handshake, too.
        const idleTls: Deno.TlsConn[] = [];
        for (let i = 0; i < 20; i++) {
          const c = await tls();
          await c.handshake();
          idleTls.push(c);
        }
        // Every idle client was taken in by the server: still open, or already closed by
        // handshake_timeout when connecting them all took longer than that (a loaded machine).
        const heldOrTimedOut = () =>
          stats().connections_open + stats().handshake_timeouts - timeoutsBefore;
        for (let i = 0; i < 100 && heldOrTimedOut() < 1000; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(heldOrTimedOut() >= 1000, `held or timed out ${heldOrTimedOut()}`);
        const t0 = good.state.answers;
        await good.progress(10);
        assert.ok(good.state.answers > t0);
        // They all go: pre-handshake ones after handshake_timeout, TLS ones after idle_timeout.
        await Promise.all(idle.map((c) => closedByServer(c, 6000)));
        await Promise.all(idleTls.map((c) => closedByServer(c, 6000)));
        const s = stats();
        assert.ok(s.handshake_timeouts >= 1000, `handshake_timeouts ${s.handshake_timeouts}`);
        assert.ok(s.idle_timeouts >= 20, `idle_timeouts ${s.idle_timeouts}`);
        await good.progress(2);
      });

      await good.stop();
      assert.deepEqual(good.state.errors, []);
      assert.ok(good.state.worstMs < 3000, `worst good latency ${good.state.worstMs} ms`);
      // One warning line per bad frame, naming the client and the reason.
      assert.ok(h.logLines.some((l) => /bad frame.*reason=too_long/.test(l)));
    } finally {
      await good.stop();
      await h.close();
      await dns.close();
    }
  },
});

Deno.test({
  name: "veridns connection limits: per client address and in total",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns(ZONE);
    const h = await harness(dns, `max_connections = 6\nmax_connections_per_ip = 3`);
    const { hostname, port } = hostPort(h.address);
    const held: Deno.Conn[] = [];
    try {
      const caPem = await Deno.readTextFile(`${h.dir}/lib/veridns.crt`);
      for (let i = 0; i < 3; i++) {
        const c = await Deno.connectTls({ hostname, port, caCerts: [caPem] });
        await c.handshake();
        held.push(c);
      }
      // A 4th from the same address is closed before any TLS work.
      const fourth = await Deno.connect({ hostname, port });
      const ms = await closedByServer(fourth, 2000);
      assert.ok(ms < 1000);
      let s = h.component.stats!() as Record<string, number>;
      assert.equal(s.refused_per_ip_limit, 1);
      // Another address still gets service.
      const other = await VeridnsSession.open({
        server: h.address,
        insecure: true,
        localAddress: "127.0.0.7",
      });
      assert.equal((await other.verify("www.example.test", ["192.0.2.10"])).verified, true);
      // Fill the total: 3 + 1 + 2 more, then one over the total is refused.
      for (const local of ["127.0.0.8", "127.0.0.8"]) {
        const c = await VeridnsSession.open({
          server: h.address,
          insecure: true,
          localAddress: local,
        });
        await c.branch();
        held.push({ close: () => c.close() } as unknown as Deno.Conn);
      }
      const over = await VeridnsSession.open({
        server: h.address,
        insecure: true,
        localAddress: "127.0.0.11",
        timeoutMs: 2000,
      }).then(async (session) => {
        try {
          await session.branch();
          return "answered";
        } catch {
          return "refused";
        } finally {
          session.close();
        }
      }, () => "refused");
      assert.equal(over, "refused");
      s = h.component.stats!() as Record<string, number>;
      assert.equal(s.refused_total_limit, 1);
      other.close();
    } finally {
      for (const c of held) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await h.close();
      await dns.close();
    }
  },
});

Deno.test({
  name:
    "veridns requests_per_second slows a flooding connection down instead of serving it at once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns(ZONE);
    const h = await harness(dns, "requests_per_second = 20");
    try {
      const { hostname, port } = hostPort(h.address);
      const conn = await Deno.connectTls({
        hostname,
        port,
        caCerts: [await Deno.readTextFile(`${h.dir}/lib/veridns.crt`)],
      });
      const { encodeBranchQuery, FrameDecoder } = await import("../../lib/veridns/codec.ts");
      const burst = new Uint8Array(12 * 40);
      for (let i = 0; i < 40; i++) burst.set(encodeBranchQuery(i), 12 * i);
      const t0 = performance.now();
      await conn.write(burst);
      const d = new FrameDecoder({ role: "client" });
      const got: unknown[] = [];
      const buf = new Uint8Array(4096);
      while (got.length < 40) {
        const n = await conn.read(buf);
        assert.ok(n !== null);
        assert.equal(d.feed(buf.subarray(0, n), got as never[]), null);
      }
      const ms = performance.now() - t0;
      conn.close();
      // 20 from the full bucket at once, the other 20 at 20/s: about one second.
      assert.ok(ms >= 800 && ms < 5000, `${ms} ms`);
      assert.ok((h.component.stats!() as Record<string, number>).throttled >= 15);
    } finally {
      await h.close();
      await dns.close();
    }
  },
});

Deno.test({
  name: "veridns TLS: openssl s_client completes a handshake; TLS 1.0 and 1.1 are refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns(ZONE);
    const h = await harness(dns, "");
    try {
      const s_client = async (extra: string[]) => {
        const out = await new Deno.Command("openssl", {
          args: [
            "s_client",
            "-connect",
            h.address,
            "-CAfile",
            `${h.dir}/lib/veridns.crt`,
            ...extra,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        return {
          code: out.code,
          text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
        };
      };
      const ok = await s_client([]);
      assert.match(ok.text, /Verify return code: 0 \(ok\)/, ok.text);
      assert.match(ok.text, /New, TLSv1\.[23], Cipher is/);
      const v12 = await s_client(["-tls1_2"]);
      assert.match(v12.text, /New, TLSv1\.2, Cipher is/);
      const before = (h.component.stats!() as Record<string, number>).handshake_failures;
      // SECLEVEL=0 lets OpenSSL 3 offer the old versions at all, so the refusal is the server's.
      for (const v of ["-tls1", "-tls1_1"]) {
        const r = await s_client([v, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert.notEqual(r.code, 0, r.text);
        assert.match(r.text, /alert|Cipher is \(NONE\)/, r.text);
      }
      const after = (h.component.stats!() as Record<string, number>).handshake_failures;
      assert.equal(after, before + 2);
    } finally {
      await h.close();
      await dns.close();
    }
  },
});
