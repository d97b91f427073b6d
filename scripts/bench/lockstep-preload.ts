/*
 * Lockstep preload for a benchmark's client process (`node --import <this file> …`): the
 * client's Date and timers run on the emulator's virtual clock, and that clock moves only
 * while the client waits on a timer. A client's CPU time (reading pages, building CSV,
 * parsing results, writing its run files, starting up) therefore costs no simulated time
 * at all, however loaded the machine is; its waits (poll intervals, backoffs, delays) cost
 * exactly what it asked for.
 *
 * Protocol (newline-delimited JSON over TCP to scripts/bench/lockstep.ts):
 *   client → {t:'hello'}                 once connected
 *   client → {t:'idle', next}            nothing to do but wait for the virtual time `next` (or null)
 *   client → {t:'busy'}                  something happened after an idle report
 *   server → {t:'now', now}              the virtual time is now `now`: run the timers due
 *
 * "Nothing to do" means: no HTTP request of the client is on the wire awaiting its answer
 * (undici and node:http report theirs on diagnostics channels), Node has no pending immediates, file system requests,
 * DNS look-ups, connects or socket writes (process.getActiveResourcesInfo), and that held
 * for a few turns of the event loop. Only erasable TypeScript here: Node runs it unbuilt.
 * It does nothing unless DCL_LOCKSTEP_PORT is set, and nothing in worker threads.
 */
import { channel } from 'node:diagnostics_channel';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { connect, type Socket } from 'node:net';
import { isMainThread } from 'node:worker_threads';

type Callback = (...args: unknown[]) => void;
type Entry = { at: number; seq: number; timer: VirtualTimeout; live: boolean };

const port = Number(process.env.DCL_LOCKSTEP_PORT ?? '');
const DEBUG = Boolean(process.env.DCL_LOCKSTEP_DEBUG);
const DEBUG_STACKS = process.env.DCL_LOCKSTEP_DEBUG === '2';
let lastDebug = 0;
function debugResources(resources: string[]): void {
  const t = RealDate.now();
  if (t - lastDebug < 1000) return;
  lastDebug = t;
  process.stderr.write(`lockstep[${process.pid}]: http ${pendingHttp}, timers ${heap.filter((e) => e.live).length}, resources ${resources.join(',')}\n`);
}
const QUIET_TURNS = 3;
/** Resources that mean the process still has work under way (not just waiting on a timer). */
const BUSY = new Set([
  'Immediate',
  'FSReqCallback',
  'FSReqPromise',
  'FileHandleCloseReq',
  'GetAddrInfoReqWrap',
  'GetNameInfoReqWrap',
  'QueryReqWrap',
  'TCPConnectWrap',
  'PipeConnectWrap',
  'WriteWrap',
  'ShutdownWrap',
  'SendWrap',
]);

const realSetImmediate = globalThis.setImmediate;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const RealDate = Date;

let now = Number(process.env.DCL_LOCKSTEP_NOW ?? RealDate.now());
let seq = 0;
let refCount = 0;
const heap: Entry[] = [];

class VirtualTimeout {
  public entry: Entry | undefined;
  public refed = true;
  public readonly id: number;
  public readonly fn: Callback;
  public readonly args: unknown[];
  public readonly delay: number;
  public readonly repeat: boolean;
  public constructor(fn: Callback, args: unknown[], delay: number, repeat: boolean) {
    this.fn = fn;
    this.args = args;
    this.delay = delay;
    this.repeat = repeat;
    this.id = ++seq;
    byId.set(this.id, this);
    if (DEBUG_STACKS) (this as unknown as { stack?: string }).stack = new Error().stack?.split('\n').slice(2, 7).join(' | ');
  }
  public ref(): this {
    if (!this.refed && this.entry?.live) refCount++;
    this.refed = true;
    syncSocketRef();
    return this;
  }
  public unref(): this {
    if (this.refed && this.entry?.live) refCount--;
    this.refed = false;
    syncSocketRef();
    return this;
  }
  public hasRef(): boolean {
    return this.refed;
  }
  public refresh(): this {
    cancel(this);
    schedule(this, now + this.delay);
    byId.set(this.id, this);
    poke();
    return this;
  }
  public close(): this {
    cancel(this);
    return this;
  }
  public [Symbol.toPrimitive](): number {
    return this.id;
  }
  public [Symbol.dispose](): void {
    cancel(this);
  }
}

const byId = new Map<number, VirtualTimeout>();

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
function heapPush(e: Entry): void {
  heap.push(e);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (less(heap[p], heap[i])) break;
    [heap[p], heap[i]] = [heap[i], heap[p]];
    i = p;
  }
}
function heapPop(): Entry | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  }
  return top;
}
function earliest(): Entry | undefined {
  while (heap.length > 0 && !heap[0].live) heapPop();
  return heap[0];
}

function schedule(t: VirtualTimeout, at: number): void {
  const e: Entry = { at, seq: ++seq, timer: t, live: true };
  t.entry = e;
  if (t.refed) refCount++;
  heapPush(e);
}
function cancel(t: VirtualTimeout): void {
  if (t.entry?.live) {
    t.entry.live = false;
    if (t.refed) refCount--;
  }
  t.entry = undefined;
}
function delayOf(ms: unknown): number {
  const n = Number(ms);
  return Number.isFinite(n) && n >= 1 && n <= 2 ** 31 - 1 ? n : 1;
}
function toTimer(handle: unknown): VirtualTimeout | undefined {
  if (handle instanceof VirtualTimeout) return handle;
  if (typeof handle === 'number' || typeof handle === 'string') return byId.get(Number(handle));
  return undefined;
}

function vSetTimeout(fn: Callback, ms?: number, ...args: unknown[]): VirtualTimeout {
  const t = new VirtualTimeout(fn, args, delayOf(ms), false);
  schedule(t, now + t.delay);
  poke();
  return t;
}
function vSetInterval(fn: Callback, ms?: number, ...args: unknown[]): VirtualTimeout {
  const t = new VirtualTimeout(fn, args, delayOf(ms), true);
  schedule(t, now + t.delay);
  poke();
  return t;
}
function vClear(handle: unknown): void {
  const t = toTimer(handle);
  if (t) {
    cancel(t);
    byId.delete(t.id);
    syncSocketRef();
    poke();
  } else if (handle) realClearTimeout(handle as Parameters<typeof realClearTimeout>[0]);
}

/** Run every timer due at or before `now`, in (time, creation) order. */
function fireDue(): void {
  for (;;) {
    const e = earliest();
    if (!e || e.at > now) break;
    heapPop();
    e.live = false;
    const t = e.timer;
    if (t.refed) refCount--;
    t.entry = undefined;
    if (t.repeat) schedule(t, now + t.delay);
    else byId.delete(t.id);
    try {
      t.fn(...t.args);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

// ---- idleness and the wire ----

let socket: Socket | undefined;
let connected = false;
let idleSent = false;
let checkScheduled = false;
let quiet = 0;
let pendingHttp = 0;
let buffer = '';

function send(msg: Record<string, unknown>): void {
  socket?.write(JSON.stringify(msg) + '\n');
}
function syncSocketRef(): void {
  if (!socket) return;
  if (refCount > 0) socket.ref();
  else socket.unref();
}
function poke(): void {
  quiet = 0;
  if (idleSent) {
    idleSent = false;
    send({ t: 'busy' });
  }
  scheduleCheck();
}
function scheduleCheck(): void {
  if (checkScheduled || !connected) return;
  checkScheduled = true;
  realSetImmediate(check);
}
function check(): void {
  checkScheduled = false;
  if (idleSent) return;
  if (pendingHttp > 0) {
    quiet = 0;
    if (DEBUG) {
      debugResources(process.getActiveResourcesInfo());
      if (DEBUG_STACKS) for (const e of heap) if (e.live) process.stderr.write(`  timer +${e.at - now} ${(e.timer as unknown as { stack?: string }).stack ?? ''}\n`);
      realSetTimeout(check, 1000).unref();
    }
    return; // the request's end pokes
  }
  const resources = process.getActiveResourcesInfo();
  if (DEBUG) debugResources(resources);
  if (resources.some((r) => BUSY.has(r))) {
    quiet = 0;
    if (resources.includes('Immediate')) scheduleCheck();
    else {
      checkScheduled = true;
      realSetTimeout(check, 1);
    }
    return;
  }
  if (++quiet < QUIET_TURNS) {
    scheduleCheck();
    return;
  }
  const next = earliest();
  idleSent = true;
  syncSocketRef();
  if (DEBUG) process.stderr.write(`lockstep[${process.pid}]: idle next ${next ? next.at - now : 'none'} (timers ${heap.filter((e) => e.live).length})\n`);
  send({ t: 'idle', next: next ? next.at : null });
}
function onMessage(msg: { t: string; now?: number }): void {
  if (msg.t !== 'now' || typeof msg.now !== 'number') return;
  idleSent = false;
  if (msg.now > now) now = msg.now;
  fireDue();
  poke();
}

function install(): void {
  const require = createRequire(import.meta.url);
  const timers = require('node:timers') as Record<string, unknown>;
  const promises = require('node:timers/promises') as Record<string, unknown>;

  const vDate = new Proxy(RealDate, {
    construct(target, args: unknown[], newTarget) {
      return Reflect.construct(target, args.length ? args : [Math.floor(now)], newTarget) as object;
    },
    apply() {
      return new RealDate(Math.floor(now)).toString();
    },
    get(target, prop, receiver) {
      if (prop === 'now') return (): number => Math.floor(now);
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  globalThis.Date = vDate;
  const g = globalThis as unknown as Record<string, unknown>;
  for (const target of [g, timers]) {
    target.setTimeout = vSetTimeout;
    target.setInterval = vSetInterval;
    target.clearTimeout = vClear;
    target.clearInterval = vClear;
  }
  const wait = (ms?: number, value?: unknown, opts?: { signal?: AbortSignal; ref?: boolean }): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const signal = opts?.signal;
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('The operation was aborted'));
        return;
      }
      const t = vSetTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      }, ms);
      if (opts?.ref === false) t.unref();
      const onAbort = (): void => {
        vClear(t);
        reject(signal?.reason ?? new Error('The operation was aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  promises.setTimeout = wait;
  const scheduler = promises.scheduler as { wait?: unknown } | undefined;
  if (scheduler) scheduler.wait = (ms: number, opts?: { signal?: AbortSignal }): Promise<unknown> => wait(ms, undefined, opts);
  syncBuiltinESMExports();

  // A request counts from the moment it is on the wire (body sent) until its response ends:
  // then the server owes an answer. Before that (created, body not sent yet) the client may
  // itself be waiting on a timer to produce the body (jsforce defers a POST body a tick).
  const state = new WeakMap<object, 'created' | 'sent'>();
  const reqOf = (m: unknown): object => ((m as { request?: object }).request ?? (m as object));
  const created = (m: unknown): void => {
    state.set(reqOf(m), 'created');
    if (DEBUG) process.stderr.write(`lockstep: created ${String((m as { request?: { method?: string; path?: string } }).request?.method)} ${String((m as { request?: { path?: string } }).request?.path)}\n`);
    poke();
  };
  const sent = (m: unknown): void => {
    const r = reqOf(m);
    if (state.get(r) !== 'sent') {
      state.set(r, 'sent');
      pendingHttp++;
    }
    if (DEBUG) process.stderr.write(`lockstep: sent → ${pendingHttp} on the wire\n`);
    poke();
  };
  const ended = (m: unknown): void => {
    const r = reqOf(m);
    if (state.get(r) === 'sent') pendingHttp = Math.max(0, pendingHttp - 1);
    if (DEBUG) process.stderr.write(`lockstep: ended (${state.get(r) ?? 'unknown'}) → ${pendingHttp} on the wire\n`);
    state.delete(r);
    poke();
  };
  channel('undici:request:create').subscribe(created);
  channel('undici:request:bodySent').subscribe(sent);
  channel('undici:request:trailers').subscribe(ended);
  channel('undici:request:error').subscribe(ended);
  channel('http.client.request.start').subscribe(sent);
  channel('http.client.response.finish').subscribe(ended);
  channel('http.client.request.error').subscribe(ended);

  socket = connect(port, '127.0.0.1', () => {
    connected = true;
    send({ t: 'hello', pid: process.pid });
    syncSocketRef();
    poke();
  });
  socket.setNoDelay(true);
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (line) onMessage(JSON.parse(line) as { t: string; now?: number });
    }
  });
  socket.on('error', (err) => {
    process.stderr.write(`lockstep: lost the clock server (${err.message})\n`);
    process.exit(70);
  });
  socket.on('close', () => {
    if (connected && refCount > 0) {
      process.stderr.write('lockstep: the clock server went away with timers pending\n');
      process.exit(70);
    }
  });
  syncSocketRef();
}

// Worker threads (e.g. a logger's transport) keep their own time: they are not the client.
if (port > 0 && isMainThread) install();
