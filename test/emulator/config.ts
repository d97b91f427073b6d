/*
 * Every switch of the emulator in one place. Each module reads its own section;
 * tests change it at run time with `emulator.configure(patch)` or POST /__emulator/config.
 */

/** A field of an sObject as served by describe. */
export type FieldDef = {
  name: string;
  type: 'id' | 'string' | 'textarea' | 'double' | 'currency' | 'int' | 'percent' | 'date' | 'datetime' | 'boolean' | 'picklist' | 'reference' | 'email' | 'phone' | 'url';
  label?: string;
  externalId?: boolean;
  idLookup?: boolean;
  unique?: boolean;
  nillable?: boolean;
  createable?: boolean;
  updateable?: boolean;
  length?: number;
  referenceTo?: string[];
  relationshipName?: string;
};

export type SObjectDef = { name: string; label?: string; fields: FieldDef[] };

/** Data Cloud column types as the query APIs name them. */
export type DcType = 'Varchar' | 'Numeric' | 'Double' | 'Integer' | 'BigInt' | 'Bool' | 'Date' | 'Timestamp' | 'TimestampTZ';

export type DcColumn = { name: string; type: DcType };

export type DcTable = { name: string; columns: DcColumn[]; rows: Array<Record<string, string | number | boolean | null>> };

/** Parameters of the lock model (lock-model.md §7.3). Durations in virtual seconds. */
export type LockModelConfig = {
  enabled: boolean;
  /** Records per transaction. */
  chunkSize: number;
  /** Records per internal batch. */
  batchSize: number;
  /** Parallel workers (concurrent internal batches) for the org. */
  workers: number;
  /** Max lock wait before UNABLE_TO_LOCK_ROW. */
  lockTimeout: number;
  /** Hold time of a chunk: h0 + h1*records + h2*distinctParents, times lognormal(0, sigma). */
  h0: number;
  h1: number;
  h2: number;
  sigma: number;
  /** Queue-to-start latency per batch attempt. */
  pickup: number;
  /** Lock-failed records in one attempt after which the rest of the batch is requeued. */
  requeueThreshold: number;
  /** Attempts before a batch, and its job, fail. */
  maxBatchAttempts: number;
  /** Time limit of one batch attempt. */
  batchTimeLimit: number;
  /** What fails on a lock timeout: the whole chunk, or only rows of the timed-out parents. */
  failScope: 'chunk' | 'parent';
  /**
   * Columns of the uploaded CSV whose values are parents to lock. Default: every
   * relationship column (`Account.External_ID__c`) and every reference field (AccountId).
   */
  parentColumns?: string[];
  /**
   * Other org traffic (bulk/lock-contention.ts): foreign transactions, `rate` per virtual
   * second, each locking one parent value picked uniformly from `keys` for `hold` virtual
   * seconds × lognormal(0, sigma). Holds longer than lockTimeout give transient
   * UNABLE_TO_LOCK_ROW to rows of any job. Off when absent or rate is 0.
   */
  background?: { rate: number; hold: number; sigma?: number; keys: string[] };
  /**
   * A trigger that locks each parent's parent (an Account hierarchy) for the whole chunk
   * (bulk/lock-contention.ts): `parentOf` maps parent values to theirs, or `share` of the
   * parents (by a hash of the value) belong to one of `groups` grandparents named
   * `${prefix}${n}`. Off when absent.
   */
  hierarchy?: { parentOf?: Record<string, string>; share?: number; groups?: number; prefix?: string };
};

/** A row-level rule that rejects rows (a validation rule, a duplicate, a bad reference). */
export type RowRule = {
  name: string;
  object?: string;
  /** sf__Error code, e.g. FIELD_CUSTOM_VALIDATION_EXCEPTION. */
  code: string;
  message: string;
  fields?: string[];
  /** Reject this fraction of rows, chosen deterministically by a hash of the external id. */
  rate?: number;
  /**
   * Draw afresh for every write attempt (a transient error such as UNABLE_TO_LOCK_ROW from
   * other org traffic) instead of always picking the same rows by hash.
   */
  perAttempt?: boolean;
  /** Reject rows whose `field` matches this regular expression. */
  match?: { field: string; regex: string };
};

/** A job-level failure: the job goes to Failed with this errorMessage. */
export type JobFailureRule = {
  object?: string;
  /** Fraction of jobs (deterministic by job sequence) or explicit job sequence numbers (1-based). */
  rate?: number;
  jobNumbers?: number[];
  errorMessage: string;
};

/** An HTTP-level fault: answer `status` (or drop the connection) for matching requests. */
export type HttpFault = {
  method?: string;
  /** Regular expression tested against the collapsed path. */
  path?: string;
  status?: number;
  errorCode?: string;
  message?: string;
  /** Destroy the socket instead of answering. */
  drop?: boolean;
  /** Probability per matching request (default 1). */
  rate?: number;
  /** Fire at most this many times. */
  times?: number;
};

export type EmulatorConfig = {
  seed: number;
  /** Virtual seconds per wall second. */
  timeScale: number;
  auth: {
    token: string;
    orgId: string;
    userId: string;
    username: string;
    /** After this many authenticated calls, every call answers 401 INVALID_SESSION_ID. */
    sessionExpiresAfter?: number;
  };
  apiVersions: string[];
  sobjects: Record<string, SObjectDef>;
  dataCloud: {
    provisioned: boolean;
    tables: Record<string, DcTable>;
    /** Cap on rowLimit for /rows and inline results. */
    maxRowLimit: number;
    /** Probability that a page comes back shorter than asked (never empty before the end). */
    shortPageRate: number;
    /** POST answers `Running` with no rows this many status polls before ResultsProduced. */
    runningPolls: number;
    /** Shape of GET /ssot/query-sql/{id}: status at top level or under `status`. */
    statusShape: 'top' | 'nested';
    /** /ssot/queryv2 rows as plain arrays or as {rowData: [...]}. */
    queryv2RowShape: 'array' | 'rowData';
    /** Base of placeInOrder in /ssot/queryv2 metadata. */
    placeInOrderBase: 0 | 1;
    /** Rows per /ssot/queryv2 batch. */
    queryv2BatchRows: number;
    /** Turn off /ssot/query-sql (404) to exercise the queryv2 fallback. */
    querySqlEnabled: boolean;
    /** Max concurrent queries before 429. */
    maxConcurrentQueries: number;
  };
  bulk: {
    lock: LockModelConfig;
    rowRules: RowRule[];
    jobFailures: JobFailureRule[];
    /** Max upload bytes per job (150 MB base64 ≈ 100 MB CSV). */
    maxUploadBytes: number;
  };
  faults: HttpFault[];
};

export function defaultConfig(): EmulatorConfig {
  return {
    seed: 42,
    timeScale: 1,
    auth: {
      token: '00D000000000001AAA!emulator.token',
      orgId: '00D000000000001AAA',
      userId: '005000000000001AAA',
      username: 'emulator@example.com',
    },
    apiVersions: ['62.0', '63.0', '64.0'],
    sobjects: {},
    dataCloud: {
      provisioned: true,
      tables: {},
      maxRowLimit: 50_000,
      shortPageRate: 0,
      runningPolls: 0,
      statusShape: 'top',
      queryv2RowShape: 'rowData',
      placeInOrderBase: 1,
      queryv2BatchRows: 4_000,
      querySqlEnabled: true,
      maxConcurrentQueries: 15,
    },
    bulk: {
      lock: {
        enabled: true,
        chunkSize: 200,
        batchSize: 10_000,
        workers: 30,
        lockTimeout: 10,
        h0: 0.5,
        h1: 0.006,
        h2: 0.002,
        sigma: 0.2,
        pickup: 1,
        requeueThreshold: 100,
        maxBatchAttempts: 10,
        batchTimeLimit: 600,
        failScope: 'chunk',
      },
      rowRules: [],
      jobFailures: [],
      maxUploadBytes: 100 * 1024 * 1024,
    },
    faults: [],
  };
}

type DeepPartial<T> = T extends Array<infer _U> ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type ConfigPatch = DeepPartial<EmulatorConfig>;

/** Merge a patch into the config in place. Arrays are replaced whole; objects are merged key by key. */
export function applyPatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const cur = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      applyPatch(cur as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      target[k] = v;
    }
  }
}
