/*
 * Core endpoints that `sf org login access-token`, @salesforce/core and the plugin call:
 * userinfo, User, SOQL for ScratchOrgInfo/Organization, tooling SandboxProcess,
 * the version list, the resource map, /limits and sObject describe.
 */
import { HttpError, Router, sendError, sendJson } from './http.js';
import type { Emulator } from './server.js';

export function registerOrgRoutes(router: Router, emu: Emulator): void {
  const a = emu.config.auth;

  router.on('GET', '/services/oauth2/userinfo', ({ res }) =>
    sendJson(res, 200, {
      sub: `${emu.url}/id/${a.orgId}/${a.userId}`,
      user_id: a.userId,
      organization_id: a.orgId,
      preferred_username: a.username,
      name: 'Emulator User',
      email: a.username,
    })
  );

  router.on('GET', '/services/data', ({ res }) =>
    sendJson(
      res,
      200,
      emu.config.apiVersions.map((version) => ({ label: `v${version}`, url: `/services/data/v${version}`, version }))
    )
  );

  router.on('GET', '{v}', ({ res, apiVersion }) => {
    const base = `/services/data/v${apiVersion}`;
    sendJson(res, 200, {
      sobjects: `${base}/sobjects`,
      query: `${base}/query`,
      limits: `${base}/limits`,
      jobs: `${base}/jobs`,
      tooling: `${base}/tooling`,
    });
  });

  router.on('GET', '{v}/sobjects/User/:id', ({ res, params, apiVersion }) => {
    if (params.id !== a.userId) throw new HttpError(404, 'NOT_FOUND', 'The requested resource does not exist');
    sendJson(res, 200, {
      attributes: { type: 'User', url: `/services/data/v${apiVersion}/sobjects/User/${a.userId}` },
      Id: a.userId,
      Username: a.username,
    });
  });

  router.on('GET', '{v}/query', ({ res, query, apiVersion }) => {
    const q = query.get('q') ?? '';
    if (/FROM\s+ScratchOrgInfo/i.test(q)) {
      sendError(res, 400, 'INVALID_TYPE', "sObject type 'ScratchOrgInfo' is not supported.");
      return;
    }
    if (/FROM\s+Organization/i.test(q)) {
      sendJson(res, 200, {
        totalSize: 1,
        done: true,
        records: [
          {
            attributes: { type: 'Organization', url: `/services/data/v${apiVersion}/sobjects/Organization/${a.orgId}` },
            Name: 'Emulator Org',
            InstanceName: 'EMU1',
            IsSandbox: false,
            TrialExpirationDate: null,
            NamespacePrefix: null,
            OrganizationType: 'Developer Edition',
          },
        ],
      });
      return;
    }
    sendError(res, 400, 'MALFORMED_QUERY', 'The emulator answers only the SOQL queries that the sf CLI sends at login.');
  });

  router.on('GET', '{v}/tooling/query', ({ res }) => sendJson(res, 200, { totalSize: 0, done: true, records: [] }));

  router.on('GET', '{v}/limits', ({ res }) => sendJson(res, 200, emu.limits.toJSON()));

  router.on('GET', '{v}/sobjects/:object/describe', ({ res, params }) => {
    const def = findSObject(emu, params.object);
    if (!def) throw new HttpError(404, 'NOT_FOUND', 'The requested resource does not exist');
    sendJson(res, 200, {
      name: def.name,
      label: def.label ?? def.name,
      custom: def.name.endsWith('__c'),
      createable: true,
      updateable: true,
      queryable: true,
      fields: def.fields.map((f) => ({
        name: f.name,
        label: f.label ?? f.name,
        type: f.type,
        externalId: f.externalId ?? false,
        idLookup: f.idLookup ?? (f.externalId === true || f.type === 'id'),
        unique: f.unique ?? false,
        nillable: f.nillable ?? f.type !== 'id',
        createable: f.createable ?? f.type !== 'id',
        updateable: f.updateable ?? f.type !== 'id',
        length: f.length ?? (f.type === 'string' ? 255 : 0),
        referenceTo: f.referenceTo ?? [],
        relationshipName: f.relationshipName ?? null,
        caseSensitive: f.caseSensitive ?? false,
      })),
    });
  });
}

/** sObject names are case-insensitive in Salesforce. */
export function findSObject(emu: Emulator, name: string): import('./config.js').SObjectDef | undefined {
  const key = Object.keys(emu.config.sobjects).find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? emu.config.sobjects[key] : undefined;
}
