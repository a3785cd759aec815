/**
 * The `[metrics]` listener's bad input: an address in use and an unreadable
 * token file are config errors at FILE:LINE:COL; a reload that brings one
 * keeps the running config (and its listener) serving.
 */

import assert from "node:assert/strict";
import { freePort, runVigia, startDaemon } from "../_helpers.ts";
import { askEach, sample } from "./_dns.ts";

Deno.test("metrics: a listen address in use stops the start with FILE:LINE:COL", async () => {
  const port = freePort();
  const holder = Deno.listen({ hostname: "127.0.0.1", port });
  try {
    const d = await startDaemon({
      config: `[metrics]\nenabled = true\nlisten = "127.0.0.1:${port}"\n`,
      expectFailure: true,
    });
    assert.match(
      d.logs(),
      new RegExp(
        `vigia\\.toml:\\d+:10: metrics\\.listen: cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`,
      ),
    );
    assert.equal(await d.stop(), 1);
  } finally {
    holder.close();
  }
});

Deno.test("metrics: an unreadable token file is a config check error at its key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/v.toml`,
      `[metrics]\nenabled = true\ntoken_file = "${dir}/missing"\n`,
    );
    const r = await runVigia(["config", "check", "--config", `${dir}/v.toml`]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /v\.toml:3:14: metrics\.token_file: cannot read .*missing: no such file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics: a reload onto an address in use keeps the running listener", async () => {
  const port = freePort();
  const d = await startDaemon({
    config: `[metrics]\nenabled = true\nlisten = "127.0.0.1:${port}"\n`,
  });
  const busy = freePort();
  const holder = Deno.listen({ hostname: "127.0.0.1", port: busy });
  try {
    const before = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.match(await before.text(), /^vigia_component_up\{component="metrics"\} 1$/m);
    const text = await Deno.readTextFile(d.configPath);
    await Deno.writeTextFile(d.configPath, text.replace(`:${port}"`, `:${busy}"`));
    const r = await d.ctl(["reload"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `vigia\\.toml:\\d+:10: metrics\\.listen: cannot listen on 127\\.0\\.0\\.1:${busy}: the address is in use`,
      ),
    );
    // The old config is still the one running.
    const after = await fetch(`http://127.0.0.1:${port}/metrics`);
    const body = await after.text();
    assert.match(body, /^vigia_component_up\{component="metrics"\} 1$/m);
    assert.match(
      body,
      /^vigia_control_requests_total\{origin="local",verb="reload",result="error"\} 1$/m,
    );
  } finally {
    holder.close();
    await d.stop();
  }
});

Deno.test("metrics: stuck scrapers (a half-sent request, a response never read) block neither DNS nor the next scrape", async () => {
  const port = freePort(), dnsPort = freePort();
  const d = await startDaemon({
    config: `[metrics]\nenabled = true\nlisten = "127.0.0.1:${port}"\n\n` +
      `[dns]\nenabled = true\nlisten = ["127.0.0.1:${dnsPort}"]\n`,
  });
  const stuck: Deno.Conn[] = [];
  try {
    const enc = new TextEncoder();
    for (let i = 0; i < 20; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      // Half the connections stop in the middle of their request, half never read the answer.
      await c.write(
        enc.encode(
          i % 2 ? "GET /metrics HTTP/1.1\r\nHost: x\r\n" : "GET /metrics HTTP/1.1\r\n\r\n",
        ),
      );
      stuck.push(c);
    }
    await askEach(dnsPort, ["a.vigia.test.", "b.vigia.test.", "c.vigia.test."]);
    const t0 = performance.now();
    const requests = await sample(
      `http://127.0.0.1:${port}/metrics`,
      'vigia_dns_requests_total{zone="vigia.test.",proto="udp",family="ipv4",type="A"}',
    );
    assert.equal(requests, 3);
    assert.ok(performance.now() - t0 < 5000, "the scrape waited on the stuck ones");
    // The UDP duration histogram saw each request once, in seconds: more than 1 us each (a
    // recvmmsg-to-sendmmsg turn on loopback), less than 50 ms each.
    const url = `http://127.0.0.1:${port}/metrics`;
    const series = "vigia_dns_request_duration_seconds";
    assert.equal(await sample(url, `${series}_count{proto="udp"}`), 3);
    assert.equal(await sample(url, `${series}_bucket{proto="udp",le="0.05"}`), 3);
    const sum = (await sample(url, `${series}_sum{proto="udp"}`))!;
    assert.ok(sum > 3e-6 && sum < 0.15, `duration sum ${sum} s`);
  } finally {
    for (const c of stuck) c.close();
    await d.stop();
  }
});
