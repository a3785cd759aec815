/**
 * Runs one component: starts it, restarts it with exponential backoff when
 * it fails or dies, and reports its state for `ctl status`.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import {
  type Component,
  type ComponentContext,
  type ComponentModule,
  ComponentUnavailable,
} from "./types.ts";

/** Life-cycle states shown by `ctl status`. */
export type ComponentState =
  | "disabled"
  | "starting"
  | "running"
  | "backoff"
  | "unavailable"
  | "stopping"
  | "stopped";

/** What `ctl status` shows of one component. */
export interface ComponentStatus {
  /** Component name. */
  name: string;
  /** Whether the config enables it. */
  enabled: boolean;
  /** Current state. */
  state: ComponentState;
  /** Seconds since the current instance started, when running. */
  uptime_s: number | null;
  /** Restarts after failures since the daemon started (or the section last changed). */
  restarts: number;
  /** The last error, with its time. */
  last_error: string | null;
  /** Component-specific details. */
  details: Record<string, unknown>;
}

/** Options for {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** Longest backoff between restarts. @default 60000 */
  backoffMaxMs?: number;
  /** How long `stop()` of the component may take before it is abandoned. @default 4000 */
  stopTimeoutMs?: number;
  /** Called on every state change (after the change). */
  onState?: (state: ComponentState) => void;
}

/** Supervises one instance of a component module. */
export class Supervisor<C = unknown, I extends Component = Component> {
  /** The module supervised. */
  readonly module: ComponentModule<C, I>;
  readonly #log: Logger;
  readonly #backoffMaxMs: number;
  readonly #stopTimeoutMs: number;
  #context: ComponentContext<C>;
  #instance: I | undefined;
  #stateValue: ComponentState = "stopped";
  readonly #onState?: (state: ComponentState) => void;
  #startedAt = 0;
  #restarts = 0;
  #restartsTotal = 0;
  #lastError: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;
  #enabled: boolean;

  /** Supervises `module`; nothing starts before {@linkcode Supervisor.start}. */
  constructor(
    module: ComponentModule<C, I>,
    context: ComponentContext<C>,
    options: SupervisorOptions = {},
  ) {
    this.module = module;
    this.#context = context;
    this.#log = context.log;
    this.#backoffMaxMs = options.backoffMaxMs ?? 60_000;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 4000;
    this.#onState = options.onState;
    this.#enabled = module.enabled(context.section);
    if (!this.#enabled) this.#state = "disabled";
  }

  get #state(): ComponentState {
    return this.#stateValue;
  }

  set #state(state: ComponentState) {
    this.#stateValue = state;
    this.#onState?.(state);
  }

  /** The running instance, if any. */
  get instance(): I | undefined {
    return this.#state === "running" ? this.#instance : undefined;
  }

  /** Starts the component if the config enables it; failures go to backoff, never throw. */
  async start(): Promise<void> {
    if (!this.#enabled) {
      this.#state = "disabled";
      return;
    }
    await this.#attempt(this.#generation, 0);
  }

  async #attempt(generation: number, attempt: number): Promise<void> {
    if (generation !== this.#generation) return;
    this.#state = "starting";
    let instance: I | undefined;
    try {
      instance = this.module.create(this.#context);
      this.#instance = instance;
      await instance.start();
    } catch (e) {
      this.#fail(generation, attempt, e, instance);
      return;
    }
    if (generation !== this.#generation) return;
    this.#state = "running";
    this.#startedAt = Date.now();
    this.#log.info("started", instance.status ? instance.status() : undefined);
    instance.done?.then(
      () => this.#died(generation, instance, new Error("stopped on its own")),
      (e) => this.#died(generation, instance, e),
    );
  }

  #died(generation: number, instance: Component, error: unknown): void {
    if (
      generation !== this.#generation || this.#instance !== instance || this.#state !== "running"
    ) return;
    this.#fail(generation, 0, error, instance);
  }

  #fail(
    generation: number,
    attempt: number,
    error: unknown,
    instance: Component | undefined,
  ): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#lastError = `${new Date().toISOString()} ${message}`;
    if (error instanceof ComponentUnavailable) {
      this.#log.error("unavailable; stays down until its config changes or a restart", {
        error: message,
      });
      this.#state = "unavailable";
      this.#context.metrics?.clear();
      if (instance) instance.stop().catch(() => {});
      this.#instance = undefined;
      return;
    }
    const delay = Math.min(this.#backoffMaxMs, 1000 * 2 ** attempt);
    this.#log.error("failed; restarting with backoff", { error: message, retry_in_ms: delay });
    this.#state = "backoff";
    this.#context.metrics?.clear();
    // Release whatever the failed instance holds before trying again.
    if (instance) instance.stop().catch(() => {});
    this.#instance = undefined;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#restarts++;
      this.#restartsTotal++;
      this.#attempt(generation, attempt + 1);
    }, delay);
  }

  /** Stops the instance (bounded by the stop timeout). */
  async stop(): Promise<void> {
    this.#generation++;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const instance = this.#instance;
    this.#instance = undefined;
    if (!instance) {
      if (this.#state !== "disabled") this.#state = "stopped";
      return;
    }
    this.#state = "stopping";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      instance.stop().then(() => false, (e) => {
        this.#log.error("stop failed", { error: e });
        return false;
      }),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.#stopTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#log.error("did not stop in time; abandoned", { timeout_ms: this.#stopTimeoutMs });
    }
    this.#state = "stopped";
    this.#context.metrics?.clear();
    this.#log.info("stopped");
  }

  /** Replaces the context (new config) and restarts: used when the component's section changed. */
  async restartWith(context: ComponentContext<C>): Promise<void> {
    await this.stop();
    this.#context = context;
    this.#enabled = this.module.enabled(context.section);
    this.#restarts = 0;
    this.#lastError = null;
    await this.start();
  }

  /** Updates the context without a restart (the section is unchanged). */
  updateContext(context: ComponentContext<C>): void {
    this.#context = context;
  }

  /** Restarts after failures since the daemon started (never reset: a counter for metrics). */
  get restartsTotal(): number {
    return this.#restartsTotal;
  }

  /** The state for `ctl status`. */
  status(): ComponentStatus {
    let details: Record<string, unknown> = {};
    try {
      if (this.#state === "running" && this.#instance?.status) details = this.#instance.status();
    } catch (e) {
      details = { status_error: (e as Error).message };
    }
    return {
      name: this.module.name,
      enabled: this.#enabled,
      state: this.#state,
      uptime_s: this.#state === "running"
        ? Math.round((Date.now() - this.#startedAt) / 1000)
        : null,
      restarts: this.#restarts,
      last_error: this.#lastError,
      details,
    };
  }

  /** The instance's counters, when running. */
  stats(): Record<string, unknown> | undefined {
    if (this.#state !== "running" || !this.#instance?.stats) return undefined;
    return this.#instance.stats();
  }
}
