/*
 * A stand-in runner for status and cancel tests (started by standInRunner() in runs.ts):
 *
 *   node --import tsx test/helpers/stand-in-runner.ts <runDir> <runId> cancel|ignore <concurrency JSON>
 *
 * Takes the run's lock with RunLockHandle, as the engine does, prints "ready", and rewrites
 * the heartbeat every 200 ms until "stop" arrives on stdin (or stdin closes: the test is
 * gone), then releases the lock and exits 0. With "cancel" it also watches cancel.json like
 * the engine's heartbeat does: on a request it aborts the ledger's open jobs (records
 * `aborted` lines), ends the session as cancelled, releases the lock and exits 0.
 */
import { RunDir } from '../../src/state/run-dir.js';
import { RunLockHandle } from '../../src/state/run-lock.js';
import { readLedger } from '../../src/ledger/read.js';

const [dir, runId, mode, concurrencyJson] = process.argv.slice(2);
const run = new RunDir(dir, runId);
const concurrency = JSON.parse(concurrencyJson ?? '{"limit":4,"inFlight":2}') as { limit: number; inFlight: number };
const lock = RunLockHandle.acquire(run.lockFile, 'start');
lock.beat(concurrency);

function exit(): void {
  clearInterval(timer);
  lock.release();
  run.closeLogs();
  process.exit(0);
}

function cancel(): void {
  const at = new Date().toISOString();
  const { fold } = readLedger(run);
  for (const e of fold.unfinished()) {
    if (!e.jobId || e.aborted || e.kind === 'reject') continue;
    run.appendJobLog({ t: 'aborted', at, seq: e.seq, jobId: e.jobId, reason: 'cancelled by sf datacloud load cancel' });
  }
  run.updateManifest((m) => ({
    ...m,
    state: 'cancelled',
    sessions: m.sessions.map((s, i) => (i === m.sessions.length - 1 ? { ...s, endedAt: at, outcome: 'cancelled' } : s)),
  }));
  run.event({ level: 'info', type: 'session-end', message: 'start ended: cancelled (stand-in runner)' });
  exit();
}

const timer = setInterval(() => {
  lock.beat(concurrency);
  if (mode === 'cancel' && run.readCancel()) cancel();
}, 200);

process.stdin.on('data', (d: Buffer) => {
  if (d.toString().includes('stop')) exit();
});
process.stdin.on('end', exit);
process.stdout.write('ready\n');
