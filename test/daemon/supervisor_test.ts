import assert from "node:assert/strict";
import { Supervisor } from "../../lib/daemon/supervisor.ts";
import {
  type ComponentContext,
  type ComponentModule,
  ComponentUnavailable,
} from "../../lib/daemon/types.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { section } from "../../lib/config/mod.ts";

function context(lines: string[]): ComponentContext {
  return {
    section: { enabled: true },
    config: {},
    log: createLogger({ write: (l) => lines.push(l), journal: false }).child("flaky"),
  } as unknown as ComponentContext;
}

Deno.test("supervisor: a component that fails to start is retried with backoff and recovers", async () => {
  let attempts = 0;
  let running!: () => void;
  const up = new Promise<void>((r) => (running = r));
  const module: ComponentModule = {
    name: "flaky",
    schema: section("flaky", {}),
    enabled: () => true,
    create: () => ({
      start: () => {
        attempts++;
        if (attempts < 2) return Promise.reject(new Error("port busy"));
        return Promise.resolve();
      },
      stop: () => Promise.resolve(),
    }),
  };
  const lines: string[] = [];
  const s = new Supervisor(module, context(lines), {
    backoffMaxMs: 50,
    onState: (state) => state === "running" && running(),
  });
  await s.start();
  assert.equal(s.status().state, "backoff");
  assert.match(s.status().last_error!, /port busy/);
  await up;
  assert.equal(s.status().state, "running");
  assert.equal(s.status().restarts, 1);
  assert.ok(lines.some((l) => l.includes("failed; restarting with backoff")));
  await s.stop();
  assert.equal(s.status().state, "stopped");
});

Deno.test("supervisor: a component that dies after start is restarted; a hung stop is abandoned", async () => {
  let instances = 0;
  let die!: (e: Error) => void;
  let second!: () => void;
  const secondUp = new Promise<void>((r) => (second = r));
  const module: ComponentModule = {
    name: "worker",
    schema: section("worker", {}),
    enabled: () => true,
    create: () => {
      instances++;
      const n = instances;
      return {
        start: () => {
          if (n === 2) second();
          return Promise.resolve();
        },
        stop: () => n === 2 ? new Promise<void>(() => {}) : Promise.resolve(), // the second hangs
        done: n === 1 ? new Promise<void>((_, reject) => (die = reject)) : undefined,
      };
    },
  };
  const lines: string[] = [];
  const s = new Supervisor(module, context(lines), { backoffMaxMs: 20, stopTimeoutMs: 100 });
  await s.start();
  die(new Error("worker crashed"));
  await secondUp;
  assert.equal(s.status().restarts, 1);
  const t0 = performance.now();
  await s.stop();
  assert.ok(performance.now() - t0 < 1000);
  assert.ok(lines.some((l) => l.includes("did not stop in time; abandoned")));
});

Deno.test("supervisor: a component that is unavailable here stays down with its reason, no retries", async () => {
  let attempts = 0;
  const module: ComponentModule = {
    name: "capture",
    schema: section("capture", {}),
    enabled: () => true,
    create: () => ({
      start: () => {
        attempts++;
        return Promise.reject(
          new ComponentUnavailable("live capture needs the CAP_NET_RAW capability"),
        );
      },
      stop: () => Promise.resolve(),
    }),
  };
  const lines: string[] = [];
  const s = new Supervisor(module, context(lines), { backoffMaxMs: 10 });
  await s.start();
  const st = s.status();
  assert.equal(st.state, "unavailable");
  assert.match(st.last_error!, /CAP_NET_RAW/);
  assert.equal(attempts, 1);
  assert.ok(lines.some((l) => l.includes("unavailable; stays down")));
  await s.stop();
  assert.equal(attempts, 1, "stop does not retry either");
});
