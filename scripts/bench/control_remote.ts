/**
 * Remote control access cost: `ctl status` round trips (connect + request)
 * over the local socket vs over TLS (`--ca` via Deno.startTls, `--insecure`
 * via node:tls), through a real daemon, plus the PBKDF2 cost of checking a
 * token the daemon has not seen yet.
 *
 * Run: deno run -A scripts/bench/control_remote.ts [N]
 *
 * @module
 */

import { callControl, type ControlTarget } from "../../lib/control/mod.ts";
import { remoteTarget } from "../../lib/control/remote_client.ts";
import { hashToken, verifyToken } from "../../lib/control/token.ts";
import { makeToken } from "../../lib/cli/token.ts";
import { freePort, startDaemon } from "../../test/_helpers.ts";

const N = Number(Deno.args[0] ?? 200);
const read = await makeToken("bench", "read");
const port = freePort();
const d = await startDaemon({
  config:
    `[control.remote]\nenabled = true\nlisten = ["127.0.0.1:${port}"]\nrequests_per_second = 100000\n${read.toml}`,
});
try {
  const ca = await Deno.readTextFile(`${d.dir}/lib/control-remote.crt`);
  const run = async (name: string, target: ControlTarget) => {
    await callControl(target, "status");
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await callControl(target, "status");
    const ms = (performance.now() - t0) / N;
    console.log(`${name.padEnd(22)} ${ms.toFixed(2)} ms per call`);
    return ms;
  };
  const local = await run("local socket", { path: d.socketPath });
  const viaCa = await run(
    "remote TLS --ca",
    remoteTarget(`127.0.0.1:${port}`, { token: read.token, ca }),
  );
  const viaInsecure = await run(
    "remote TLS --insecure",
    remoteTarget(`127.0.0.1:${port}`, { token: read.token, insecure: true }),
  );
  console.log(
    `ratio vs local socket: --ca ${(viaCa / local).toFixed(1)}x, --insecure ${
      (viaInsecure / local).toFixed(1)
    }x`,
  );
  const hash = await hashToken(read.token);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await verifyToken(read.token, hash);
  console.log(`PBKDF2 check of an unseen token: ${((performance.now() - t0) / 20).toFixed(1)} ms`);
} finally {
  await d.stop();
}
