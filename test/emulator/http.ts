/*
 * Tiny HTTP plumbing for the emulator: a router with path parameters, body reading
 * (plain and chunked), and the Salesforce error envelope. No Salesforce behaviour here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Ctx = {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path with repeated slashes collapsed, without the query string. */
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** API version from a /services/data/vNN.N/ path, if any. */
  apiVersion?: string;
  body(): Promise<Buffer>;
  json<T = unknown>(): Promise<T>;
};

export type Handler = (ctx: Ctx) => Promise<void> | void;

type Route = { method: string; pattern: RegExp; keys: string[]; handler: Handler };

export class Router {
  private readonly routes: Route[] = [];

  /**
   * Register a route. `path` uses `:name` segments; `{v}` at the start stands for
   * `/services/data/vNN.N` (any version).
   */
  public on(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const src = path
      .replace('{v}', '/services/data/v(?<apiVersion>\\d+\\.\\d)')
      .replace(/:([A-Za-z]+)/g, (_m, k: string) => {
        keys.push(k);
        return `(?<${k}>[^/]+)`;
      });
    this.routes.push({ method, pattern: new RegExp(`^${src}/?$`), keys, handler });
    return this;
  }

  public match(method: string, path: string): { handler: Handler; params: Record<string, string>; apiVersion?: string } | undefined {
    for (const r of this.routes) {
      if (r.method !== method && r.method !== '*') continue;
      const m = r.pattern.exec(path);
      if (!m) continue;
      const groups = m.groups ?? {};
      const params: Record<string, string> = {};
      for (const k of r.keys) params[k] = decodeURIComponent(groups[k]);
      return { handler: r.handler, params, apiVersion: groups.apiVersion };
    }
    return undefined;
  }
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers });
  res.end(text);
}

export function sendCsv(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/csv' });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** The Core REST error envelope: a JSON array of {message, errorCode}. */
export function sendError(res: ServerResponse, status: number, errorCode: string, message: string, fields?: string[]): void {
  sendJson(res, status, [{ message, errorCode, ...(fields ? { fields } : {}) }]);
}

export class HttpError extends Error {
  public constructor(public readonly status: number, public readonly errorCode: string, message: string) {
    super(message);
  }
}
