/*
 * The JSON shapes of a run directory (schema version 1). These files are the interface
 * between `start`/`resume`/`retry-failures` (writers) and `status`/`report` (readers):
 *
 *   <runs root>/<runId>/
 *     run.json              RunManifest: definition, plan, state (atomic rewrite)
 *     heartbeat.json        Heartbeat: the live runner's pid, host and time (atomic rewrite)
 *     partitions/p-<i>.json PartitionCheckpoint per partition (atomic rewrite)
 *     jobs.ndjson           JobLogRecord, append-only: the source of truth for counts
 *     failures.ndjson       FailureRecord, append-only: last record per key wins
 *     events.ndjson         EventRecord, append-only: what happened, for people
 *     jobs/<seq>.ndjson     the rows of a planned job until its result is recorded
 *     cancel.json           present when `cancel` asked the runner to stop
 *
 * No file holds an access token or anything else that grants access to the org.
 */

export const RUN_SCHEMA_VERSION = 1;

export type KeyValue = string | number;
/** A cursor over the ordered key columns (parent, key) or (key). */
export type KeyTuple = KeyValue[];

export type RunState = 'planned' | 'running' | 'stopping' | 'stopped' | 'completed' | 'failed' | 'cancelled';

export type PacingSettings = {
  profile: string;
  /** adaptive: parent-aware partitions, AIMD concurrency; fixed: the seed's paced, staggered chains. */
  strategy: 'adaptive' | 'fixed';
  /** How partitions are cut: by parent value (children of one parent never span two) or by key range. */
  partitionBy: 'parent' | 'key';
  /** Rows per Bulk job, or auto: min(10,000, rows / maxConcurrency), resolved by the plan. */
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
};

export type RunManifest = {
  schemaVersion: number;
  runId: string;
  kind: 'load';
  createdAt: string;
  updatedAt: string;
  state: RunState;
  org: { username?: string; orgId?: string; instanceUrl?: string; apiVersion: string };
  definitionFile?: string;
  definition: LoadDefinition;
  plan: LoadPlan;
  /** Each start, resume or retry-failures session. */
  sessions: Array<{ command: 'start' | 'resume' | 'retry-failures'; startedAt: string; endedAt?: string; outcome?: RunState }>;
  endedAt?: string;
  error?: { name: string; message: string };
};

export type Heartbeat = { pid: number; host: string; at: string; command: string };

export type PartitionCheckpoint = {
  schemaVersion: number;
  index: number;
  state: 'pending' | 'running' | 'done' | 'failed';
  /** The last key tuple handed to a planned job (its rows are on disk). */
  after: KeyTuple | null;
  /** Source rows read so far (first pass only). */
  readRows: number;
  /** The source has no more rows for this partition. */
  exhausted: boolean;
  startedAt?: string;
  endedAt?: string;
  updatedAt: string;
};

/** One row of a planned job (stored in jobs/<seq>.ndjson until the job's result is recorded). */
export type JobRow = {
  key: KeyValue;
  parent?: KeyValue;
  /** 1 on the first pass, n on the n-th attempt. */
  attempt: number;
  /** Target field → value, already converted for the Bulk CSV (null clears: #N/A). */
  values: Record<string, string | null>;
  /** For rows retried by retry-failures: the error they had. */
  lastError?: { code: string; message: string };
};

export type JobKind = 'load' | 'failures-retry';

/**
 * The job log. `seq` is the run's own job number; one seq may see several org jobs
 * (e.g. an Open job aborted on resume and created again), but only one `result`.
 */
export type JobLogRecord =
  | {
      t: 'planned';
      at: string;
      seq: number;
      kind: JobKind;
      partition: number;
      rows: number;
      /** Rows of this job read fresh from the source (first pass), and the cursor after them. */
      freshRows: number;
      lastKey?: KeyTuple;
      /** Rows that are retries (attempt > 1). */
      retryRows: number;
      /** For retry jobs: the seq whose results produced them. */
      retryOf?: number;
      notBefore?: string;
    }
  | { t: 'created'; at: string; seq: number; jobId: string }
  | { t: 'uploaded'; at: string; seq: number; jobId: string; bytes: number }
  | { t: 'closed'; at: string; seq: number; jobId: string }
  | { t: 'aborted'; at: string; seq: number; jobId: string; reason: string }
  | {
      t: 'result';
      at: string;
      seq: number;
      jobId: string;
      kind: JobKind;
      partition: number;
      state: 'JobComplete' | 'Failed' | 'Aborted' | 'LocalReject';
      rows: number;
      /** Rows the org saved. */
      succeeded: number;
      created: number;
      updated: number;
      /** Rows that failed for good (permanent error, or transient with attempts exhausted). */
      failedFinal: number;
      /** Rows sent again in a later job (transient error or unprocessed). */
      requeued: number;
      /** Of the rows, how many failed with a transient error (before requeue decisions). */
      transientErrors: number;
      /** failures-retry jobs: previously failed rows that now succeeded. */
      recovered: number;
      errorMessage?: string;
      /** Bulk API HTTP calls spent on this job (create, upload, close, polls, results). */
      apiCalls: number;
      /** Wall seconds from create to result. */
      seconds: number;
      /** Job timing from the org's job info, ms, when reported. */
      orgProcessingMs?: number;
      retries?: number;
      /** Error codes of the failed rows of this job, with counts. */
      errorCodes: Record<string, number>;
    };

export type FailureRecord =
  | {
      status: 'failed';
      at: string;
      key: KeyValue;
      parent?: KeyValue;
      partition: number;
      seq: number;
      jobId?: string;
      code: string;
      message: string;
      fields: string[];
      attempts: number;
      transient: boolean;
      /** The full row as sent (target field → value). */
      row: Record<string, string | null>;
    }
  | { status: 'loaded'; at: string; key: KeyValue; seq: number; jobId: string };

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
