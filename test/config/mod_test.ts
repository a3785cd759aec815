import assert from "node:assert/strict";
import {
  ConfigError,
  duration,
  formatIssue,
  hostPort,
  int,
  list,
  loadConfig,
  mac,
  parseDuration,
  renderToml,
  section,
  str,
  tableArray,
} from "../../lib/config/mod.ts";
import { indexPositions } from "../../lib/config/positions.ts";
import { components, configSchema } from "../../lib/app/mod.ts";
import { moduleChecks } from "../../lib/daemon/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { REFERENCE_HEADER } from "../../lib/cli/mod.ts";
import { repoRoot } from "../_helpers.ts";

const schema = section("test", {
  net: section("net", {
    listen: list(hostPort({ doc: "addr", default: "" }), {
      doc: "listen",
      default: ["127.0.0.1:53"],
    }),
    timeout: duration({ doc: "t", default: "5s" }),
    mode: str({ doc: "m", default: "a", oneOf: ["a", "b"] }),
  }),
  count: int({ doc: "c", default: 1, min: 0, max: 10 }),
  hosts: tableArray(
    "hosts",
    section("host", {
      mac: mac({ doc: "mac", default: "" }),
      name: str({ doc: "n", default: "" }),
    }),
  ),
});

async function issuesOf(text: string): Promise<string[]> {
  try {
    await loadConfig(schema, { path: "t.toml", text });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues.map(formatIssue);
  }
  return [];
}

Deno.test("config: defaults fill absent keys and durations become milliseconds", async () => {
  const { config } = await loadConfig(schema, { text: "" });
  assert.deepEqual(config.net.listen, ["127.0.0.1:53"]);
  assert.equal(config.net.timeout, 5000);
  assert.equal(config.count, 1);
  assert.deepEqual(config.hosts, []);
});

Deno.test("config: every problem is reported with FILE:LINE:COL and key path", async () => {
  const text = [
    "count = 11", // 1
    "[net]", // 2
    'listen = ["127.0.0.1:53",', // 3
    '  "1.2.3.4:70000"]', // 4
    'timeout = "5 parsecs"', // 5
    'mdoe = "b"', // 6
    "[[hosts]]", // 7
    'mac = "zz:zz"', // 8
    "[[hosts]]", // 9
    'mac = "AA-BB-CC-DD-EE-FF"', // 10
    "name = 3", // 11
  ].join("\n");
  assert.deepEqual(await issuesOf(text), [
    "t.toml:1:9: count: must be from 0 to 10, found 11",
    't.toml:4:3: net.listen[1]: port in "1.2.3.4:70000" must be from 1 to 65535',
    't.toml:5:11: net.timeout: invalid duration "5 parsecs": use a number and a unit (ms, s, m, h, d)',
    't.toml:6:1: net.mdoe: unknown key "mdoe" (did you mean "mode"?) in [net]',
    't.toml:8:7: hosts[0].mac: expected a MAC address like "aa:bb:cc:dd:ee:ff", found string "zz:zz"',
    "t.toml:11:8: hosts[1].name: expected a string, found number 3",
  ]);
});

Deno.test("config: every bad item of an array (and entry of a table) is reported at once", async () => {
  const text = [
    "[net]", // 1
    'listen = ["127.0.0.1:0", "127.0.0.1:53", "nope",', // 2
    '  "1.2.3.4:70000"]', // 3
  ].join("\n");
  assert.deepEqual(await issuesOf(text), [
    't.toml:2:11: net.listen[0]: port in "127.0.0.1:0" must be from 1 to 65535',
    't.toml:2:42: net.listen[2]: "nope" is not an address IP:PORT (IPv6 as [ADDR]:PORT)',
    't.toml:3:3: net.listen[3]: port in "1.2.3.4:70000" must be from 1 to 65535',
  ]);
  // The same through the real schema: every bad MAC and DNS server, each at its own place.
  const app = [
    "[sniffer]", // 1
    'unauthorized_macs = ["zz", "aa:bb:cc:dd:ee:ff", "11:22"]', // 2
    'unauthorized_dns = ["203.0.113.9", "300.1.1.1",', // 3
    '  "10.0.0.0/33"]', // 4
  ].join("\n");
  let issues: string[] = [];
  try {
    await loadConfig(configSchema(), { path: "v.toml", text: app });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    issues = e.issues.map(formatIssue);
  }
  assert.deepEqual(issues.map((l) => l.split(": ").slice(0, 2).join(": ")), [
    "v.toml:2:22: sniffer.unauthorized_macs[0]",
    "v.toml:2:49: sniffer.unauthorized_macs[2]",
    "v.toml:3:36: sniffer.unauthorized_dns[1]",
    "v.toml:4:3: sniffer.unauthorized_dns[2]",
  ], issues.join("\n"));
});

async function appIssues(text: string): Promise<string[]> {
  try {
    await loadConfig(configSchema(), { path: "v.toml", text });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues.map(formatIssue);
  }
  return [];
}

Deno.test("config: listeners on the same address, port and protocol are a problem naming both keys", async () => {
  const text = [
    "[dns]", // 1
    'listen = ["127.0.0.1:5300", "[::1]:5300"]', // 2
    "[veridns]", // 3
    'listen = ["127.0.0.1:5300"]', // 4
    "[control.remote]", // 5
    "enabled = true", // 6
    'listen = ["0.0.0.0:5300", "[::1]:7443", "[::1]:7443"]', // 7
  ].join("\n");
  assert.deepEqual(await appIssues(text), [
    // [control] comes first in the schema, so the others name it; each key its first clash.
    "v.toml:2:11: dns.listen[0]: TCP 127.0.0.1:5300 is already taken by control.remote.listen[0] (v.toml:7:11); give each its own address or port",
    "v.toml:4:11: veridns.listen[0]: TCP 127.0.0.1:5300 is already taken by control.remote.listen[0] (v.toml:7:11); give each its own address or port",
    "v.toml:7:41: control.remote.listen[2]: TCP [::1]:7443 is already taken by control.remote.listen[1] (v.toml:7:27); give each its own address or port",
  ]);
  // Without the wildcard, VeriDNS names DNS.
  assert.deepEqual(
    await appIssues('[dns]\nlisten = ["127.0.0.1:5300"]\n[veridns]\nlisten = ["127.0.0.1:5300"]\n'),
    [
      "v.toml:4:11: veridns.listen[0]: TCP 127.0.0.1:5300 is already taken by dns.listen[0] (v.toml:2:11); give each its own address or port",
    ],
  );
  // Metrics declare their listener too (one address, not a list).
  assert.deepEqual(
    await appIssues(
      '[veridns]\nlisten = ["127.0.0.1:9553"]\n[metrics]\nlisten = "127.0.0.1:9553"\n',
    ),
    [
      "v.toml:4:10: metrics.listen: TCP 127.0.0.1:9553 is already taken by veridns.listen[0] (v.toml:2:11); give each its own address or port",
    ],
  );
  // A disabled section listens on nothing; other addresses or ports do not clash.
  assert.deepEqual(
    await appIssues(
      '[dns]\nlisten = ["127.0.0.1:5300"]\n[veridns]\nenabled = false\nlisten = ["127.0.0.1:5300"]\n' +
        '[control.remote]\nenabled = true\nlisten = ["127.0.0.2:5300", "127.0.0.1:5301"]\n',
    ),
    [],
  );
});

Deno.test("config: TOML syntax errors carry line and column", async () => {
  const issues = await issuesOf("count = 1\n[net\nx = 2\n");
  assert.equal(issues.length, 1);
  assert.match(issues[0], /^t\.toml:2:\d+: TOML syntax: /);
});

Deno.test("config: a missing file is one clear issue", async () => {
  await assert.rejects(
    loadConfig(schema, { path: "/nonexistent/vigia.toml" }),
    /cannot read config: no such file/,
  );
});

Deno.test("config: MACs are normalised and durations parse compound forms", async () => {
  const { config } = await loadConfig(schema, { text: '[[hosts]]\nmac = "AA-BB-CC-DD-EE-0F"\n' });
  assert.equal(config.hosts[0].mac, "aa:bb:cc:dd:ee:0f");
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.ok(Number.isNaN(parseDuration("10")));
});

Deno.test("config: positions of inline tables and nested array tables", () => {
  const idx = indexPositions('[[a]]\nx = 1\n[[a]]\ny = { z = [1, 2] }\n[a.b]\nw = "s"\n');
  assert.deepEqual(idx.value.get("a[1].y.z[1]"), { line: 4, col: 15 });
  assert.deepEqual(idx.key.get("a[1].b.w"), { line: 6, col: 1 });
});

Deno.test("config: the embedded default renders to TOML that loads back to the same config", async () => {
  const full = configSchema();
  const text = renderToml(full);
  const fromText = await loadConfig(full, { text, path: "defaults.toml" });
  const embedded = await loadConfig(full, {});
  assert.deepEqual(fromText.config, embedded.config);
});

Deno.test("config: config/vigia.toml is the rendered reference config and is valid", async () => {
  const file = await Deno.readTextFile(`${repoRoot}/config/vigia.toml`);
  const expected = renderToml(configSchema(), { values: "reference", header: REFERENCE_HEADER });
  assert.equal(
    file,
    expected,
    "config/vigia.toml is stale: regenerate with `deno task vigia config reference > config/vigia.toml`",
  );
  const { config } = await loadVigiaConfig(configSchema(), {
    text: file,
    path: "config/vigia.toml",
  });
  assert.equal(config.paths.state_dir, "/var/lib/vigia");
  assert.equal(config.paths.runtime_dir, "/run/vigia");
  // A fresh install runs `vigia config check` before starting (ExecStartPre): it must pass as shipped.
  await loadVigiaConfig(configSchema(), {
    text: file,
    path: "config/vigia.toml",
    checks: moduleChecks(components),
  });
});
