/*
 * Crash points, for the crash suite only: with SF_DATACLOUD_LOAD_TEST_CRASH="<point>:<n>"
 * the process kills itself (SIGKILL, as kill -9 does) the n-th time it passes <point>.
 * They pin down the windows a random kill rarely hits (a job created in the org whose id is
 * not logged yet; a result append torn after its first line). Unset, they cost a lookup.
 *
 *   after-create    the org job exists, the `created` line is not written
 *   after-failures  a job's failure lines are written, its result is not
 *   torn-result     only the first line of a job's [retry planned, result] append is written
 *   after-result    the result is written, the job's files and org job not yet deleted
 */
const spec = parse(process.env.SF_DATACLOUD_LOAD_TEST_CRASH);
const hits = new Map<string, number>();

function parse(v: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const part of (v ?? '').split(',').filter(Boolean)) {
    const [name, n] = part.split(':');
    m.set(name, Math.max(1, Number(n ?? 1)));
  }
  return m;
}

/** True when this pass of `name` is the one to crash at (the caller may write a partial record first). */
export function crashArmed(name: string): boolean {
  const at = spec.get(name);
  if (at === undefined) return false;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  return n === at;
}

export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

export function crashPoint(name: string): void {
  if (crashArmed(name)) crashNow();
}
