/**
 * @file GET /dashboard: the dashboard page (evaluations over time, the comparison of two
 * evaluations, drift), and its static assets under /dashboard/assets/ — the page's ES module and
 * CSS (src/ui) and the chart library (Chart.js, with its licence). Everything is served by the
 * service itself: no CDN, works offline.
 *
 * The page and its assets hold no data and are `public` (a browser navigation cannot send a bearer
 * token); the page's own fetches of /evaluations, /datasets and /drift carry the token the user
 * types in (kept in sessionStorage) and are checked like any API call.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../errors.js';
import { errorResponses } from '../schemas/common.js';
import { chartLibrary, uiDir } from '../ui/assets.js';

/** The content security policy of the page: only this origin's scripts and data. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset { body: string | Buffer; type: string; cache: string }

/** Registers GET /dashboard and GET /dashboard/assets/:file. */
export default async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const dir = uiDir();
  const chart = chartLibrary();
  const chartFile = 'chart.umd.min.js';
  const html = readFileSync(join(dir, 'dashboard.html'), 'utf8')
    .replaceAll('{{CHART_JS}}', `/dashboard/assets/${chartFile}?v=${encodeURIComponent(chart.version)}`)
    .replaceAll('{{CHART_VERSION}}', chart.version);
  // The library is immutable per version (the page asks for ?v=<version>); the page's own files
  // change with the service and are revalidated.
  const assets = new Map<string, Asset>([
    [chartFile, { body: chart.js, type: 'text/javascript; charset=utf-8', cache: 'public, max-age=31536000, immutable' }],
    ['chart.js.LICENSE.md', { body: chart.license, type: 'text/markdown; charset=utf-8', cache: 'public, max-age=86400' }],
    ['dashboard.js', { body: readFileSync(join(dir, 'dashboard.js'), 'utf8'), type: 'text/javascript; charset=utf-8', cache: 'no-cache' }],
    ['dashboard.css', { body: readFileSync(join(dir, 'dashboard.css'), 'utf8'), type: 'text/css; charset=utf-8', cache: 'no-cache' }],
  ]);

  app.get('/dashboard', {
    config: { scope: 'public' },
    schema: {
      tags: ['dashboard'], summary: 'The dashboard page (HTML): evaluations over time, comparisons and drift', operationId: 'getDashboard',
      description: 'A static page (no data in it): its script fetches `/evaluations`, `/evaluations/series`, `/evaluations/{id}/compare/{other_id}`, '
        + '`/datasets`, `/models` and `/drift` with the bearer token typed into its token field (kept in sessionStorage). '
        + 'The chart library is served by the service (`/dashboard/assets/`): no CDN, works offline.',
      response: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string', contentMediaType: 'text/html' } } } }, ...errorResponses(500, 503) },
    },
  }, async (_request, reply) => reply
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .send(html));

  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', {
    config: { scope: 'public' },
    schema: {
      tags: ['dashboard'], summary: 'Static files of the dashboard: its script and CSS, Chart.js and its licence', operationId: 'getDashboardAsset',
      params: Type.Object({ file: Type.String({ maxLength: 64, description: [...assets.keys()].join(', ') }) }),
      response: {
        200: { description: 'The file', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } }, 'text/markdown': { schema: { type: 'string' } } } },
        ...errorResponses(404),
      },
    },
  }, async (request, reply) => {
    const a = assets.get(request.params.file);
    if (!a) throw new Errors.NOT_FOUND('GET', request.url);
    return reply.type(a.type).header('cache-control', a.cache).header('x-content-type-options', 'nosniff').send(a.body);
  });
}
