/**
 * Errors of control verbs: {@linkcode VerbError} for a request that failed
 * (`vigia ctl` exits 1), {@linkcode VerbUsageError} for arguments that make
 * no sense (exit 2).
 *
 * @module
 */

/** A request that failed for a reason the user can act on. */
export class VerbError extends Error {
  /** Makes the error; `message` is shown to the user as is. */
  constructor(message: string) {
    super(message);
    this.name = "VerbError";
  }
}

/** A value the argument layer refused: a usage error (`vigia ctl` exits 2). */
export class VerbUsageError extends VerbError {
  /** Makes the error; `message` names the argument and the value refused. */
  constructor(message: string) {
    super(message);
    this.name = "VerbUsageError";
  }
}
