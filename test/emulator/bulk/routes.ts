/*
 * Bulk API 2.0 ingest endpoints (salesforce-api.md §2). The state machine and the lock
 * model live in service.ts; this file only maps HTTP onto it.
 *
 *   POST   {v}/jobs/ingest                    create (JobInfo)
 *   GET    {v}/jobs/ingest[?jobType=&queryLocator=]   list, paged by nextRecordsUrl
 *   GET    {v}/jobs/ingest/:id                job info
 *   PATCH  {v}/jobs/ingest/:id                {"state":"UploadComplete"|"Aborted"}
 *   DELETE {v}/jobs/ingest/:id                204 (UploadComplete, JobComplete, Aborted, Failed only)
 *   PUT    {v}/jobs/ingest/:id/batches        the one upload (≤ bulk.maxUploadBytes, else 400)
 *   GET    {v}/jobs/ingest/:id/successfulResults | failedResults | unprocessedrecords
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, Router, sendCsv, sendEmpty, sendJson } from '../http.js';
import type { Emulator } from '../server.js';
import type { ResultKind } from './service.js';

export function registerBulkRoutes(router: Router, emu: Emulator): void {
  const base = '{v}/jobs/ingest';

  router.on('POST', base, async (ctx) => {
    const body = await ctx.json<unknown>();
    sendJson(ctx.res, 200, emu.bulk.createJob(body, ctx.apiVersion ?? emu.config.apiVersions.at(-1)!));
  });

  router.on('GET', base, ({ res, query, apiVersion }) =>
    sendJson(res, 200, emu.bulk.list({ jobType: query.get('jobType'), queryLocator: query.get('queryLocator') }, apiVersion ?? emu.config.apiVersions.at(-1)!))
  );

  router.on('GET', `${base}/:id`, ({ res, params }) => sendJson(res, 200, emu.bulk.info(params.id)));

  router.on('PATCH', `${base}/:id`, async (ctx) => {
    const body = await ctx.json<unknown>();
    sendJson(ctx.res, 200, emu.bulk.patchState(ctx.params.id, body));
  });

  router.on('DELETE', `${base}/:id`, ({ res, params }) => {
    emu.bulk.deleteJob(params.id);
    sendEmpty(res, 204);
  });

  router.on('PUT', `${base}/:id/batches`, async (ctx) => {
    const data = await readLimited(ctx.req, emu.config.bulk.maxUploadBytes);
    if (data === undefined) {
      throw new HttpError(400, 'INVALIDBATCH', `InvalidBatch : The upload exceeds the maximum size of ${emu.config.bulk.maxUploadBytes} bytes`);
    }
    emu.bulk.upload(ctx.params.id, data);
    sendEmpty(ctx.res, 201);
  });

  for (const kind of ['successfulResults', 'failedResults', 'unprocessedrecords'] as ResultKind[]) {
    router.on('GET', `${base}/:id/${kind}`, ({ res, params }) => sendCsv(res, 200, emu.bulk.results(params.id, kind)));
  }
}

/** Read a (possibly chunked) body; undefined when it is longer than `max` (the rest is drained). */
function readLimited(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
      } else if (!over) chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
