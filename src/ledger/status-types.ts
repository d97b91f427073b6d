/*
 * The one vocabulary of a run's numbers: what `status --json`, `start/resume/retry-failures
 * --json`, `report --json` and the progress display say. Every count here comes from one
 * fold of the run directory (src/ledger/fold.ts); nothing is counted twice anywhere else.
 *
 *   read    = loaded + failed + pending        (checked on every fold)
 *   sourceRows = read + unread                 (unread: not yet read from the source)
 *
 * Schema: schemas/status.json (bump STATUS_SCHEMA_VERSION on a breaking change).
 */
import type { KeyValue, PacingSettings, RunState } from '../state/types.js';

export const STATUS_SCHEMA_VERSION = 2 as const;

/** The totals, with the same names everywhere. */
export type Totals = {
  /** Rows in the source: the plan's count, or the recount at the end of the run. */
  sourceRows: number;
  /** Rows read from the source so far (rejected rows included). */
  read: number;
  /** sourceRows − read, never negative. */
  unread: number;
  /** Rows the org saved. */
  loaded: number;
  created: number;
  updated: number;
  /** Rows failed for good, each listed in failures.ndjson with its code. */
  failed: number;
  /** Rows read but not final yet: queued for a job, in a job in flight, or waiting to be retried. */
  pending: number;
  /** Row retries spent: rows sent again after a transient error or because the org did not process them. */
  retriedRows: number;
  /** Rows that came back UNABLE_TO_LOCK_ROW (each attempt counts; most are retried). */
  lockErrors: number;
  /** loaded / sourceRows, a fraction 0..1 (0 when sourceRows is 0). */
  successRate: number;
  /** Of first-attempt rows with a result, the fraction saved on that attempt (null before any). */
  firstPassSuccessRate: number | null;
};

export type JobTotals = {
  /** Run jobs (seqs) created in the org. */
  total: number;
  /** Org jobs created, including re-creations of one seq after a resume. */
  orgJobs: number;
  /** Seqs with a result. */
  completed: number;
  /** Created in the org, no result yet. */
  inFlight: number;
  /** Planned, not created in the org yet. */
  queued: number;
  /** Results whose org job ended Failed or Aborted. */
  failedJobs: number;
  /** Seqs that carry retried rows (attempt > 1). */
  retryJobs: number;
};

/**
 * completed: every source row read, none pending (failed rows allowed; see health)
 * incomplete: the run ended but rows are missing: the source changed (recount ≠ rows read)
 * running / stopping: a live runner holds the run's lock
 * crashed: recorded as running, but its lock's heartbeat is stale or its process is gone
 * planned / stopped / failed / cancelled: as recorded in run.json (resumable)
 */
export type RunStatusState = RunState | 'crashed';

/**
 * ok: completed, and every row loaded or the success rate over source rows meets the threshold (exit 0)
 * partial: completed or incomplete, with rows not loaded below the threshold (exit 2)
 * needs-resume: crashed, stopped, failed, cancelled, planned with no runner (exit 3)
 * in-progress: a live runner is working (exit 4; `status --wait` waits for the end)
 */
export type HealthVerdict = 'ok' | 'partial' | 'needs-resume' | 'in-progress';
export type StatusExitCode = 0 | 2 | 3 | 4;

export type Health = {
  verdict: HealthVerdict;
  exitCode: StatusExitCode;
  /** Threshold used, percent 0..100 of source rows. */
  minSuccessRate: number;
  /** One sentence that says where the run stands and what is missing. */
  message: string;
  /** The command to run next, runnable as printed (with -o <org> and --run-id), or null. */
  next: string | null;
};

export type PartitionStatus = {
  index: number;
  state: 'pending' | 'running' | 'done';
  lowerExclusive: KeyValue | null;
  upperInclusive: KeyValue | null;
  /** A partition of the rows whose parent is null. */
  nullParent: boolean;
  plannedRows: number;
  read: number;
  loaded: number;
  failed: number;
  pending: number;
  retriedRows: number;
  jobs: number;
  inFlight: number;
};

export type FailureGroup = {
  count: number;
  /** Up to 5 keys (as uploaded). */
  sampleKeys: Array<KeyValue | null>;
  /** The message of one of them. */
  message: string;
  /** A transient kind (e.g. UNABLE_TO_LOCK_ROW that ran out of attempts): retry-failures may load it. */
  transient: boolean;
  /** retry-failures can send these rows again (false for DUPLICATE_SOURCE_KEY, MISSING_KEY, …). */
  retryable: boolean;
};

export type SessionStatus = { command: string; startedAt: string; endedAt: string | null; outcome: string | null; seconds: number };

export type RunStatus = {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  runId: string;
  runDir: string;
  name: string | null;
  state: RunStatusState;
  recordedState: RunState;
  runnerAlive: boolean;
  runner: { pid: number; host: string; at: string; command: string } | null;
  cancelRequestedAt: string | null;
  health: Health;
  source: { object: string; keyColumn: string; parentColumn: string | null; filter: string | null };
  target: { object: string; externalIdField: string; operation: string; mapping: Record<string, string> };
  /** Who the run loads into (no token, ever). `alias` is the first local alias of username, if any. */
  org: { username: string | null; alias: string | null; orgId: string | null; instanceUrl: string | null; apiVersion: string };
  totals: Totals;
  jobs: JobTotals;
  apiCalls: number;
  /** The live runner's concurrency (from its lock file), null when no runner is alive. */
  concurrency: { limit: number; inFlight: number } | null;
  partitions: PartitionStatus[];
  timing: {
    createdAt: string;
    startedAt: string | null;
    endedAt: string | null;
    lastActivityAt: string | null;
    elapsedSeconds: number;
    /** loaded per second over elapsedSeconds. */
    rowsPerSecond: number;
    /** loaded per second over the last 10 minutes of the live session (null without a live runner). */
    recentRowsPerSecond: number | null;
    etaSeconds: number | null;
    sessions: SessionStatus[];
  };
  failuresByCode: Record<string, FailureGroup>;
  /** Source keys seen more than once (plan time and read time): how many extra copies, and examples. */
  duplicates: { keys: number; extraRows: number; examples: KeyValue[] };
  settings: PacingSettings & { rowsPerJob: number; plannedPartitions: number };
  /** Problems the fold found in the run's files (counts that do not add up). Empty when consistent. */
  problems: string[];
  error: { name: string; message: string } | null;
  files: { manifest: string; jobLog: string; failures: string; events: string; lock: string; jobFiles: string };
};

/** One job of the run, for time series (epoch ms). */
export type JobSpan = {
  seq: number;
  partition: number;
  kind: 'load' | 'retry' | 'failures-retry' | 'reject';
  attempt: number;
  rows: number;
  createdAt: number | null;
  resultAt: number | null;
  succeeded: number;
  failed: number;
  requeued: number;
  lockErrors: number;
  state: string | null;
};

/** What report draws: the status, every job, the concurrency limit over time, the sessions. */
export type RunHistory = {
  status: RunStatus;
  jobs: JobSpan[];
  concurrency: Array<{ at: number; limit: number }>;
};

/** What the engine hands the progress display (and what start --json ends with). */
export type ProgressSnapshot = {
  runId: string;
  state: RunState;
  elapsedSeconds: number;
  totals: Totals;
  jobs: JobTotals;
  concurrency: { limit: number; inFlight: number };
  rowsPerSecond: number;
  etaSeconds: number | null;
  apiCalls: number;
  /** The org's allocations left, as last read from /limits (null before the first read). */
  orgLimits: Record<string, { max: number; remaining: number }> | null;
  partitions: { total: number; done: number; running: number; queued: number };
  /** Partitions with a job in flight or a read under way, busiest first. */
  active: PartitionStatus[];
};
