/**
 * Facts about the test environment (repository root, shared test data,
 * root, commands on PATH) without importing any component, so that tests
 * of one layer (the capture decoder) load only that layer.
 * `_helpers.ts` re-exports these.
 *
 * @module
 */

/** Absolute path of the repository root, without a trailing slash. */
export const repoRoot: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `../shared/testdata` beside the repository, or null when absent (tests then skip with a reason). */
export const sharedTestdata: string | null = exists(`${repoRoot}/../shared/testdata`)
  ? `${repoRoot}/../shared/testdata`
  : null;

/** Prints why a group of tests is skipped and returns true when it must be skipped. */
export function skipUnless(condition: boolean, reason: string): boolean {
  if (!condition) console.log(`SKIP: ${reason}`);
  return !condition;
}

/** True when running as root (live capture, network namespaces, privileged ports). */
export const isRoot: boolean = Deno.uid() === 0;

/** True when an executable is on PATH. */
export function hasCommand(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/${name}`)) return true;
  }
  return false;
}
