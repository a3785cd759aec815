/**
 * The decision rule of `shared/veridns-protocol.md`, as pure functions: a
 * reported address is trusted when it lies in an open list or when a trusted
 * resolver returned it for the domain; every other one is malicious. When no
 * resolver answered, `on_resolver_failure` decides for the addresses outside
 * the open lists.
 *
 * @example
 * ```ts
 * import { decide, outsideOpenLists } from "./verify.ts";
 * const needed = outsideOpenLists([1, 2, 3], (n) => n === 1); // [2, 3]
 * decide(needed, { sets: [new Set([2])], answered: ["a"], failed: [] }, "trust");
 * // { malicious: [3], decision: "resolvers" }
 * ```
 *
 * @module
 */

/** What the resolvers said (see `ResolverPool.resolve`). */
export interface ResolverEvidence {
  /** Address sets of the resolvers that answered. */
  sets: readonly ReadonlySet<number>[];
  /** Resolvers that answered. */
  answered: readonly string[];
  /** Resolvers that failed. */
  failed: readonly string[];
}

/** How a verification was decided. */
export type DecisionKind =
  /** Every reported address lies in an open list; no resolver was asked. */
  | "open-list"
  /** At least one resolver answered; their merged answers decided. */
  | "resolvers"
  /** No resolver answered and the policy trusts: verified. */
  | "trust-on-failure"
  /** No resolver answered and the policy distrusts: addresses outside the open lists are malicious. */
  | "distrust-on-failure";

/** The outcome of one verification. */
export interface Decision {
  /** Malicious addresses (u32), each once, in the order reported. */
  malicious: number[];
  /** How it was decided. */
  decision: DecisionKind;
}

/** The reported addresses (u32) outside every open list, each once, in order. */
export function outsideOpenLists(
  reported: readonly number[],
  inOpenList: (n: number) => boolean,
): number[] {
  const out: number[] = [];
  for (const n of reported) if (!inOpenList(n) && !out.includes(n)) out.push(n);
  return out;
}

/**
 * Decides for the addresses outside the open lists (`needed`), given what
 * the resolvers said and the failure policy.
 */
export function decide(
  needed: readonly number[],
  evidence: ResolverEvidence | null,
  policy: "trust" | "distrust" | string,
): Decision {
  if (needed.length === 0) return { malicious: [], decision: "open-list" };
  if (evidence === null || evidence.answered.length === 0) {
    return policy === "distrust"
      ? { malicious: [...needed], decision: "distrust-on-failure" }
      : { malicious: [], decision: "trust-on-failure" };
  }
  const malicious: number[] = [];
  outer: for (const n of needed) {
    for (const s of evidence.sets) if (s.has(n)) continue outer;
    malicious.push(n);
  }
  return { malicious, decision: "resolvers" };
}
