/**
 * The few environment facts the capture tests need (repository root, shared
 * test data, root, commands on PATH). Kept here rather than imported from
 * `test/_helpers.ts` so that these tests load only the capture layer, not
 * every component of the daemon.
 *
 * @module
 */

/** Absolute path of the repository root. */
export const repoRoot: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `../shared/testdata` beside the repository, or null when absent. */
export const sharedTestdata: string | null = exists(`${repoRoot}/../shared/testdata`)
  ? `${repoRoot}/../shared/testdata`
  : null;

/** Running as root. */
export const isRoot: boolean = Deno.uid() === 0;

/** True when an executable is on PATH. */
export function hasCommand(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) =>
    dir !== "" && exists(`${dir}/${name}`)
  );
}
