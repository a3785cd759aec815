/**
 * The directories of `[paths]`: checked before use (`config check` and the
 * daemon's start), created with messages in vigia's words rather than the
 * runtime's ("No such file or directory (os error 2): mkdir ...").
 *
 * @module
 */

/** Why `error` happened, in a few words of the user's. */
function reason(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "vigia does not touch system paths such as /proc, /sys and /dev";
  }
  const code = (error as { code?: string }).code;
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOENT") return "the file system does not allow it";
  if (code === "ENOSPC") return "no space left";
  return code ?? (error as Error).message;
}

function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "") || "/";
  const i = trimmed.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : trimmed.slice(0, i);
}

/**
 * What stands in the way of using `dir` as a writable directory (creating
 * it if needed), or undefined when nothing does. Leaves nothing behind: it
 * only creates and removes a probe file.
 */
export function directoryProblem(dir: string): string | undefined {
  let existing = dir;
  for (;;) {
    try {
      if (!Deno.statSync(existing).isDirectory) {
        return existing === dir
          ? `${dir} exists and is not a directory`
          : `cannot create ${dir}: ${existing} is not a directory`;
      }
      break;
    } catch (e) {
      // ENOTDIR: some parent is a file; walking up finds it and says so.
      const missing = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
      if (!missing) return `cannot use ${dir}: ${reason(e)}`;
      const up = parentOf(existing);
      if (up === existing) return `cannot create ${dir}: no part of it exists`;
      existing = up;
    }
  }
  try {
    Deno.removeSync(Deno.makeTempFileSync({ dir: existing, prefix: ".vigia-check-" }));
  } catch (e) {
    return existing === dir
      ? `${dir} is not writable (${reason(e)})`
      : `cannot create ${dir}: ${existing} does not accept new entries (${reason(e)})`;
  }
  return undefined;
}

/** Creates `dir` (and its parents) when missing; the error names the config key. */
export async function ensureDirectory(dir: string, key: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`${key}: ${directoryProblem(dir) ?? `cannot create ${dir}: ${reason(e)}`}`);
  }
}
