/*
 * The lock benchmark's clock: a lockstep virtual clock that the machine cannot bend.
 *
 * The emulator's clock is put in manual mode (scale 0): it never follows the wall clock.
 * Client processes run with scripts/bench/lockstep-preload.ts, which puts their Date and
 * timers on the same virtual time and reports when they have nothing to do but wait for a
 * timer. When every client waits, the clock jumps to the earliest timer any of them waits
 * for, the emulator's lock model catches up to that instant, and the clients run the
 * timers due. So simulated time is only ever spent by waits the clients asked for and by
 * the org model's own schedule; no millisecond of anyone's CPU becomes simulated time,
 * however loaded the machine is.
 *
 * In-process drivers (the seed's chains) move the clock themselves with advance() and
 * runToIdle().
 */
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Emulator } from '../../test/emulator/server.js';

export const PRELOAD = fileURLToPath(new URL('./lockstep-preload.ts', import.meta.url));

type Client = { socket: Socket; idle: boolean; next: number | null; pid?: number };

export type LockstepStats = {
  /** Clock jumps made for clients. */
  advances: number;
  /** Clients that connected. */
  clients: number;
  /** Jumps made while the emulator still had a request open (should stay 0). */
  advancesWithOpenRequests: number;
};

export class Lockstep {
  public readonly stats: LockstepStats = { advances: 0, clients: 0, advancesWithOpenRequests: 0 };
  private server?: Server;
  private readonly clients = new Set<Client>();
  private scanFrom = 0;

  public constructor(private readonly emu: Emulator) {
    emu.configure({ timeScale: 0 });
    // Clients keep connections alive by their (virtual) clock; the emulator must not close
    // them by the wall clock while a client computes.
    const http = (emu as unknown as { server?: import('node:http').Server }).server;
    if (http) http.keepAliveTimeout = 0;
  }

  public async listen(): Promise<this> {
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  public get port(): number {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error('lockstep server not listening');
    return a.port;
  }

  /** Environment and node arguments for a client process on this clock. */
  public clientEnv(): Record<string, string> {
    return { DCL_LOCKSTEP_PORT: String(this.port), DCL_LOCKSTEP_NOW: String(Math.floor(this.emu.clock.now())) };
  }

  public nodeArgs(): string[] {
    return ['--import', PRELOAD];
  }

  public now(): number {
    return this.emu.clock.now();
  }

  /** Move the clock to `t` and let the org model catch up (in-process drivers). */
  public advance(t: number): void {
    this.emu.clock.advanceTo(t);
    this.emu.bulk.pump();
  }

  /** Run the org model until no job work is left, in steps of `stepMs` virtual ms. */
  public runToIdle(stepMs = 10_000): void {
    for (let i = 0; i < 10_000_000 && this.emu.bulk.busy; i++) this.advance(this.now() + stepMs);
  }

  public async close(): Promise<void> {
    for (const c of this.clients) c.socket.destroy();
    this.clients.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    const c: Client = { socket, idle: false, next: null };
    this.clients.add(c);
    this.stats.clients++;
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let buf = '';
    socket.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line) this.onMessage(c, JSON.parse(line) as { t: string; next?: number | null; pid?: number });
      }
    });
    const drop = (): void => {
      if (!this.clients.delete(c)) return;
      this.maybeAdvance();
    };
    socket.on('close', drop);
    socket.on('error', drop);
  }

  private onMessage(c: Client, msg: { t: string; next?: number | null; pid?: number }): void {
    if (msg.t === 'hello') {
      c.pid = msg.pid;
      this.send(c, this.now());
    } else if (msg.t === 'idle') {
      c.idle = true;
      c.next = typeof msg.next === 'number' ? msg.next : null;
      this.maybeAdvance();
    } else if (msg.t === 'busy') {
      c.idle = false;
    }
  }

  private maybeAdvance(): void {
    if (this.clients.size === 0) return;
    let target = Infinity;
    for (const c of this.clients) {
      if (!c.idle) return;
      if (c.next !== null) target = Math.min(target, c.next);
    }
    if (!Number.isFinite(target)) return; // every client waits on something other than time
    if (this.openRequests() > 0) this.stats.advancesWithOpenRequests++;
    this.stats.advances++;
    this.advance(Math.max(target, this.now()));
    const now = this.now();
    for (const c of this.clients) {
      c.idle = false;
      this.send(c, now);
    }
  }

  private send(c: Client, now: number): void {
    c.socket.write(JSON.stringify({ t: 'now', now }) + '\n');
  }

  /** Requests the emulator has received and not answered yet. */
  private openRequests(): number {
    const r = this.emu.requests;
    while (this.scanFrom < r.length && r[this.scanFrom].status !== 0) this.scanFrom++;
    let open = 0;
    for (let i = this.scanFrom; i < r.length; i++) if (r[i].status === 0) open++;
    return open;
  }
}
