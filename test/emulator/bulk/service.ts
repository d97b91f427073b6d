/*
 * Bulk API 2.0 ingest engine of the emulator: the job state machine of salesforce-api.md
 * §2 (Open → UploadComplete → InProgress → JobComplete | Failed | Aborted), upload
 * validation, the job listing, result CSVs, and the parent-record lock model
 * (lock-model.ts) driven on the emulator's virtual clock. Row handling is in rows.ts.
 *
 * The simulation is lazy: every bulk request, and a timer armed for the next event,
 * advances it to clock.now(). Outcomes come from event times, never from sleeps.
 *
 * Switches (config.bulk): hold / holdAfterJobs keep closed jobs in UploadComplete until
 * released; DailyBulkApiBatches is spent per internal batch when a job starts, and a job
 * that gets fewer batches than it needs processes those and ends Failed (ExceededQuota)
 * with the rest unprocessed; listPageSize pages GET /jobs/ingest; missingParent.
 *
 * One state machine, so its operations stay together in this file (job shapes and JSON
 * views are in job.ts, row handling in rows.ts, CSV in csv.ts).
 *
 * Memory: a job keeps its upload (deflated once parsed) and per-row outcome arrays; the
 * parsed rows exist only while the job is processed. Result files are written on request
 * from a re-parse of the upload (a few recent parses are cached).
 */
import { deflateRawSync } from 'node:zlib';
import { sfTimestamp } from '../clock.js';
import { HttpError } from '../http.js';
import { findSObject } from '../org.js';
import { hashUnit, Rng } from '../random.js';
import type { Emulator } from '../server.js';
import { own, recordIdOf } from '../store.js';
import { COLUMN_DELIMITERS, lineEndingMatches, parseCsv, writeResultCsv, writeResultFromText, type ColumnDelimiter, type ParsedCsv } from './csv.js';
import { baseInfo, fullInfo, jobRecord, listInfo, OPERATIONS, uploadText, type DeletedJob, type IngestJob, type IngestOperation, type JobRecord, type JobState, type ResultKind } from './job.js';
import { LockSimulator, ROW_LOCK_FAILED, ROW_OK, ROW_REJECTED, ROW_UNPROCESSED, type SimJob, type SimSummary } from './lock-model.js';
import { applyRows, buildInput, commitPlan, fieldOf, resolveColumn } from './rows.js';

export { OPERATIONS, type IngestOperation, type JobState, type ResultKind, type JobRecord, type DeletedJob } from './job.js';

const CREATE_KEYS = new Set(['object', 'operation', 'externalIdFieldName', 'contentType', 'lineEnding', 'columnDelimiter', 'assignmentRuleId']);
const JOB_TYPES = new Set(['BigObjectIngest', 'Classic', 'V2Ingest']);
/** Parses of uploads kept for result files (a job's three result GETs parse once). */
const PARSE_CACHE = 6;
/** Listings whose queryLocator can still be followed. */
const LISTINGS_KEPT = 50;

export type BulkSummary = SimSummary & { scale: number };

export class BulkService {
  private readonly jobs = new Map<string, IngestJob>();
  private readonly order: IngestJob[] = [];
  private readonly bySim = new WeakMap<SimJob, IngestJob>();
  private readonly sim: LockSimulator;
  private readonly held: IngestJob[] = [];
  private readonly deleted: DeletedJob[] = [];
  private readonly parsed = new Map<string, ParsedCsv>();
  private readonly texts = new Map<string, string>();
  private readonly listings = new Map<string, string[]>();
  private listingSeq = 0;
  /** Jobs handed to the simulator so far (for holdAfterJobs). */
  private started = 0;
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  public constructor(private readonly emu: Emulator) {
    this.sim = new LockSimulator(() => this.emu.config.bulk.lock, emu.config.seed, {
      onRowsCommitted: (sj, from, to, at) => {
        const job = this.bySim.get(sj);
        if (job?.rows && job.plan) applyRows(this.emu, job, job.plan, sj, job.rows, from, to, at);
      },
      onJobStarted: (sj, at) => this.touch(sj, at),
      onJobFinished: (sj, at) => {
        this.touch(sj, at);
        const job = this.bySim.get(sj);
        if (job) job.rows = undefined; // the upload stays in job.data for result files
      },
    });
  }

  public stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  // ---- simulation driving ----

  /** Advance the simulation to the virtual now, start released jobs, re-arm the timer. */
  public pump(): void {
    const now = this.emu.clock.now();
    this.sim.advanceTo(now);
    this.releaseHeld(now);
    this.arm();
  }

  /** True while any job is queued or running (or has a pending validation). Held jobs do not count. */
  public get busy(): boolean {
    return this.sim.pendingEvents > 0;
  }

  /** Resolves when nothing is left to simulate (every started job is terminal; held jobs stay held). */
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

  private holding(): boolean {
    const b = this.emu.config.bulk;
    return b.hold === true || (typeof b.holdAfterJobs === 'number' && this.started >= b.holdAfterJobs);
  }

  private releaseHeld(now: number): void {
    while (this.held.length > 0 && !this.holding()) {
      const job = this.held.shift()!;
      job.held = false;
      if (job.deleted || job.sim || job.state !== 'UploadComplete') continue;
      this.startJob(job, now);
    }
  }

  // ---- HTTP-level operations (throw HttpError) ----

  public createJob(body: unknown, apiVersion: string, opts: { createdById?: string } = {}): Record<string, unknown> {
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
      createdById: opts.createdById ?? this.emu.config.auth.userId,
      state: 'Open',
      createdAt: now,
      modstamp: now,
      uploaded: false,
      uploadedBytes: 0,
      header: [],
      extIdx: -1,
      idIdx: -1,
      simRows: 0,
      held: false,
      deleted: false,
    };
    this.jobs.set(job.id, job);
    this.order.push(job);
    return baseInfo(job, this.stateOf(job));
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
      return baseInfo(job, this.stateOf(job));
    }
    if (target === 'Aborted') {
      if (current !== 'Open' && current !== 'UploadComplete' && current !== 'InProgress') {
        throw new HttpError(400, 'INVALIDJOBSTATE', `Invalid state transition from ${current} to Aborted`);
      }
      this.abortJob(job, now);
      this.arm();
      return baseInfo(job, this.stateOf(job));
    }
    throw new HttpError(400, 'INVALIDJOBSTATE', `Invalid state transition from ${current} to ${String(target)}`);
  }

  public info(id: string): Record<string, unknown> {
    this.pump();
    const job = this.get(id);
    return fullInfo(job, this.stateOf(job), this.errorMessage(job), this.emu.clock.now());
  }

  /**
   * GET /jobs/ingest: records of the doc's shape, `listPageSize` per page; a first call
   * snapshots the matching jobs and later pages follow `nextRecordsUrl` (queryLocator).
   */
  public list(params: { jobType?: string | null; queryLocator?: string | null }, apiVersion: string): Record<string, unknown> {
    this.pump();
    let ids: string[];
    let offset = 0;
    let listing: string;
    if (params.queryLocator) {
      const m = /^(01gEM\d{10})-(\d+)$/.exec(params.queryLocator);
      const snap = m ? this.listings.get(m[1]) : undefined;
      if (!m || !snap) throw new HttpError(400, 'INVALID_QUERY_LOCATOR', `Invalid query locator: ${params.queryLocator}`);
      listing = m[1];
      ids = snap;
      offset = Number(m[2]);
    } else {
      const jobType = params.jobType ?? undefined;
      if (jobType !== undefined && !JOB_TYPES.has(jobType)) {
        throw new HttpError(400, 'INVALIDJOB', `InvalidJob : Invalid jobType: ${jobType}. Valid values are ${[...JOB_TYPES].join(', ')}`);
      }
      ids = this.order.filter((j) => !j.deleted && (jobType === undefined || jobType === 'V2Ingest')).map((j) => j.id);
      listing = `01gEM${String(++this.listingSeq).padStart(10, '0')}`;
      this.listings.set(listing, ids);
      if (this.listings.size > LISTINGS_KEPT) this.listings.delete(this.listings.keys().next().value!);
    }
    const size = Math.max(1, Math.floor(this.emu.config.bulk.listPageSize));
    const page = ids.slice(offset, offset + size);
    const done = offset + size >= ids.length;
    const records = page.map((id) => this.jobs.get(id)).filter((j): j is IngestJob => j !== undefined).map((j) => listInfo(j, this.stateOf(j)));
    return { done, records, nextRecordsUrl: done ? null : `/services/data/v${apiVersion}/jobs/ingest?queryLocator=${listing}-${offset + size}` };
  }

  public deleteJob(id: string): void {
    this.pump();
    const job = this.get(id);
    const state = this.stateOf(job);
    if (state === 'Open' || state === 'InProgress') throw new HttpError(400, 'INVALIDJOBSTATE', `Job can't be deleted in state ${state}`);
    if (state === 'UploadComplete') this.abortJob(job, this.emu.clock.now());
    job.deleted = true;
    job.data = undefined;
    job.packed = undefined;
    job.rows = undefined;
    job.plan = undefined;
    this.parsed.delete(job.id);
    this.texts.delete(job.id);
    job.layout = undefined;
    this.jobs.delete(job.id);
    this.deleted.push({
      id: job.id,
      object: job.object,
      operation: job.operation,
      createdById: job.createdById,
      createdDate: sfTimestamp(job.createdAt),
      stateAtDeletion: state,
      deletedAt: sfTimestamp(this.emu.clock.now()),
    });
    this.arm();
  }

  public results(id: string, kind: ResultKind): string {
    this.pump();
    const job = this.get(id);
    const state = this.stateOf(job);
    if (state !== 'JobComplete' && state !== 'Failed' && state !== 'Aborted') {
      throw new HttpError(400, 'INVALIDJOBSTATE', `Results are not available for a job in state ${state}`);
    }
    const sim = job.sim;
    const simRows = job.simRows;
    const pick = (n: number, want: (r: number) => boolean): number[] => {
      const idx: number[] = [];
      for (let r = 0; r < n; r++) if (want(r)) idx.push(r);
      return new Rng((this.emu.config.seed ^ Math.imul(job.seq, 0x9e3779b1)) >>> 0).shuffle(idx);
    };
    const wanted = (n: number): number[] => {
      if (kind === 'successfulResults') return sim ? pick(n, (r) => r < simRows && sim.outcome[r] === ROW_OK) : [];
      if (kind === 'failedResults') return sim ? pick(n, (r) => r < simRows && (sim.outcome[r] === ROW_REJECTED || sim.outcome[r] === ROW_LOCK_FAILED)) : [];
      return sim ? pick(n, (r) => r >= simRows || sim.outcome[r] === ROW_UNPROCESSED) : state === 'JobComplete' ? [] : pick(n, () => true);
    };
    const prefixHeader = kind === 'successfulResults' ? ['sf__Id', 'sf__Created'] : kind === 'failedResults' ? ['sf__Id', 'sf__Error'] : [];
    const idOf = (r: number, row: () => string[]): string => {
      if (job.operation === 'upsert' || job.operation === 'insert') {
        const seq = job.plan?.idSeq[r] ?? 0;
        return seq > 0 ? recordIdOf(seq) : '';
      }
      return job.idIdx >= 0 ? row()[job.idIdx] ?? '' : '';
    };
    const cellsWith = (row: (r: number) => string[]) => (r: number): string[] => {
      if (kind === 'successfulResults') return [idOf(r, () => row(r)), job.plan?.created[r] ? 'true' : 'false'];
      if (kind === 'failedResults') return [idOf(r, () => row(r)), sim!.input.errors[sim!.errorOf[r]] ?? ''];
      return [];
    };

    // Cut from the upload text (no re-parse) when the job was parsed at start.
    const text = job.layout ? this.textOf(job) : undefined;
    if (job.layout && text !== undefined) {
      const row = (r: number): string[] => this.rowsOf(job)!.rows[r];
      return writeResultFromText(job.columnDelimiter, prefixHeader, job.header, wanted(job.layout.starts.length), cellsWith(row), text, job.layout, row);
    }
    const parsed = this.rowsOf(job);
    if (!parsed && kind === 'unprocessedrecords' && job.data) return job.data.toString('utf8'); // never parsed (bad CSV): hand back what was uploaded
    const rows = parsed?.rows ?? [];
    const cells = cellsWith((r) => rows[r]);
    return writeResultCsv(job.columnDelimiter, prefixHeader, parsed?.header ?? [], mapRows(wanted(rows.length), (r) => [...cells(r), ...rows[r]]));
  }

  // ---- inspection ----

  /** Every job ever created (deleted ones too), in creation order. */
  public inspectJobs(): JobRecord[] {
    this.pump();
    return this.order.map((j) => jobRecord(j, this.stateOf(j), this.errorMessage(j)));
  }

  public inspectJob(id: string): JobRecord | undefined {
    this.pump();
    const j = this.order.find((x) => x.id === id);
    return j ? jobRecord(j, this.stateOf(j), this.errorMessage(j)) : undefined;
  }

  /** Bytes kept per job for result files and outcomes (uploads, layouts, commit plans). */
  public heldBytes(): { uploads: number; layouts: number; plans: number } {
    let uploads = 0;
    let layouts = 0;
    let plans = 0;
    for (const j of this.jobs.values()) {
      uploads += (j.packed?.length ?? 0) + (j.data?.length ?? 0);
      if (j.layout) layouts += j.layout.starts.byteLength + j.layout.ends.byteLength + j.layout.simple.byteLength;
      if (j.plan) plans += j.plan.idSeq.byteLength + j.plan.created.byteLength;
    }
    return { uploads, layouts, plans };
  }

  /** Jobs deleted through DELETE /jobs/ingest/{id}, oldest first. */
  public deletedJobs(): DeletedJob[] {
    return this.deleted.slice();
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
    if (job.sim) {
      const s = job.sim.state;
      if (s === 'Queued') return 'UploadComplete';
      if (s === 'JobComplete' && job.quotaMessage) return 'Failed';
      return s;
    }
    return job.state;
  }

  private errorMessage(job: IngestJob): string | undefined {
    if (job.sim?.state === 'Failed') return job.sim.failReason;
    if (job.sim?.state === 'JobComplete' && job.quotaMessage) return job.quotaMessage;
    return job.state === 'Failed' ? job.errorMessage : undefined;
  }

  private touch(sj: SimJob, at: number): void {
    const job = this.bySim.get(sj);
    if (job) job.modstamp = Math.max(job.modstamp, at);
  }

  /** The upload text (inflated; a few recent ones cached). */
  private textOf(job: IngestJob): string | undefined {
    const hit = this.texts.get(job.id);
    if (hit !== undefined) return hit;
    const text = uploadText(job);
    if (text === undefined) return undefined;
    this.texts.set(job.id, text);
    if (this.texts.size > PARSE_CACHE) this.texts.delete(this.texts.keys().next().value!);
    return text;
  }

  /** The job's header and rows: the live parse while it runs, else a cached re-parse of the upload. */
  private rowsOf(job: IngestJob): ParsedCsv | undefined {
    if (job.rows) return { header: job.header, rows: job.rows };
    const hit = this.parsed.get(job.id);
    if (hit) return hit;
    const text = this.textOf(job);
    if (text === undefined) return undefined;
    let p: ParsedCsv;
    try {
      p = parseCsv(text, job.columnDelimiter);
    } catch {
      return undefined;
    }
    job.rowCount = p.rows.length;
    this.parsed.set(job.id, p);
    if (this.parsed.size > PARSE_CACHE) this.parsed.delete(this.parsed.keys().next().value!);
    return p;
  }

  private abortJob(job: IngestJob, now: number): void {
    if (job.sim) this.sim.abort(job.sim, now);
    else {
      job.state = 'Aborted';
      job.failedAt = now;
      if (job.rowCount === undefined) this.rowsOf(job);
    }
    job.modstamp = now;
  }

  /** PATCH UploadComplete: queue the job, or hold it (bulk.hold / holdAfterJobs). */
  private closeJob(job: IngestJob, now: number): void {
    job.state = 'UploadComplete';
    job.uploadCompleteAt = now;
    job.modstamp = now;
    if (this.holding()) {
      job.held = true;
      this.held.push(job);
      return;
    }
    this.startJob(job, now);
  }

  /** Validate, spend the batch allocation, then hand the rows to the lock model (or fail the job after pickup). */
  private startJob(job: IngestJob, now: number): void {
    this.started++;
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
      parsed = parseCsv(text, job.columnDelimiter, true);
    } catch (err) {
      return failLater(`ClientInputError : Failed to parse the CSV data: ${err instanceof Error ? err.message : String(err)}`);
    }
    const rows = parsed.rows;
    const header = (job.header = parsed.header.map(own)); // the header outlives the upload text
    job.layout = parsed.layout;
    job.rowCount = rows.length;
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
    // One DailyBulkApiBatches per internal batch; what the allocation cannot cover is never processed.
    const size = Math.max(1, Math.floor(lock.batchSize));
    const batches = Math.ceil(rows.length / size);
    const allowed = Math.min(batches, Math.max(0, this.emu.limits.remaining('DailyBulkApiBatches')));
    if (batches > 0 && allowed === 0) return failLater('ExceededQuota : The daily batch allocation (DailyBulkApiBatches) is exhausted.');
    this.emu.limits.spend('DailyBulkApiBatches', allowed);
    job.simRows = Math.min(rows.length, allowed * size);
    if (job.simRows < rows.length) {
      job.quotaMessage = `ExceededQuota : The daily batch allocation (DailyBulkApiBatches) ran out while the job was processing: ${rows.length - job.simRows} records were not processed.`;
    }
    job.rows = rows;
    if (job.data) {
      job.packed = deflateRawSync(job.data, { level: 1 });
      job.data = undefined;
    }
    job.plan = commitPlan(this.emu, job, def, rows.length);
    const sj = this.sim.submit(buildInput(this.emu, this.sim, job, def, rows, job.simRows), now);
    job.sim = sj;
    this.bySim.set(sj, job);
    if (sj.terminal) job.rows = undefined;
    this.arm();
  }
}

function mapRows(idx: number[], f: (r: number) => string[]): Iterable<string[]> {
  return {
    *[Symbol.iterator]() {
      for (const r of idx) yield f(r);
    },
  };
}
