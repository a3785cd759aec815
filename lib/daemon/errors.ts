/**
 * Errors of control verbs: {@linkcode VerbError} for a request that failed
 * (`vigia ctl` exits 1), {@linkcode VerbUsageError} for arguments that make
 * no sense (exit 2).
 *
 * @module
 */

/** A request that failed for a reason the user can act on. */
export class VerbError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerbError";
  }
}

/** A value the argument layer refused: a usage error (`vigia ctl` exits 2). */
export class VerbUsageError extends VerbError {
  constructor(message: string) {
    super(message);
    this.name = "VerbUsageError";
  }
}
