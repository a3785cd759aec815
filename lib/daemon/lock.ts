/**
 * One daemon per store and log directory: at start the daemon takes an
 * exclusive `flock` on `vigia.lock` in `paths.state_dir` and in
 * `paths.log_dir`, and writes its PID there. A second daemon on the same
 * directories (even with its own `runtime_dir`, so its control socket does
 * not collide) is refused with the first one's PID, instead of storing every
 * packet twice. The kernel drops the lock when the process ends, however it
 * ends, so a stale file never blocks a start. `vigia ingest` takes no lock:
 * it is meant to run beside the daemon (SQLite and O_APPEND keep both safe).
 *
 * @module
 */

/** Name of the lock file in each locked directory. */
export const LOCK_FILE = "vigia.lock";

/** Locks held by this process; release them with {@linkcode DirectoryLocks.release}. */
export interface DirectoryLocks {
  /** The lock files held. */
  paths: string[];
  /** Unlocks and closes them (the files stay). */
  release(): void;
}

/**
 * Takes the exclusive lock of every directory in `dirs` (each a config key
 * and its path; the same directory twice is locked once). Throws, holding
 * nothing, when another process holds one.
 */
export function lockDirectories(dirs: [key: string, dir: string][]): DirectoryLocks {
  const held: { path: string; file: Deno.FsFile }[] = [];
  const release = () => {
    for (const { file } of held.splice(0)) {
      try {
        file.close(); // closing drops the flock
      } catch { /* already closed */ }
    }
  };
  const seen = new Set<string>();
  try {
    for (const [key, dir] of dirs) {
      const real = Deno.realPathSync(dir);
      if (seen.has(real)) continue;
      seen.add(real);
      const path = `${real}/${LOCK_FILE}`;
      const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o640 });
      if (!file.tryLockSync(true)) {
        const pid = readPid(path);
        file.close();
        throw new Error(
          `another vigia ${
            pid ? `(PID ${pid}) ` : ""
          }is already running on ${key} = "${dir}" (it holds ${path}); stop it, or give this one its own [paths]`,
        );
      }
      held.push({ path, file });
      file.truncateSync(0);
      file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
    }
  } catch (e) {
    release();
    throw e;
  }
  return { paths: held.map((h) => h.path), release };
}

function readPid(path: string): number | undefined {
  try {
    const n = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
