/*
 * The JSON shapes of a run directory (schema version 2). These files are the interface
 * between `start`/`resume`/`retry-failures` (the one writer, holding lock.json) and
 * `status`/`report`/`cancel` (readers):
 *
 *   <runs root>/<runId>/                 (0700; every file 0600)
 *     run.json              RunManifest: definition, plan, state, sessions (atomic rewrite)
 *     lock.json             RunLock: the live runner (host, pid, heartbeat, concurrency)
 *     duplicates.json       the plan's duplicate source keys (when there are any)
 *     jobs.ndjson           JobLogRecord, append-only, fsynced: the ledger, source of every count
 *     failures.ndjson       FailureRecord, append-only, fsynced before the result that counts it
 *     events.ndjson         EventRecord, append-only: what happened, for people
 *     jobs/<seq>.csv        a planned job's CSV exactly as uploaded, until its result is recorded
 *     jobs/<seq>.fids       failures-retry jobs: the failure id of each CSV record, in order
 *     cancel.json           present when `cancel` asked the runner to stop
 *
 * No file holds an access token or anything else that grants access to the org.
 */

export const RUN_SCHEMA_VERSION = 2;

export type KeyValue = string | number;
/** A cursor over the ordered key columns (parent, key) or (key). */
export type KeyTuple = KeyValue[];

/**
 * planned → running → completed | incomplete (the run ended, rows are missing: the source
 * changed) | stopped (Ctrl-C, limits) | failed (an error stopped it) | cancelled.
 */
export type RunState = 'planned' | 'running' | 'stopping' | 'stopped' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

export type PacingSettings = {
  profile: string;
  /** adaptive: parent-aware partitions, adaptive concurrency; fixed: the seed's paced, staggered chains. */
  strategy: 'adaptive' | 'fixed';
  /** How partitions are cut: by parent value (children of one parent never span two) or by key range. */
  partitionBy: 'parent' | 'key';
  /** Rows per Bulk job (at most 10,000: one internal batch), or auto (see src/engine/sizing.ts). */
  rowsPerJob: number | 'auto';
  partitions: number | 'auto';
  staggerSeconds: number;
  /** Pause between the jobs of one partition, uniform in [min, max]. */
  delaySeconds: [number, number];
  /** Backoff before each retry of transient rows (jitter is added). */
  retryDelaysSeconds: number[];
  /** Attempts per row, the first included. */
  maxAttempts: number;
  /** Upper bound on Bulk jobs in flight at once. */
  maxConcurrency: number;
  /** Jobs of one partition in flight at once (1 keeps a parent's rows in sequential jobs). */
  jobsInFlightPerPartition: number;
  /** Poll interval of a job: starts at min, grows to max. */
  pollSeconds: [number, number];
  /** Stop the run when this many consecutive jobs fail whole for the same permanent reason. */
  circuitBreakerJobs: number;
  /** Never let two jobs in flight reference the same parent (the scheduler's parent-lock table). */
  parentLocks?: boolean;
  /** Upload bytes per job at most (Bulk API 2.0 takes 100 MB of CSV per job). */
  maxJobBytes?: number;
  /** Data Cloud queries under way at once at most (the org answers 429 past 15). */
  maxConcurrentQueries?: number;
  /** Pages read ahead of the job slots. */
  readAhead?: number;
};

export type LoadDefinition = {
  version: 1;
  name?: string;
  source: {
    /** Data Cloud object (DMO/DLO), e.g. ExtOpportunities__dlm. */
    object: string;
    /** Unique key column, e.g. ExternalId__c. */
    keyColumn: string;
    /** Parent column (e.g. AccountExternalId__c): rows are grouped by it to avoid parent locks. */
    parentColumn?: string;
    /** Columns to read; defaults to the keys of target.mapping. */
    columns?: string[];
    /** A Data Cloud SQL predicate added to every query, e.g. "StageName__c" <> 'Closed'. */
    filter?: string;
    dataspace?: string;
  };
  target: {
    /** sObject, e.g. Opportunity. */
    object: string;
    /** External ID field of the sObject, e.g. External_ID__c. */
    externalIdField: string;
    operation: 'upsert';
    /** Source column → target field; parents by external id as "Account.External_ID__c". */
    mapping: Record<string, string>;
  };
  pacing: PacingSettings;
};

export type PlanPartition = {
  index: number;
  /** Bound on the partition column: values > lowerExclusive and <= upperInclusive (null = open). */
  lowerExclusive: KeyValue | null;
  upperInclusive: KeyValue | null;
  /** Rows counted at plan time. */
  rows: number;
  /** Seconds after the run starts before this partition may start. */
  startOffsetSeconds: number;
  /** The rows whose parent is null (keyset on the key alone). */
  nullParent?: boolean;
  /** The rows whose key is null: read once and listed as failed (MISSING_KEY). */
  nullKeys?: boolean;
};

export type LoadPlan = {
  createdAt: string;
  totalRows: number;
  /** Rows per Bulk job for this run (pacing.rowsPerJob, with auto resolved). */
  rowsPerJob: number;
  /** Columns the pages are ordered by: [parent, key] or [key]. */
  keyColumns: string[];
  /** Column the partitions are bounded on. */
  partitionColumn: string;
  partitions: PlanPartition[];
  /** Parents with more children than the platform's skew threshold. */
  skewedParents: Array<{ parent: KeyValue; rows: number }>;
  warnings: string[];
  estimates: {
    jobs: number;
    internalBatches: number;
    apiCalls: number;
    limits: Record<string, { remaining: number; needed: number }>;
  };
  queryApi: 'query-sql' | 'queryv2';
  /** Data Cloud type of each source column (from the probe query's metadata), e.g. Varchar. */
  columnTypes: Record<string, string>;
  /** The target's External ID field compares case-sensitively (describe caseSensitive). */
  keyCaseSensitive: boolean;
  /** The parent's External ID field compares case-sensitively (null: no parent reference mapped). */
  parentCaseSensitive: boolean | null;
  /** Rows with a null key, and with a null parent. */
  nullKeys: number;
  nullParents: number;
  /** Source keys (as the org compares them) held by more than one row. */
  duplicates: { keys: number; extraRows: number; examples: KeyValue[] };
};

export type SessionCommand = 'start' | 'resume' | 'retry-failures';

export type RunManifest = {
  schemaVersion: number;
  runId: string;
  kind: 'load';
  createdAt: string;
  updatedAt: string;
  state: RunState;
  org: { username?: string; alias?: string; orgId?: string; instanceUrl?: string; apiVersion: string };
  definitionFile?: string;
  definition: LoadDefinition;
  plan: LoadPlan;
  /** Each start, resume or retry-failures session. */
  sessions: Array<{ command: SessionCommand; startedAt: string; endedAt?: string; outcome?: RunState; host?: string; pid?: number }>;
  /** The source's row count at the end of the run (recount). */
  recount?: { at: string; rows: number };
  endedAt?: string;
  error?: { name: string; message: string };
};

export type RunLock = {
  /** Random id of the session holding the lock. */
  token: string;
  host: string;
  pid: number;
  command: SessionCommand | 'cancel';
  startedAt: string;
  heartbeatAt: string;
  concurrency?: { limit: number; inFlight: number };
};

/** Kinds of planned jobs: fresh rows, retried rows, failed rows sent again by retry-failures, rows rejected at read time. */
export type JobKind = 'load' | 'retry' | 'failures-retry' | 'reject';

export type ResultState = 'JobComplete' | 'Failed' | 'Aborted' | 'LocalReject';

/**
 * The ledger. `seq` is the run's own job number; one seq may see several org jobs (an Open
 * job aborted on resume and created again) but exactly one `result`, written once, after
 * the failures and the retry job it implies are on disk.
 */
export type JobLogRecord =
  | {
      t: 'planned';
      at: string;
      seq: number;
      kind: JobKind;
      partition: number;
      /** Rows in the job's CSV (for reject: rows rejected). */
      rows: number;
      /** Rows read fresh from the source that this record accounts for (load and reject only). */
      freshRows: number;
      /** The partition's cursor after these rows (load and reject). */
      lastKey?: KeyTuple;
      /** The partition has no rows after these. */
      exhausted?: boolean;
      /** 1 on the first pass; a retry job's rows are one attempt further than its origin's. */
      attempt: number;
      /** For retry jobs: the seq whose result produced them. */
      retryOf?: number;
      notBefore?: string;
      bytes?: number;
      /** Duplicate keys (normalised) whose one loaded copy is in this job. */
      dupWinners?: string[];
    }
  | { t: 'exhausted'; at: string; partition: number; lastKey?: KeyTuple }
  | { t: 'intent'; at: string; seq: number }
  /** orgCreatedAt: the job's createdDate as the org gave it (org clock): bounds when an unrecorded job of a later intent was made. */
  | { t: 'created'; at: string; seq: number; jobId: string; adopted?: boolean; orgCreatedAt?: string }
  | { t: 'uploaded'; at: string; seq: number; jobId: string; bytes: number }
  | { t: 'closed'; at: string; seq: number; jobId: string }
  | { t: 'aborted'; at: string; seq: number; jobId: string; reason: string }
  | { t: 'orphan'; at: string; seq: number; jobId: string; action: 'aborted' | 'adopted' | 'left'; reason: string }
  | { t: 'deleted'; at: string; seq: number; jobId: string }
  | {
      t: 'result';
      at: string;
      seq: number;
      jobId: string;
      kind: JobKind;
      partition: number;
      state: ResultState;
      rows: number;
      /** Rows the org saved. */
      succeeded: number;
      created: number;
      updated: number;
      /** Rows failed for good: each has a line in failures.ndjson with this result's `batch`. */
      failed: number;
      /** Rows sent again in the job `retrySeq` (transient error, or not processed). */
      requeued: number;
      retrySeq?: number;
      /** Rows that came back with a lock error, and with any transient error. */
      lockErrors: number;
      transientErrors: number;
      /** failures-retry: rows failed before that loaded now (= succeeded). */
      recovered: number;
      /** Final failures of this job by code. */
      errorCodes: Record<string, number>;
      /** failures-retry: the codes these rows had before (rows now final: recovered or failed again). */
      supersededCodes?: Record<string, number>;
      /** A few failed rows per code, for people. */
      samples?: Array<{ code: string; key: KeyValue | null; message: string }>;
      /** Id of this result's group of lines in failures.ndjson. */
      batch: string;
      errorMessage?: string;
      /** Bulk API HTTP calls spent on this job (create, upload, close, polls, results). */
      apiCalls: number;
      /** Seconds from create to result (engine clock). */
      seconds: number;
      orgProcessingMs?: number;
      retries?: number;
    };

export type FailureRecord =
  | {
      status: 'failed';
      /** `${seq}.${n}`: this failure's id. */
      fid: string;
      batch: string;
      at: string;
      seq: number;
      partition: number;
      /** The key as uploaded (null when the source had none). */
      key: KeyValue | null;
      parent?: KeyValue | null;
      code: string;
      message: string;
      fields: string[];
      attempts: number;
      transient: boolean;
      /** retry-failures may send it again. */
      retryable: boolean;
      /** The failure (fid) this one replaces (retry-failures sent the row again and it failed again). */
      supersedes?: string;
      jobId?: string;
      /** The row as uploaded (field → value; null is sent as #N/A), or as read when it was never uploaded. */
      row: Record<string, string | null>;
    }
  | { status: 'loaded'; batch: string; at: string; seq: number; fid: string; key: KeyValue | null; jobId: string };

export type EventRecord = {
  at: string;
  level: 'info' | 'warn' | 'error';
  type: string;
  message: string;
  partition?: number;
  seq?: number;
  jobId?: string;
  data?: Record<string, unknown>;
};

export type CancelRequest = { at: string; by: { pid: number; host: string }; abortJobs: boolean };
