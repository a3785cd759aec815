/**
 * The file-handle layer of the daily logs: one append-only file that
 * follows its path. When the file is moved or deleted (logrotate, an admin's
 * `mv` or `rm`), the next write after at most `checkInterval` ms notices,
 * by comparing the path's device and inode with the open handle's, and
 * opens a new file at the path, so no line goes on into a file nobody sees.
 * The check is one `stat` per file per interval, made only when a write
 * happens, never per line. {@linkcode DayFile.reopen} (SIGHUP, `vigia ctl
 * reopen`) does it at once.
 *
 * @example
 * ```ts ignore
 * const f = new DayFile("var/log/2026-11-21.log");
 * f.write(new TextEncoder().encode("a line\n"));
 * f.close();
 * ```
 *
 * @module
 */

/** Options of {@linkcode DayFile}. */
export interface DayFileOptions {
  /** Milliseconds between checks that the path still names the open file. @default 1000 */
  checkInterval?: number;
  /** File mode of a created file. @default 0o640 */
  mode?: number;
}

/** An O_APPEND file that is reopened when its path stops naming it. */
export class DayFile {
  /** The path written to. */
  readonly path: string;
  readonly #checkInterval: number;
  readonly #mode: number;
  #file: Deno.FsFile | undefined;
  #dev = 0;
  #ino = 0;
  #checkedAt = 0;
  /** Times the file was reopened because the path named another file or none. */
  reopened = 0;

  /** A handle on `path`; nothing is opened until the first write. */
  constructor(path: string, options: DayFileOptions = {}) {
    this.path = path;
    this.#checkInterval = options.checkInterval ?? 1000;
    this.#mode = options.mode ?? 0o640;
  }

  /** Appends `bytes` whole (one write, retried on a short write). */
  write(bytes: Uint8Array): void {
    const file = this.#current();
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
  }

  /** Closes the handle; the next write opens the path anew. */
  reopen(): void {
    this.close();
  }

  /** Closes the handle (the next write opens it again). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  #current(): Deno.FsFile {
    if (this.#file) {
      const now = Date.now();
      if (now - this.#checkedAt < this.#checkInterval) return this.#file;
      this.#checkedAt = now;
      if (this.#samePath()) return this.#file;
      this.close();
      this.reopened++;
    }
    const file = Deno.openSync(this.path, { append: true, create: true, mode: this.#mode });
    const info = file.statSync();
    this.#dev = info.dev;
    this.#ino = info.ino ?? 0;
    this.#checkedAt = Date.now();
    this.#file = file;
    return file;
  }

  /** True while the path still names the open file (not moved away, not deleted). */
  #samePath(): boolean {
    try {
      const info = Deno.statSync(this.path);
      return info.dev === this.#dev && (info.ino ?? 0) === this.#ino;
    } catch {
      return false;
    }
  }
}
