/*
 * Bulk API 2.0 ingest engine of the emulator: the job state machine of salesforce-api.md
 * §2 (Open → UploadComplete → InProgress → JobComplete | Failed | Aborted), upload
 * validation, result CSVs, and the parent-record lock model (lock-model.ts) driven on
 * the emulator's virtual clock.
 *
 * The simulation is lazy: every bulk request, and a timer armed for the next event,
 * advances it to clock.now(). Outcomes come from event times, never from sleeps.
 */
import type { FieldDef, SObjectDef } from '../config.js';
import { sfTimestamp } from '../clock.js';
import { HttpError } from '../http.js';
import { findSObject } from '../org.js';
import { hashUnit, Rng } from '../random.js';
import type { Emulator } from '../server.js';
import { COLUMN_DELIMITERS, lineEndingMatches, parseCsv, writeResultCsv, type ColumnDelimiter, type LineEnding, type ParsedCsv } from './csv.js';
import { LockSimulator, ROW_LOCK_FAILED, ROW_OK, ROW_REJECTED, ROW_UNPROCESSED, type SimJob, type SimJobInput, type SimSummary } from './lock-model.js';

export const OPERATIONS = ['insert', 'update', 'upsert', 'delete', 'hardDelete'] as const;
export type IngestOperation = (typeof OPERATIONS)[number];
export type JobState = 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
export type ResultKind = 'successfulResults' | 'failedResults' | 'unprocessedrecords';

const CREATE_KEYS = new Set(['object', 'operation', 'externalIdFieldName', 'contentType', 'lineEnding', 'columnDelimiter', 'assignmentRuleId']);

type IngestJob = {
  id: string;
  seq: number;
  object: string;
  operation: IngestOperation;
  externalIdFieldName?: string;
  assignmentRuleId?: string;
  lineEnding: LineEnding;
  columnDelimiter: ColumnDelimiter;
  apiVersion: string;
  /** State before the simulator owns the job (Open, UploadComplete) or after a validation failure / early abort. */
  state: JobState;
  createdAt: number;
  modstamp: number;
  uploaded: boolean;
  data?: Buffer;
  uploadedBytes: number;
  uploadCompleteAt?: number;
  failedAt?: number;
  errorMessage?: string;
  parsed?: ParsedCsv;
  extIdx: number;
  idIdx: number;
  sim?: SimJob;
  /** Per row: record id (successes, and failures on existing records). */
  sfId: Array<string | undefined>;
  created?: Uint8Array;
  deleted: boolean;
};

/** One job as benchmarks and tests read it (virtual epoch ms; null when not reached). */
export type JobRecord = {
  id: string;
  seq: number;
  object: string;
  operation: IngestOperation;
  state: JobState;
  deleted: boolean;
  rows: number;
  createdAt: number;
  uploadCompleteAt: number | null;
  firstPickupAt: number | null;
  completedAt: number | null;
  /** completedAt − uploadCompleteAt, virtual ms. */
  durationMs: number | null;
  internalBatches: number;
  batchAttempts: number;
  chunks: number;
  lockFailedChunks: number;
  /** Rows failed with UNABLE_TO_LOCK_ROW. */
  lockFailures: number;
  retries: number;
  succeeded: number;
  failed: number;
  unprocessed: number;
  processed: number;
  /** Worker occupation of this job's batch attempts, virtual ms. */
  busyMs: number;
  /** Time inside chunks (lock waits + holds), virtual ms. */
  activeMs: number;
  errorMessage: string | null;
};

export type BulkSummary = SimSummary & { scale: number };

export class BulkService {
  private readonly jobs = new Map<string, IngestJob>();
  private readonly order: IngestJob[] = [];
  private readonly bySim = new WeakMap<SimJob, IngestJob>();
  /** Record id → store key, per object (lower-case), for update/delete. */
  private readonly idIndex = new Map<string, Map<string, string>>();
  private readonly sim: LockSimulator;
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  public constructor(private readonly emu: Emulator) {
    this.sim = new LockSimulator(() => this.emu.config.bulk.lock, emu.config.seed, {
      onRowsCommitted: (sj, from, to, at) => this.applyRows(sj, from, to, at),
      onJobStarted: (sj, at) => this.touch(sj, at),
      onJobFinished: (sj, at) => this.touch(sj, at),
    });
  }

  public stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  // ---- simulation driving ----

  /** Advance the simulation to the virtual now and re-arm the timer. */
  public pump(): void {
    this.sim.advanceTo(this.emu.clock.now());
    this.arm();
  }

  /** True while any job is queued or running (or has a pending validation). */
  public get busy(): boolean {
    return this.sim.pendingEvents > 0;
  }

  /** Resolves when nothing is left to simulate (every submitted job is terminal). */
  public whenIdle(): Promise<void> {
    this.pump();
    if (!this.busy || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.sim.nextEventTime();
    if (next === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const scale = this.emu.clock.scale;
    const delay = scale > 0 ? Math.min(50, Math.max(1, Math.ceil(this.emu.clock.wallDelayUntil(next)))) : 50;
    const at = Date.now() + delay;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, delay);
    this.timer.unref();
  }

  // ---- HTTP-level operations (throw HttpError) ----

  public createJob(body: unknown, apiVersion: string): Record<string, unknown> {
    this.pump();
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'JSON_PARSER_ERROR', 'The request body must be a JSON object.');
    const b = body as Record<string, unknown>;
    if ('concurrencyMode' in b) throw new HttpError(400, 'INVALIDJOB', "Property currently unsupported: 'concurrencyMode'");
    for (const k of Object.keys(b)) {
      if (!CREATE_KEYS.has(k)) throw new HttpError(400, 'JSON_PARSER_ERROR', `Unrecognized field "${k}" at [line:1, column:1]`);
    }
    const str = (k: string): string | undefined => {
      const v = b[k];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string') throw new HttpError(400, 'INVALIDJOB', `Invalid value for '${k}': ${JSON.stringify(v)}`);
      return v;
    };
    const objectName = str('object');
    const operation = str('operation');
    if (!objectName) throw new HttpError(400, 'INVALIDJOB', 'InvalidJob : Object is required');
    if (!operation) throw new HttpError(400, 'INVALIDJOB', 'InvalidJob : Operation is required');
    if (!(OPERATIONS as readonly string[]).includes(operation)) throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Invalid operation: ${operation}`);
    const def = findSObject(this.emu, objectName);
    if (!def) throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Unable to find object: ${objectName}`);
    const contentType = str('contentType') ?? 'CSV';
    if (contentType !== 'CSV') throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Unsupported content type: ${contentType}`);
    const lineEnding = str('lineEnding') ?? 'LF';
    if (lineEnding !== 'LF' && lineEnding !== 'CRLF') throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Invalid line ending: ${lineEnding}. Valid values are LF and CRLF`);
    const columnDelimiter = str('columnDelimiter') ?? 'COMMA';
    if (!(columnDelimiter in COLUMN_DELIMITERS)) {
      throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Invalid column delimiter: ${columnDelimiter}. Valid values are ${Object.keys(COLUMN_DELIMITERS).join(', ')}`);
    }
    let externalIdFieldName = str('externalIdFieldName');
    if (operation === 'upsert') {
      if (!externalIdFieldName) throw new HttpError(400, 'INVALIDJOB', 'InvalidJob : External ID field name is required for upsert');
      const f = fieldOf(def, externalIdFieldName);
      if (!f || !(f.externalId === true || f.idLookup === true || f.type === 'id')) {
        throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Field name provided, ${externalIdFieldName} does not match an External ID, Salesforce Id, or indexed field for ${def.name}`);
      }
      externalIdFieldName = f.name;
    }
    const now = this.emu.clock.now();
    const seq = ++this.seq;
    const job: IngestJob = {
      id: `750EM${String(seq).padStart(10, '0')}AAA`,
      seq,
      object: def.name,
      operation: operation as IngestOperation,
      externalIdFieldName: operation === 'upsert' ? externalIdFieldName : undefined,
      assignmentRuleId: str('assignmentRuleId'),
      lineEnding,
      columnDelimiter: columnDelimiter as ColumnDelimiter,
      apiVersion,
      state: 'Open',
      createdAt: now,
      modstamp: now,
      uploaded: false,
      uploadedBytes: 0,
      extIdx: -1,
      idIdx: -1,
      sfId: [],
      deleted: false,
    };
    this.jobs.set(job.id, job);
    this.order.push(job);
    return this.baseInfo(job);
  }

  /** PUT .../batches: exactly one upload per Open job. */
  public upload(id: string, data: Buffer): void {
    this.pump();
    const job = this.get(id);
    if (job.uploaded) {
      throw new HttpError(
        400,
        'INVALIDJOBSTATE',
        `Found multiple contents for job: <${job.id}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.`
      );
    }
    if (this.stateOf(job) !== 'Open') throw new HttpError(400, 'INVALIDJOBSTATE', `Job is not in Open state: ${this.stateOf(job)}`);
    job.uploaded = true;
    job.data = data;
    job.uploadedBytes = data.length;
    job.modstamp = this.emu.clock.now();
  }

  public patchState(id: string, body: unknown): Record<string, unknown> {
    this.pump();
    const job = this.get(id);
    const target = body && typeof body === 'object' ? (body as { state?: unknown }).state : undefined;
    const current = this.stateOf(job);
    const now = this.emu.clock.now();
    if (target === 'UploadComplete') {
      if (current !== 'Open') throw new HttpError(400, 'INVALIDJOBSTATE', `Invalid state transition from ${current} to UploadComplete`);
      this.closeJob(job, now);
      return this.baseInfo(job);
    }
    if (target === 'Aborted') {
      if (current !== 'Open' && current !== 'UploadComplete' && current !== 'InProgress') {
        throw new HttpError(400, 'INVALIDJOBSTATE', `Invalid state transition from ${current} to Aborted`);
      }
      if (job.sim) this.sim.abort(job.sim, now);
      else {
        job.state = 'Aborted';
        job.failedAt = now;
        this.ensureParsed(job);
      }
      job.modstamp = now;
      this.arm();
      return this.baseInfo(job);
    }
    throw new HttpError(400, 'INVALIDJOBSTATE', `Invalid state transition from ${current} to ${String(target)}`);
  }

  public info(id: string): Record<string, unknown> {
    this.pump();
    return this.fullInfo(this.get(id));
  }

  public list(): Record<string, unknown> {
    this.pump();
    return {
      done: true,
      records: this.order.filter((j) => !j.deleted).map((j) => ({ ...this.baseInfo(j), jobType: 'V2Ingest' })),
      nextRecordsUrl: null,
    };
  }

  public deleteJob(id: string): void {
    this.pump();
    const job = this.get(id);
    const state = this.stateOf(job);
    if (state === 'Open' || state === 'InProgress') throw new HttpError(400, 'INVALIDJOBSTATE', `Job can't be deleted in state ${state}`);
    if (state === 'UploadComplete') {
      if (job.sim) this.sim.abort(job.sim, this.emu.clock.now());
      else {
        job.state = 'Aborted';
        job.failedAt = this.emu.clock.now();
      }
    }
    job.deleted = true;
    job.data = undefined;
    job.parsed = undefined;
    job.sfId = [];
    this.jobs.delete(job.id);
    this.arm();
  }

  public results(id: string, kind: ResultKind): string {
    this.pump();
    const job = this.get(id);
    const state = this.stateOf(job);
    if (state !== 'JobComplete' && state !== 'Failed' && state !== 'Aborted') {
      throw new HttpError(400, 'INVALIDJOBSTATE', `Results are not available for a job in state ${state}`);
    }
    const parsed = job.parsed ?? this.ensureParsed(job);
    const header = parsed?.header ?? [];
    const rows = parsed?.rows ?? [];
    const sim = job.sim;
    const pick = (want: (r: number) => boolean): number[] => {
      const idx: number[] = [];
      for (let r = 0; r < rows.length; r++) if (want(r)) idx.push(r);
      return new Rng((this.emu.config.seed ^ Math.imul(job.seq, 0x9e3779b1)) >>> 0).shuffle(idx);
    };
    if (kind === 'successfulResults') {
      const idx = sim ? pick((r) => sim.outcome[r] === ROW_OK) : [];
      return writeResultCsv(job.columnDelimiter, ['sf__Id', 'sf__Created'], header, mapRows(idx, (r) => [job.sfId[r] ?? '', job.created?.[r] ? 'true' : 'false', ...rows[r]]));
    }
    if (kind === 'failedResults') {
      const idx = sim ? pick((r) => sim.outcome[r] === ROW_REJECTED || sim.outcome[r] === ROW_LOCK_FAILED) : [];
      return writeResultCsv(job.columnDelimiter, ['sf__Id', 'sf__Error'], header, mapRows(idx, (r) => [job.sfId[r] ?? '', sim!.input.errors[sim!.errorOf[r]] ?? '', ...rows[r]]));
    }
    if (!parsed && job.data) return job.data.toString('utf8'); // never parsed (bad CSV): hand back what was uploaded
    const idx = sim ? pick((r) => sim.outcome[r] === ROW_UNPROCESSED) : state === 'JobComplete' ? [] : pick(() => true);
    return writeResultCsv(job.columnDelimiter, [], header, mapRows(idx, (r) => rows[r]));
  }

  // ---- inspection ----

  /** Every job ever created (deleted ones too), in creation order. */
  public inspectJobs(): JobRecord[] {
    this.pump();
    return this.order.map((j) => this.record(j));
  }

  public inspectJob(id: string): JobRecord | undefined {
    this.pump();
    const j = this.order.find((x) => x.id === id);
    return j ? this.record(j) : undefined;
  }

  /** Org-wide simulation counters (internal batches, busy worker seconds, span, physical limit). */
  public summary(): BulkSummary {
    this.pump();
    return { ...this.sim.summary(), scale: this.emu.clock.scale };
  }

  // ---- internals ----

  private get(id: string): IngestJob {
    const job = this.jobs.get(id);
    if (!job) throw new HttpError(404, 'NOT_FOUND', 'The requested resource does not exist');
    return job;
  }

  private stateOf(job: IngestJob): JobState {
    if (job.sim) return job.sim.state === 'Queued' ? 'UploadComplete' : job.sim.state;
    return job.state;
  }

  private touch(sj: SimJob, at: number): void {
    const job = this.bySim.get(sj);
    if (job) job.modstamp = Math.max(job.modstamp, at);
  }

  private record(j: IngestJob): JobRecord {
    const s = j.sim;
    const completedAt = s?.completedAt ?? j.failedAt ?? null;
    return {
      id: j.id,
      seq: j.seq,
      object: j.object,
      operation: j.operation,
      state: this.stateOf(j),
      deleted: j.deleted,
      rows: s?.input.rowCount ?? j.parsed?.rows.length ?? 0,
      createdAt: j.createdAt,
      uploadCompleteAt: j.uploadCompleteAt ?? null,
      firstPickupAt: s?.firstPickupAt ?? null,
      completedAt,
      durationMs: completedAt !== null && j.uploadCompleteAt !== undefined ? completedAt - j.uploadCompleteAt : null,
      internalBatches: s?.stats.internalBatches ?? 0,
      batchAttempts: s?.stats.batchAttempts ?? 0,
      chunks: s?.stats.chunks ?? 0,
      lockFailedChunks: s?.stats.lockFailedChunks ?? 0,
      lockFailures: s?.stats.lockFailedRows ?? 0,
      retries: s?.stats.retries ?? 0,
      succeeded: s?.stats.succeeded ?? 0,
      failed: s?.stats.failed ?? 0,
      unprocessed: s?.stats.unprocessed ?? (this.stateOf(j) === 'Failed' || this.stateOf(j) === 'Aborted' ? j.parsed?.rows.length ?? 0 : 0),
      processed: s?.processed ?? 0,
      busyMs: s?.stats.busyMs ?? 0,
      activeMs: s?.stats.activeMs ?? 0,
      errorMessage: this.errorMessage(j) ?? null,
    };
  }

  private errorMessage(job: IngestJob): string | undefined {
    if (job.sim?.state === 'Failed') return job.sim.failReason;
    return job.state === 'Failed' ? job.errorMessage : undefined;
  }

  private baseInfo(job: IngestJob): Record<string, unknown> {
    const v = job.apiVersion;
    return {
      id: job.id,
      operation: job.operation,
      object: job.object,
      createdById: this.emu.config.auth.userId,
      createdDate: sfTimestamp(job.createdAt),
      systemModstamp: sfTimestamp(job.modstamp),
      state: this.stateOf(job),
      ...(job.externalIdFieldName ? { externalIdFieldName: job.externalIdFieldName } : {}),
      ...(job.assignmentRuleId ? { assignmentRuleId: job.assignmentRuleId } : {}),
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(v),
      contentUrl: `services/data/v${v}/jobs/ingest/${job.id}/batches`,
      lineEnding: job.lineEnding,
      columnDelimiter: job.columnDelimiter,
    };
  }

  private fullInfo(job: IngestJob): Record<string, unknown> {
    const s = job.sim;
    const now = this.emu.clock.now();
    const start = s?.firstPickupAt;
    const end = s?.completedAt ?? now;
    const err = this.errorMessage(job);
    return {
      ...this.baseInfo(job),
      jobType: 'V2Ingest',
      numberRecordsProcessed: s?.processed ?? 0,
      numberRecordsFailed: s?.stats.failed ?? 0,
      retries: s?.stats.retries ?? 0,
      totalProcessingTime: start !== undefined ? Math.round(end - start) : 0,
      apiActiveProcessingTime: Math.round(s?.stats.activeMs ?? 0),
      apexProcessingTime: 0,
      ...(err !== undefined ? { errorMessage: err } : {}),
    };
  }

  private ensureParsed(job: IngestJob): ParsedCsv | undefined {
    if (job.parsed || !job.data) return job.parsed;
    try {
      job.parsed = parseCsv(job.data.toString('utf8'), job.columnDelimiter);
    } catch {
      return undefined;
    }
    return job.parsed;
  }

  /** PATCH UploadComplete: validate, then hand the rows to the lock model (or fail the job after pickup). */
  private closeJob(job: IngestJob, now: number): void {
    job.state = 'UploadComplete';
    job.uploadCompleteAt = now;
    job.modstamp = now;
    const lock = this.emu.config.bulk.lock;
    const failLater = (message: string): void => {
      this.sim.schedule(now + lock.pickup * 1000, () => {
        if (job.state !== 'UploadComplete') return;
        job.state = 'Failed';
        job.errorMessage = message;
        job.failedAt = this.sim.now;
        job.modstamp = this.sim.now;
      });
      this.arm();
    };
    const def = findSObject(this.emu, job.object)!;
    const text = job.data ? job.data.toString('utf8') : '';
    if (text.trim() === '') return failLater('ClientInputError : No data was uploaded for the job. Upload the job data before closing the job.');
    if (!lineEndingMatches(text, job.lineEnding)) {
      return failLater(`ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is ${job.lineEnding}`);
    }
    let parsed: ParsedCsv;
    try {
      parsed = parseCsv(text, job.columnDelimiter);
    } catch (err) {
      return failLater(`ClientInputError : Failed to parse the CSV data: ${err instanceof Error ? err.message : String(err)}`);
    }
    job.parsed = parsed;
    job.data = undefined;
    const { header, rows } = parsed;
    for (const col of header) {
      if (!resolveColumn(this.emu, def, col)) return failLater(`InvalidBatch : Field name not found : ${col}`);
    }
    const lower = header.map((h) => h.toLowerCase());
    job.idIdx = lower.indexOf('id');
    if (job.operation === 'upsert') {
      job.extIdx = lower.indexOf(job.externalIdFieldName!.toLowerCase());
      if (job.extIdx < 0) return failLater(`InvalidBatch : External ID field ${job.externalIdFieldName} is missing from the CSV header`);
    } else if (job.operation !== 'insert' && job.idIdx < 0) {
      return failLater('InvalidBatch : Field name not found : Id');
    }
    const rule = this.emu.config.bulk.jobFailures.find(
      (r) =>
        (!r.object || r.object.toLowerCase() === job.object.toLowerCase()) &&
        ((r.jobNumbers?.includes(job.seq) ?? false) || (r.rate !== undefined && hashUnit(String(job.seq), 7) < r.rate))
    );
    if (rule) return failLater(rule.errorMessage);
    const batches = Math.ceil(rows.length / Math.max(1, lock.batchSize));
    if (!this.emu.limits.spend('DailyBulkApiBatches', batches)) {
      return failLater('ExceededQuota : The daily batch allocation (DailyBulkApiBatches) is exhausted.');
    }

    const input = this.buildInput(job, def, parsed);
    job.sfId = new Array<string | undefined>(rows.length);
    job.created = new Uint8Array(rows.length);
    const sj = this.sim.submit(input, now);
    job.sim = sj;
    this.bySim.set(sj, job);
    this.arm();
  }

  /** Parents (lock keys) and row-rule rejections of every row. */
  private buildInput(job: IngestJob, def: SObjectDef, parsed: ParsedCsv): SimJobInput {
    const { header, rows } = parsed;
    const lower = header.map((h) => h.toLowerCase());
    const cfg = this.emu.config.bulk;
    let parentCols: number[];
    if (cfg.lock.parentColumns) {
      parentCols = cfg.lock.parentColumns.map((c) => lower.indexOf(c.toLowerCase())).filter((i) => i >= 0);
    } else {
      parentCols = [];
      header.forEach((col, i) => {
        const r = resolveColumn(this.emu, def, col);
        if (r && (r.kind === 'rel' || (r.field.type === 'reference' && r.field.name.toLowerCase() !== 'id'))) parentCols.push(i);
      });
    }
    const errors: string[] = [];
    const parentStart = new Int32Array(rows.length + 1);
    const ids: number[] = [];
    for (let r = 0; r < rows.length; r++) {
      parentStart[r] = ids.length;
      for (const c of parentCols) {
        const v = rows[r][c];
        if (v === undefined || v === '' || v === '#N/A') continue;
        ids.push(this.sim.intern(`${lower[c]}\u0000${v}`, v));
      }
    }
    parentStart[rows.length] = ids.length;

    let rejectError: Int32Array | undefined;
    const rules = cfg.rowRules.filter((rr) => !rr.object || rr.object.toLowerCase() === job.object.toLowerCase());
    if (rules.length > 0) {
      rejectError = new Int32Array(rows.length).fill(-1);
      const keyIdx = job.extIdx >= 0 ? job.extIdx : job.idIdx;
      rules.forEach((rule) => {
        const errIndex = errors.length;
        const tail = rule.fields && rule.fields.length > 0 ? `${rule.fields.join(', ')} --` : '--';
        errors.push(`${rule.code}:${rule.message}:${tail}`);
        const salt = Math.floor(hashUnit(rule.name) * 0x7fffffff);
        const matchCol = rule.match ? lower.indexOf(rule.match.field.toLowerCase()) : -1;
        const re = rule.match ? new RegExp(rule.match.regex) : undefined;
        for (let r = 0; r < rows.length; r++) {
          if (rejectError![r] >= 0) continue;
          const key = keyIdx >= 0 ? rows[r][keyIdx] : `${job.id}:${r}`;
          const draw = rule.perAttempt ? this.emu.rng.next() : hashUnit(key, salt);
          if (rule.rate !== undefined && !(draw < rule.rate)) continue;
          if (re && !(matchCol >= 0 && re.test(rows[r][matchCol] ?? ''))) continue;
          if (rule.rate === undefined && !re) continue;
          rejectError![r] = errIndex;
        }
      });
    }
    return { seq: job.seq, rowCount: rows.length, parentStart, parentIds: Int32Array.from(ids), rejectError, errors };
  }

  /** Commit rows of a finished chunk to the target store. */
  private applyRows(sj: SimJob, from: number, to: number, at: number): void {
    const job = this.bySim.get(sj);
    if (!job?.parsed) return;
    const { header, rows } = job.parsed;
    const ids = this.ids(job.object);
    const table = this.emu.target.table(job.object);
    const fail = (r: number, error: string): void => {
      sj.outcome[r] = ROW_REJECTED;
      sj.errorOf[r] = sj.input.errors.length;
      sj.input.errors.push(error);
    };
    for (let r = from; r < to; r++) {
      const row = rows[r];
      const outcome = sj.outcome[r];
      if (outcome !== ROW_OK) {
        if (job.operation === 'upsert') job.sfId[r] = table.get(row[job.extIdx])?.id;
        else if (job.operation !== 'insert') job.sfId[r] = row[job.idIdx];
        continue;
      }
      const fields = (): Record<string, string> => {
        const f: Record<string, string> = {};
        for (let c = 0; c < header.length; c++) f[header[c]] = row[c] ?? '';
        return f;
      };
      if (job.operation === 'upsert') {
        const key = row[job.extIdx];
        if (!key || key === '#N/A') {
          fail(r, `MISSING_ARGUMENT:${job.externalIdFieldName} not specified:--`);
          continue;
        }
        const res = this.emu.target.upsert(job.object, key, fields(), at);
        ids.set(res.id, key);
        job.sfId[r] = res.id;
        job.created![r] = res.created ? 1 : 0;
      } else if (job.operation === 'insert') {
        const key = `${job.id}#${r}`;
        const res = this.emu.target.upsert(job.object, key, fields(), at);
        ids.set(res.id, key);
        job.sfId[r] = res.id;
        job.created![r] = 1;
      } else {
        const id = row[job.idIdx];
        job.sfId[r] = id;
        const key = ids.get(id);
        if (key === undefined || !table.has(key)) {
          fail(r, job.operation === 'update' ? 'INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--' : 'ENTITY_IS_DELETED:entity is deleted:--');
          continue;
        }
        if (job.operation === 'update') {
          const f = fields();
          delete f[header[job.idIdx]];
          this.emu.target.upsert(job.object, key, f, at);
        } else {
          table.delete(key);
          ids.delete(id);
        }
      }
    }
  }

  private ids(object: string): Map<string, string> {
    const k = object.toLowerCase();
    let m = this.idIndex.get(k);
    if (!m) this.idIndex.set(k, (m = new Map()));
    return m;
  }
}

function mapRows(idx: number[], f: (r: number) => string[]): Iterable<string[]> {
  return {
    *[Symbol.iterator]() {
      for (const r of idx) yield f(r);
    },
  };
}

function fieldOf(def: SObjectDef, name: string): FieldDef | undefined {
  const n = name.toLowerCase();
  return def.fields.find((f) => f.name.toLowerCase() === n);
}

type ResolvedColumn = { kind: 'field'; field: FieldDef } | { kind: 'rel'; rel: FieldDef; target: FieldDef };

/** A header cell: a field of the object, or `Relationship.Field` through a reference field to an external id / idLookup field. */
function resolveColumn(emu: Emulator, def: SObjectDef, col: string): ResolvedColumn | undefined {
  const dot = col.indexOf('.');
  if (dot < 0) {
    const f = fieldOf(def, col);
    return f ? { kind: 'field', field: f } : undefined;
  }
  const relName = col.slice(0, dot).toLowerCase();
  const targetName = col.slice(dot + 1);
  const rel = def.fields.find((f) => f.type === 'reference' && f.relationshipName?.toLowerCase() === relName);
  if (!rel) return undefined;
  for (const obj of rel.referenceTo ?? []) {
    const odef = findSObject(emu, obj);
    const t = odef ? fieldOf(odef, targetName) : undefined;
    if (t && (t.externalId === true || t.idLookup === true || t.type === 'id')) return { kind: 'rel', rel, target: t };
  }
  return undefined;
}
