/*
 * Every switch of the emulator in one place. Each module reads its own section;
 * tests change it at run time with `emulator.configure(patch)` or POST /__emulator/config.
 * In a patch, objects merge key by key, arrays and tables are replaced whole, and `null`
 * puts a switch back to its default (or removes an optional one).
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
  /**
   * Served by describe on every field (default false). For an External ID text field it is
   * the matching rule of upserts and relationship references: false (Salesforce's default
   * for external ids) matches `ACME-1` and `acme-1` as one record.
   */
  caseSensitive?: boolean;
};

export type SObjectDef = { name: string; label?: string; fields: FieldDef[] };

/** Data Cloud column types as the query APIs name them. */
export type DcType = 'Varchar' | 'Numeric' | 'Double' | 'Integer' | 'BigInt' | 'Bool' | 'Date' | 'Timestamp' | 'TimestampTZ';

export type DcColumn = { name: string; type: DcType };

/**
 * A Data Cloud table. `rows` as objects is the simple form for tests; big generated tables
 * are `ColumnarTable`s (datacloud/table.ts) that keep columns and build row objects only
 * when `rows` is read. A numeric cell may be a decimal string (e.g. beyond 2^53): it goes
 * on the wire as a JSON number with every digit.
 */
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

/**
 * An HTTP-level fault for matching requests (method, path regex). With only a match it
 * answers 503; `status` picks the answer; `drop` destroys the socket; `delayMs` waits first
 * (alone, it only delays the normal answer).
 */
export type HttpFault = {
  method?: string;
  /** Regular expression tested against the collapsed path. */
  path?: string;
  status?: number;
  errorCode?: string;
  message?: string;
  /**
   * Destroy the socket instead of answering. `true`/'before': before the request has any
   * effect. 'after': the request is processed fully (the upload stored, the state changed),
   * then the socket is destroyed instead of sending the answer.
   */
  drop?: boolean | 'before' | 'after';
  /** Wall milliseconds to wait before handling the request (then fault or answer). */
  delayMs?: number;
  /** Let the first n matching requests through untouched (they do not count for `times`). */
  skip?: number;
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
    /** After this many authenticated calls, every call answers 401 INVALID_SESSION_ID (null: never). */
    sessionExpiresAfter?: number;
  };
  /** Entries kept in the request log (`emu.requests`); past it the oldest half is dropped. */
  requestLogLimit: number;
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
    /** query-sql results stay readable this many WALL seconds (not virtual: fast time scales must not expire them). */
    queryExpiryWallSeconds: number;
    /** queryv2 cursors stay readable this many wall seconds ("within one hour"). */
    queryv2ExpiryWallSeconds: number;
    /** Finished query-sql results kept at most (oldest dropped first → 404). */
    maxRetainedQueries: number;
    /** New query-sql queries stay Running (no rows) while true; false releases them. */
    holdQueries: boolean;
    /** DELETE of an unknown or already deleted query: 404 NOT_FOUND, or 204 (idempotent, as the v3 API documents). */
    deleteUnknownQuery: 404 | 204;
  };
  bulk: {
    lock: LockModelConfig;
    rowRules: RowRule[];
    jobFailures: JobFailureRule[];
    /** Max upload bytes per job (150 MB base64 ≈ 100 MB CSV). */
    maxUploadBytes: number;
    /** Closed jobs stay UploadComplete (never picked up) while true; false lets them run. */
    hold: boolean;
    /** Only the first n closed jobs are picked up; later ones hold until this is raised or null. */
    holdAfterJobs?: number;
    /** Records per page of GET /jobs/ingest (then nextRecordsUrl). */
    listPageSize: number;
    /**
     * A relationship reference (`Account.External_ID__c`) to a parent not in the store:
     * 'accept' (the row loads, no parent id), or 'fail' with INVALID_FIELD as Salesforce does.
     */
    missingParent: 'accept' | 'fail';
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
    requestLogLimit: 100_000,
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
      queryExpiryWallSeconds: 3600,
      queryv2ExpiryWallSeconds: 3600,
      maxRetainedQueries: 500,
      holdQueries: false,
      deleteUnknownQuery: 404,
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
      hold: false,
      listPageSize: 1000,
      missingParent: 'accept',
    },
    faults: [],
  };
}

type DeepPartial<T> = T extends Array<infer _U> ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> | null } : T;
export type ConfigPatch = DeepPartial<EmulatorConfig>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Merge a patch into the config in place. Plain objects merge key by key; arrays and class
 * instances (a ColumnarTable) are replaced whole; tables under `dataCloud.tables` are replaced
 * whole; `undefined` is skipped; `null` restores the default from `defaults` (or deletes the
 * key when the default has none).
 */
export function applyPatch(target: Record<string, unknown>, patch: Record<string, unknown>, defaults: Record<string, unknown> | undefined = defaultConfig(), path = ''): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const here = path ? `${path}.${k}` : k;
    const def = defaults && isPlainObject(defaults) ? defaults[k] : undefined;
    if (v === null) {
      if (def === undefined) delete target[k];
      else target[k] = structuredClone(def);
      continue;
    }
    const cur = target[k];
    if (isPlainObject(v) && isPlainObject(cur) && path !== 'dataCloud.tables') {
      applyPatch(cur, v, isPlainObject(def) ? def : undefined, here);
    } else {
      target[k] = v;
    }
  }
}
