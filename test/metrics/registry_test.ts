import assert from "node:assert/strict";
import { MetricsRegistry, negotiate, observe, render } from "../../lib/metrics/mod.ts";

Deno.test("registry: typed families count by slot; extra arrays (workers) are summed", () => {
  const registry = new MetricsRegistry();
  const worker = new Float64Array(4);
  const c = registry.scope("dns").counter({
    name: "vigia_test_requests_total",
    help: "Requests.",
    labels: { proto: ["udp", "tcp"], family: ["ipv4", "ipv6"] },
    extra: () => [worker],
  });
  const udp6 = c.index("udp", "ipv6");
  const tcp4 = c.index("tcp", "ipv4");
  c.values[udp6] += 2;
  c.values[tcp4]++;
  worker[udp6] += 5;
  assert.throws(() => c.index("sctp", "ipv4"), /not one of udp, tcp/);
  const text = render(registry, "text");
  assert.match(text, /^# TYPE vigia_test_requests_total counter$/m);
  assert.match(text, /^vigia_test_requests_total\{proto="udp",family="ipv6"\} 7$/m);
  assert.match(text, /^vigia_test_requests_total\{proto="tcp",family="ipv4"\} 1$/m);
  assert.match(text, /^vigia_test_requests_total\{proto="udp",family="ipv4"\} 0$/m);
});

Deno.test("registry: histograms render cumulative buckets, sum and count", () => {
  const registry = new MetricsRegistry();
  const h = registry.scope("x").histogram({
    name: "vigia_test_duration_seconds",
    help: "Durations.",
    labels: { proto: ["udp"] },
    buckets: [0.001, 0.01],
  });
  h.observe(0, 0.0005);
  h.observe(0, 0.005, 3);
  observe(h.values, 0, h.buckets, 2);
  const text = render(registry, "openmetrics");
  assert.match(text, /^vigia_test_duration_seconds_bucket\{proto="udp",le="0.001"\} 1$/m);
  assert.match(text, /^vigia_test_duration_seconds_bucket\{proto="udp",le="0.01"\} 4$/m);
  assert.match(text, /^vigia_test_duration_seconds_bucket\{proto="udp",le="\+Inf"\} 5$/m);
  assert.match(text, /^vigia_test_duration_seconds_count\{proto="udp"\} 5$/m);
  assert.match(text, /^vigia_test_duration_seconds_sum\{proto="udp"\} 2.0155$/m);
  assert.ok(text.endsWith("# EOF\n"));
});

Deno.test("registry: names are checked; an owner's families are replaced and cleared", () => {
  const registry = new MetricsRegistry();
  const a = registry.scope("a");
  assert.throws(() => a.counter({ name: "vigia_bad", help: "x" }), /must end in _total/);
  assert.throws(() => a.gauge({ name: "vigia bad", help: "x" }), /invalid metric name/);
  assert.throws(
    () => a.gauge({ name: "vigia_g", help: "x", labels: { le: ["1"] } }),
    /invalid label name "le"/,
  );
  a.collect({ name: "vigia_g", help: "first", type: "gauge" }, (emit) => emit([], 1));
  a.collect({ name: "vigia_g", help: "second", type: "gauge" }, (emit) => emit([], 2));
  assert.throws(
    () => registry.scope("b").gauge({ name: "vigia_g", help: "x" }),
    /already registered by a/,
  );
  const text = render(registry, "text");
  assert.match(text, /^# HELP vigia_g second$/m);
  assert.match(text, /^vigia_g 2$/m);
  a.clear();
  assert.equal(render(registry, "text"), "\n");
});

Deno.test("exposition: label values and help are escaped; a failing collector drops only itself", () => {
  const registry = new MetricsRegistry();
  const s = registry.scope("x");
  s.collect({ name: "vigia_e", help: "a\\b\nc", type: "gauge", labels: ["v"] }, (emit) => {
    emit(['q"\\\n'], 1);
  });
  s.collect({ name: "vigia_f", help: "x", type: "gauge" }, () => {
    throw new Error("boom");
  });
  const text = render(registry, "text");
  assert.match(text, /^# HELP vigia_e a\\\\b\\nc$/m);
  assert.match(text, /^vigia_e\{v="q\\"\\\\\\n"\} 1$/m);
  assert.doesNotMatch(text, /vigia_f/);
  assert.equal(
    negotiate("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    "openmetrics",
  );
  assert.equal(negotiate("text/plain"), "text");
  assert.equal(negotiate(null), "text");
});
