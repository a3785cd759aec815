/**
 * The one error type of the capture layer.
 *
 * @module
 */

/**
 * A capture could not be set up or went away: missing capability
 * (CAP_NET_RAW), missing interface, missing libpcap, bad filter, unreadable
 * or unknown capture file. The message is meant for the operator as is.
 *
 * @example
 * ```ts
 * try {
 *   await startLiveCapture("eth0", { onBatch() {} });
 * } catch (e) {
 *   if (e instanceof CaptureError) console.error(e.message);
 * }
 * ```
 */
export class CaptureError extends Error {
  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CaptureError";
  }
}
