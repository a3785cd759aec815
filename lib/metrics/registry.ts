/**
 * The metrics registry: components own their metric families and register
 * them here; the scrape reads them. Two kinds of family:
 *
 * - typed families ({@linkcode MetricsScope.counter}, `gauge`, `histogram`)
 *   whose label values are fixed when registered, one slot per label
 *   combination in a `Float64Array`; hot paths count with
 *   `values[index]++` on an index computed once (no Map lookup, no string
 *   per event). The array may live in a SharedArrayBuffer that a worker
 *   counts into, and a family may sum several such arrays (one per worker).
 * - collected families ({@linkcode MetricsScope.collect}) whose samples a
 *   callback emits at scrape time from state the component keeps anyway
 *   (zone serials, queue depths, devices seen).
 *
 * Label cardinality stays bounded because label values are either a fixed
 * list or the component's own bounded set (served zones, configured
 * interfaces and domains).
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./registry.ts";
 * const registry = new MetricsRegistry();
 * const queries = registry.scope("dns").counter({
 *   name: "vigia_example_total",
 *   help: "Example.",
 *   labels: { proto: ["udp", "tcp"] },
 * });
 * const udp = queries.index("udp");
 * queries.values[udp]++;
 * ```
 *
 * @module
 */

/** Metric types of the exposition formats. */
export type MetricType = "counter" | "gauge" | "histogram";

/** Receives one sample at scrape time: label values in the family's label order. */
export type Emit = (labelValues: readonly string[], value: number) => void;

/** A family as the exposition sees it. */
export interface Family {
  /** Full name; counters end in `_total`. */
  name: string;
  /** One line of help. */
  help: string;
  /** Counter, gauge or histogram. */
  type: MetricType;
  /** Label names, in the order `emit` gets their values. */
  labels: readonly string[];
  /** Upper bounds of the buckets (histograms only), ascending, without +Inf. */
  buckets?: readonly number[];
  /**
   * Emits every sample. Histograms emit, per label combination, one value
   * per bucket (not cumulative; the last is the +Inf bucket) and then the sum.
   */
  read(emit: Emit): void;
}

/** Options shared by every family. */
export interface FamilyOptions {
  /** Full name, `vigia_` prefix, base units, `_total` for counters. */
  name: string;
  /** One line saying what is counted. */
  help: string;
}

/** Options of a typed family. */
export interface TypedOptions extends FamilyOptions {
  /** Each label's fixed list of values; the slot layout is their product in this order. */
  labels?: Record<string, readonly string[]>;
  /**
   * Arrays with the same layout to sum into the scrape (for example one per
   * worker, in SharedArrayBuffers); read at every scrape.
   */
  extra?: () => Iterable<Float64Array>;
}

/** A counter or gauge family with one slot per label combination. */
export class TypedFamily {
  /** The slots; count with `values[index]++`. */
  readonly values: Float64Array;
  readonly #labelValues: (readonly string[])[];
  readonly #strides: number[];

  /**
   * Allocates one slot run per label combination.
   * @param labelValues each label's values, in order
   * @param stride slots per combination
   */
  constructor(labelValues: (readonly string[])[], stride = 1) {
    this.#labelValues = labelValues;
    this.#strides = [];
    let size = stride;
    for (let i = labelValues.length - 1; i >= 0; i--) {
      this.#strides[i] = size;
      size *= labelValues[i].length;
    }
    this.values = new Float64Array(size);
  }

  /** Number of slots (label combinations times the stride). */
  get size(): number {
    return this.values.length;
  }

  /** The slot of a label combination; throws on a value outside the declared lists. */
  index(...labelValues: string[]): number {
    let at = 0;
    for (let i = 0; i < this.#labelValues.length; i++) {
      const k = this.#labelValues[i].indexOf(labelValues[i]);
      if (k < 0) {
        throw new RangeError(
          `label value "${labelValues[i]}" is not one of ${this.#labelValues[i].join(", ")}`,
        );
      }
      at += k * this.#strides[i];
    }
    return at;
  }

  /** Calls `fn` with every label combination and its first slot. */
  forEach(fn: (labelValues: readonly string[], at: number) => void): void {
    const n = this.#labelValues.length;
    const current: string[] = new Array(n);
    const walk = (depth: number, at: number) => {
      if (depth === n) return fn(current, at);
      const values = this.#labelValues[depth];
      for (let k = 0; k < values.length; k++) {
        current[depth] = values[k];
        walk(depth + 1, at + k * this.#strides[depth]);
      }
    };
    walk(0, 0);
  }
}

/** A histogram family: per label combination, one slot per bucket plus +Inf, then the sum. */
export class TypedHistogram extends TypedFamily {
  /** Upper bounds, ascending, without +Inf. */
  readonly buckets: readonly number[];

  /**
   * Allocates the buckets, sum and count of every label combination.
   * @param labelValues each label's values
   * @param buckets upper bounds without +Inf
   */
  constructor(labelValues: (readonly string[])[], buckets: readonly number[]) {
    super(labelValues, buckets.length + 2);
    this.buckets = buckets;
  }

  /** Records `count` observations of `value` (seconds, bytes) at the combination starting at `at`. */
  observe(at: number, value: number, count = 1): void {
    observe(this.values, at, this.buckets, value, count);
  }
}

/**
 * Records `count` observations of `value` into a histogram laid out as
 * {@linkcode TypedHistogram} does, starting at `at` in `values`; usable on
 * any array (a worker's shared counters).
 */
export function observe(
  values: Float64Array,
  at: number,
  buckets: readonly number[],
  value: number,
  count = 1,
): void {
  let b = 0;
  while (b < buckets.length && value > buckets[b]) b++;
  values[at + b] += count;
  values[at + buckets.length + 1] += value * count;
}

/** Registrations of one owner (a component, the daemon); cleared when the owner stops. */
export class MetricsScope {
  readonly #registry: MetricsRegistry;
  /** Who registered the families (`dns`, `daemon`): what {@linkcode MetricsScope.clear} removes. */
  readonly owner: string;

  /** A scope of `registry` for `owner`. */
  constructor(registry: MetricsRegistry, owner: string) {
    this.#registry = registry;
    this.owner = owner;
  }

  /** The whole registry (what the exposition renders). */
  get registry(): MetricsRegistry {
    return this.#registry;
  }

  /** Whether the registry is served (`[metrics] enabled`): hot paths may skip counting when not. */
  get enabled(): boolean {
    return this.#registry.enabled;
  }

  /** Registers a counter family (name ending in `_total`) with fixed label values. */
  counter(options: TypedOptions): TypedFamily {
    return this.#typed("counter", options);
  }

  /** Registers a gauge family with fixed label values. */
  gauge(options: TypedOptions): TypedFamily {
    return this.#typed("gauge", options);
  }

  /** Registers a histogram with fixed label values and bucket bounds. */
  histogram(options: TypedOptions & { buckets: readonly number[] }): TypedHistogram {
    const labels = options.labels ?? {};
    const family = new TypedHistogram(Object.values(labels), options.buckets);
    this.#registry.add(this.owner, {
      name: options.name,
      help: options.help,
      type: "histogram",
      labels: Object.keys(labels),
      buckets: options.buckets,
      read: readTyped(family, options.extra, options.buckets.length + 2),
    });
    return family;
  }

  /**
   * Registers a family whose samples `read` emits at scrape time, for values
   * the component already keeps; label values must come from a bounded set.
   */
  collect(
    options: FamilyOptions & {
      type: MetricType;
      labels?: readonly string[];
      /** Bucket bounds of a histogram (see {@linkcode Family.read} for what it emits). */
      buckets?: readonly number[];
    },
    read: (emit: Emit) => void,
  ): void {
    if (options.type === "histogram" && !options.buckets) {
      throw new RangeError(`histogram ${options.name} needs its buckets`);
    }
    this.#registry.add(this.owner, {
      name: options.name,
      help: options.help,
      type: options.type,
      labels: options.labels ?? [],
      buckets: options.buckets,
      read,
    });
  }

  /** Removes every family of this owner (it stopped). */
  clear(): void {
    this.#registry.removeOwner(this.owner);
  }

  #typed(type: MetricType, options: TypedOptions): TypedFamily {
    const labels = options.labels ?? {};
    const family = new TypedFamily(Object.values(labels));
    this.#registry.add(this.owner, {
      name: options.name,
      help: options.help,
      type,
      labels: Object.keys(labels),
      read: readTyped(family, options.extra, 1),
    });
    return family;
  }
}

function readTyped(
  family: TypedFamily,
  extra: (() => Iterable<Float64Array>) | undefined,
  stride: number,
): (emit: Emit) => void {
  return (emit) => {
    const arrays = [family.values, ...(extra?.() ?? [])];
    family.forEach((labelValues, at) => {
      for (let s = 0; s < stride; s++) {
        let v = 0;
        for (const a of arrays) v += a[at + s];
        emit(labelValues, v);
      }
    });
  };
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Every registered family, by owner; what `/metrics` renders. */
export class MetricsRegistry {
  /** Whether the registry is served; typed counting may be skipped when not. */
  enabled = true;
  readonly #families = new Map<string, { owner: string; family: Family }>();
  readonly #scopes = new Map<string, MetricsScope>();

  /** The scope of one owner (the same object for the same owner). */
  scope(owner: string): MetricsScope {
    let s = this.#scopes.get(owner);
    if (!s) this.#scopes.set(owner, s = new MetricsScope(this, owner));
    return s;
  }

  /**
   * Adds a family; a family of the same name from the same owner is replaced
   * (a restarted component registers again), from another owner refused.
   */
  add(owner: string, family: Family): void {
    if (!NAME.test(family.name)) throw new RangeError(`invalid metric name "${family.name}"`);
    for (const l of family.labels) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le") {
        throw new RangeError(`invalid label name "${l}" in ${family.name}`);
      }
    }
    if (family.type === "counter" && !family.name.endsWith("_total")) {
      throw new RangeError(`counter ${family.name} must end in _total`);
    }
    const held = this.#families.get(family.name);
    if (held && held.owner !== owner) {
      throw new RangeError(`metric ${family.name} is already registered by ${held.owner}`);
    }
    this.#families.set(family.name, { owner, family });
  }

  /** Removes every family of `owner`. */
  removeOwner(owner: string): void {
    for (const [name, f] of this.#families) if (f.owner === owner) this.#families.delete(name);
  }

  /** Every family, sorted by name (stable output for diffs and tests). */
  families(): Family[] {
    return [...this.#families.values()].map((f) => f.family).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  }
}
