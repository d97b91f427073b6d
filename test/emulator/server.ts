/*
 * The loopback Salesforce emulator: one HTTP server on 127.0.0.1 that speaks the wire
 * protocols of salesforce-api.md (login/org endpoints, limits, describe, Data Cloud query,
 * Bulk API 2.0 ingest). Tests, the demo and the benchmarks start it in-process with
 * `startEmulator()`; `cli.ts` runs it by hand.
 *
 * Every request passes, in order: the request log (bounded: `requestLogLimit`), HTTP
 * faults (`faults`: status, drop before/after, delayMs, skip, times, rate), the bearer token
 * (`auth`), DailyApiRequests (403 REQUEST_LIMIT_EXCEEDED when spent), then the routes.
 * `/__emulator/*` (inspection, no auth, never faulted):
 *   GET  /__emulator/config                the switches (tables as schema + rowCount)
 *   POST /__emulator/config                a ConfigPatch (null = back to the default)
 *   GET  /__emulator/clock | /limits | /requests | /memory[?gc=1]
 *   GET  /__emulator/target/:object        counts; /:object/:externalId the stored record
 *   GET  /__emulator/jobs[/:id]            job records; POST /__emulator/jobs/ingest creates one as another user
 *   GET  /__emulator/deleted               deleted ingest jobs and query-sql queries
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { applyPatch, defaultConfig, type ConfigPatch, type EmulatorConfig } from './config.js';
import { tableSummary } from './datacloud/table.js';
import { VirtualClock } from './clock.js';
import { OrgLimits } from './limits.js';
import { HttpError, readBody, Router, sendError, sendJson, type Ctx } from './http.js';
import { findSObject, registerOrgRoutes } from './org.js';
import { dataCloudState, registerDataCloudRoutes } from './datacloud/routes.js';
import { BulkService } from './bulk/service.js';
import { registerBulkRoutes } from './bulk/routes.js';
import { TargetStore } from './store.js';
import { Rng } from './random.js';

export type EmulatorOptions = ConfigPatch & { port?: number; limits?: ConstructorParameters<typeof OrgLimits>[0] };

/** One answered request. status -1: dropped before any effect; -2: processed, then dropped. */
export type RequestLogEntry = { seq: number; method: string; path: string; status: number; at: number };

export class Emulator {
  public readonly config: EmulatorConfig;
  public readonly clock: VirtualClock;
  public readonly limits: OrgLimits;
  public readonly target: TargetStore;
  public readonly bulk: BulkService;
  public readonly rng: Rng;
  /**
   * Requests the emulator answered (method, collapsed path, status), oldest first. Bounded by
   * `requestLogLimit`: past it the oldest half is dropped (`requestsDropped` counts them).
   */
  public readonly requests: RequestLogEntry[] = [];
  public requestsDropped = 0;
  public authenticatedCalls = 0;
  private requestSeq = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly router = new Router();
  private readonly faultFired = new Map<number, number>();
  private readonly faultMatched = new Map<number, number>();

  public constructor(options: EmulatorOptions = {}) {
    const { port: _port, limits, ...patch } = options;
    this.config = defaultConfig();
    applyPatch(this.config as unknown as Record<string, unknown>, patch as Record<string, unknown>);
    this.clock = new VirtualClock(this.config.timeScale);
    this.limits = new OrgLimits(limits);
    this.rng = new Rng(this.config.seed);
    this.target = new TargetStore((object) => this.externalIdCaseSensitive(object));
    this.bulk = new BulkService(this);
    registerInspectionRoutes(this.router, this);
    registerOrgRoutes(this.router, this);
    registerDataCloudRoutes(this.router, this);
    registerBulkRoutes(this.router, this);
  }

  public get url(): string {
    const addr = this.server?.address() as AddressInfo | undefined;
    if (!addr) throw new Error('emulator not started');
    return `http://127.0.0.1:${addr.port}`;
  }

  public get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  public get token(): string {
    return this.config.auth.token;
  }

  /** Change switches at run time (faults, rules, shapes, holds, time scale); `null` restores a default. */
  public configure(patch: ConfigPatch): void {
    applyPatch(this.config as unknown as Record<string, unknown>, patch as Record<string, unknown>);
    if (patch.timeScale !== undefined) this.clock.setScale(this.config.timeScale);
    if (patch.faults !== undefined) {
      this.faultFired.clear();
      this.faultMatched.clear();
    }
    this.bulk.pump(); // a released hold starts its jobs now
    if (!this.config.dataCloud.holdQueries) dataCloudState(this).releaseHeld();
  }

  /** The config as JSON for people and tests: tables as schema and row count, never their rows. */
  public configView(): Record<string, unknown> {
    const c = this.config;
    const tables = Object.fromEntries(Object.entries(c.dataCloud.tables).map(([k, t]) => [k, tableSummary(t)]));
    return { ...c, dataCloud: { ...c.dataCloud, tables } };
  }

  /** Upsert matching rule of an object's external ids: case-sensitive only when its External ID field says so. */
  public externalIdCaseSensitive(object: string, field?: string): boolean {
    const def = findSObject(this, object);
    if (!def) return false;
    const f = field ? def.fields.find((x) => x.name.toLowerCase() === field.toLowerCase()) : def.fields.find((x) => x.externalId === true);
    return f?.caseSensitive === true;
  }

  public async listen(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.dispatch(req, res));
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  public async close(): Promise<void> {
    this.bulk.stop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async dispatch(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const qIndex = rawUrl.indexOf('?');
    const path = (qIndex >= 0 ? rawUrl.slice(0, qIndex) : rawUrl).replace(/\/{2,}/g, '/');
    const query = new URLSearchParams(qIndex >= 0 ? rawUrl.slice(qIndex + 1) : '');
    const method = (req.method ?? 'GET').toUpperCase();
    const entry: RequestLogEntry = { seq: ++this.requestSeq, method, path, status: 0, at: this.clock.now() };
    this.logRequest(entry);
    res.on('finish', () => {
      if (entry.status === 0) entry.status = res.statusCode;
    });

    try {
      const inspection = path.startsWith('/__emulator');
      if (!inspection) {
        const fault = this.pickFault(method, path);
        if (fault) {
          if (fault.delayMs && fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
          const drop = fault.drop === true || fault.drop === 'before' ? 'before' : fault.drop === 'after' ? 'after' : undefined;
          if (drop === 'before') {
            entry.status = -1;
            req.socket.destroy();
            return;
          }
          if (drop === 'after') suppressAnswer(req, res, entry);
          else if (fault.status !== undefined || !fault.delayMs) {
            await readBody(req);
            sendError(res, fault.status ?? 503, fault.errorCode ?? 'SERVER_UNAVAILABLE', fault.message ?? 'Injected fault');
            return;
          }
        }
        if (!this.authenticate(req.headers.authorization)) {
          await readBody(req);
          sendError(res, 401, 'INVALID_SESSION_ID', 'Session expired or invalid');
          return;
        }
        if (path.startsWith('/services/data/v') && !this.limits.spend('DailyApiRequests')) {
          await readBody(req);
          sendError(res, 403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
          return;
        }
      }
      const m = this.router.match(method, path);
      if (!m) {
        await readBody(req);
        sendError(res, 404, 'NOT_FOUND', 'The requested resource does not exist');
        return;
      }
      let bodyPromise: Promise<Buffer> | undefined;
      const ctx: Ctx = {
        req,
        res,
        method,
        path,
        query,
        params: m.params,
        apiVersion: m.apiVersion,
        body: () => (bodyPromise ??= readBody(req)),
        json: async <T>() => {
          const buf = await ctx.body();
          try {
            return JSON.parse(buf.toString('utf8')) as T;
          } catch {
            throw new HttpError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON.');
          }
        },
      };
      await m.handler(ctx);
    } catch (err) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof HttpError) sendError(res, err.status, err.errorCode, err.message);
      else sendError(res, 500, 'UNKNOWN_EXCEPTION', err instanceof Error ? err.message : String(err));
    }
  }

  private authenticate(header: string | undefined): boolean {
    const expected = `Bearer ${this.config.auth.token}`;
    if (header !== expected) return false;
    this.authenticatedCalls++;
    const after = this.config.auth.sessionExpiresAfter;
    return after === undefined || this.authenticatedCalls <= after;
  }

  private logRequest(entry: RequestLogEntry): void {
    this.requests.push(entry);
    const limit = Math.max(2, this.config.requestLogLimit);
    if (this.requests.length > limit) {
      const n = Math.floor(limit / 2);
      this.requests.splice(0, n);
      this.requestsDropped += n;
    }
  }

  private pickFault(method: string, path: string): EmulatorConfig['faults'][number] | undefined {
    for (let i = 0; i < this.config.faults.length; i++) {
      const f = this.config.faults[i];
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path && !new RegExp(f.path).test(path)) continue;
      const matched = (this.faultMatched.get(i) ?? 0) + 1;
      this.faultMatched.set(i, matched);
      if (f.skip !== undefined && matched <= f.skip) continue;
      const fired = this.faultFired.get(i) ?? 0;
      if (f.times !== undefined && fired >= f.times) continue;
      if (this.rng.next() >= (f.rate ?? 1)) continue;
      this.faultFired.set(i, fired + 1);
      return f;
    }
    return undefined;
  }
}

/** fault drop 'after': let the handler run to the end, then destroy the socket instead of answering. */
function suppressAnswer(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, entry: RequestLogEntry): void {
  const socket = req.socket;
  res.writeHead = (() => res) as unknown as typeof res.writeHead;
  res.setHeader = (() => res) as unknown as typeof res.setHeader;
  res.write = (() => true) as unknown as typeof res.write;
  res.end = (() => {
    entry.status = -2;
    socket.destroy();
    return res;
  }) as unknown as typeof res.end;
}

/** Endpoints for tests and people: config, clock, target store, jobs, request log. No auth. */
function registerInspectionRoutes(router: Router, emu: Emulator): void {
  router.on('GET', '/__emulator/config', ({ res }) => sendJson(res, 200, emu.configView()));
  router.on('POST', '/__emulator/config', async (ctx) => {
    emu.configure(await ctx.json<ConfigPatch>());
    sendJson(ctx.res, 200, { ok: true });
  });
  router.on('GET', '/__emulator/clock', ({ res }) => sendJson(res, 200, { now: emu.clock.now(), scale: emu.clock.scale }));
  router.on('GET', '/__emulator/target/:object', ({ res, params }) => sendJson(res, 200, emu.target.summary(params.object)));
  router.on('GET', '/__emulator/target/:object/:externalId', ({ res, params }) => {
    const r = emu.target.get(params.object, params.externalId);
    if (!r) sendError(res, 404, 'NOT_FOUND', `No ${params.object} record with external id ${params.externalId}`);
    else sendJson(res, 200, r);
  });
  router.on('GET', '/__emulator/jobs', ({ res }) => sendJson(res, 200, emu.bulk.inspectJobs()));
  router.on('GET', '/__emulator/jobs/:id', ({ res, params }) => {
    const j = emu.bulk.inspectJob(params.id);
    if (!j) sendError(res, 404, 'NOT_FOUND', 'The requested resource does not exist');
    else sendJson(res, 200, j);
  });
  router.on('POST', '/__emulator/jobs/ingest', async (ctx) => {
    const { createdById, apiVersion, ...job } = await ctx.json<Record<string, unknown>>();
    sendJson(ctx.res, 200, emu.bulk.createJob(job, typeof apiVersion === 'string' ? apiVersion : emu.config.apiVersions.at(-1)!, { createdById: typeof createdById === 'string' ? createdById : undefined }));
  });
  router.on('GET', '/__emulator/deleted', ({ res }) => sendJson(res, 200, { jobs: emu.bulk.deletedJobs(), queries: dataCloudState(emu).deleted }));
  router.on('GET', '/__emulator/requests', ({ res }) =>
    sendJson(res, 200, { total: emu.requestsDropped + emu.requests.length, dropped: emu.requestsDropped, requests: emu.requests.slice(-1000) })
  );
  router.on('GET', '/__emulator/limits', ({ res }) => sendJson(res, 200, emu.limits.toJSON()));
  router.on('GET', '/__emulator/memory', ({ res, query }) => {
    // With node --expose-gc, ?gc=1 collects first, so the figures are what is live.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (query.get('gc') === '1' && gc) gc();
    sendJson(res, 200, {
      ...process.memoryUsage(),
      gcRan: query.get('gc') === '1' && gc !== undefined,
      held: { targetStore: emu.target.heldBytes(), ...emu.bulk.heldBytes() },
    });
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return new Emulator(options).listen(options.port ?? 0);
}
