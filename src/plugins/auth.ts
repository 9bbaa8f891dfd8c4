/**
 * @file Access control: bearer tokens with scopes, and per-token rate limits (docs/security.md).
 *
 * - Tokens come from TOKENS_FILE (src/auth/tokens.ts: checked at start-up, only their SHA-256 is
 *   kept). Without TOKENS_FILE the service is open: a warning at start-up, `"auth": "off"` in
 *   /health/ready, and every request's `request.principal` is ANONYMOUS (all scopes, no name).
 * - Every route declares its access in its options, `config: { scope }` (src/auth/scopes.ts). The
 *   `onRoute` hook here refuses, at start-up, a route that declares none (so a new route cannot be
 *   open by accident), gives the routes of Swagger UI (`publicPrefixes`, /docs) the access `public`,
 *   and documents each operation's `security` (and its 401/403/429 answers) for the OpenAPI document.
 *   Register this plugin before every other plugin that adds routes (metrics, swagger, the routes).
 * - One `onRequest` hook, in this order: who is calling (`request.principal`), the rate limit
 *   (@fastify/rate-limit's counter, keyed by the token name, or by the client address when there is
 *   no valid token; the health probes are exempt), then the route's scope: no or unknown token →
 *   401 MRC_ERR_UNAUTHORIZED with `WWW-Authenticate`, a token without the scope → 403
 *   MRC_ERR_FORBIDDEN naming the scope, too many requests → 429 MRC_ERR_RATE_LIMITED with
 *   Retry-After. Public routes never need a token (an invalid one is ignored there).
 * - Whatever a request creates is owned by `ownerOf(request)`; the use cases filter reads by it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { Errors, sendError, withField } from '../errors.js';
import { errorResponses } from '../schemas/common.js';
import { ANONYMOUS, ROUTE_ACCESS, UNAUTHENTICATED, type Principal, type RouteAccess, type Scope } from '../auth/scopes.js';
import { loadTokensFile, parseAuthorization, TokenVerifier, type TokenEntry } from '../auth/tokens.js';

/** The realm of every `WWW-Authenticate` challenge. */
export const REALM = 'maskrcnn-serve';
/** Routes exempt from rate limits: the liveness and readiness probes (/health/*, /v2/health/*). */
export const HEALTH_ROUTE = /^(\/v2)?\/health\//;
/** The OpenAPI security scheme name (src/plugins/swagger.ts declares it). */
export const SECURITY_SCHEME = 'bearerAuth';

export interface AuthPluginOptions {
  /**
   * URL prefixes of routes that other plugins register without a scope and that are public:
   * Swagger UI's page, assets and the OpenAPI JSON/YAML (default ['/docs']).
   */
  publicPrefixes?: readonly string[];
  /** Use these tokens instead of reading TOKENS_FILE (tests, embedding); null = access control off. */
  tokens?: readonly TokenEntry[] | null;
}

/** One route and the access it declared (the route table the auth tests walk). */
export interface RouteAccessEntry {
  method: string;
  url: string;
  scope: RouteAccess;
}

/** What the rest of the app may know about access control. */
export interface AuthState {
  /** Tokens are required (TOKENS_FILE was given). */
  readonly enabled: boolean;
  /** Every route registered after this plugin, with its access. */
  readonly routes: readonly RouteAccessEntry[];
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthState;
  }
}

interface Limit { max: number; windowMs: number }

/** Adds `security` and the 401/403/429 answers to a route's schema (public: `security: []`). */
function documentAccess(route: RouteOptions, scope: RouteAccess): void {
  const schema = route.schema as (Record<string, unknown> & { hide?: boolean; response?: Record<string | number, unknown> }) | undefined;
  if (!schema || schema.hide) return;
  if (scope === 'public') {
    route.schema = { ...schema, security: [] };
    return;
  }
  const errors = errorResponses(401, 403, 429);
  const response = { ...errors, ...schema.response }; // the route's own 429 (e.g. too many jobs) wins
  route.schema = { ...schema, security: [{ [SECURITY_SCHEME]: [scope] }], ...(schema.response ? { response } : {}) };
}

async function authPlugin(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const cfg = app.config.auth;
  const tokens = opts.tokens !== undefined ? opts.tokens : cfg.tokensFile ? await loadTokensFile(cfg.tokensFile) : null;
  const verifier = tokens ? new TokenVerifier(tokens) : null;
  const overrides = new Map((tokens ?? []).filter((t) => t.rateLimit).map((t) => [t.name, t.rateLimit!]));
  if (verifier) {
    app.log.info({ tokens: tokens!.length, file: cfg.tokensFile ?? null, metrics_auth: cfg.metricsAuth }, 'access control on');
  } else {
    app.log.warn('access control is OFF (TOKENS_FILE is not set): every route is open to anyone who can reach this port; see docs/security.md');
  }

  // --- the route table: every route declares its access ---
  const publicPrefixes = opts.publicPrefixes ?? ['/docs'];
  const routes: RouteAccessEntry[] = [];
  app.decorate('auth', { enabled: verifier !== null, routes } satisfies AuthState);
  app.addHook('onRoute', (route) => {
    let scope = route.config?.scope;
    if (scope === undefined && publicPrefixes.some((p) => route.url === p || route.url.startsWith(`${p}/`))) {
      scope = 'public';
      route.config = { ...route.config, scope };
    }
    const methods = Array.isArray(route.method) ? route.method.join(',') : route.method;
    if (scope === undefined) {
      throw new Error(`Route ${methods} ${route.url} declares no access: add config: { scope: ${ROUTE_ACCESS.map((s) => `'${s}'`).join(' | ')} } to its options (src/auth/scopes.ts, docs/security.md)`);
    }
    if (!ROUTE_ACCESS.includes(scope)) throw new Error(`Route ${methods} ${route.url} declares an unknown scope "${String(scope)}" (one of ${ROUTE_ACCESS.join(', ')})`);
    documentAccess(route, scope);
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, url: route.url, scope });
  });

  // --- rate limits (@fastify/rate-limit's counters; the answer is ours, in the common error shape) ---
  const globalLimit: Limit | null = cfg.rateLimitMax > 0 ? { max: cfg.rateLimitMax, windowMs: cfg.rateLimitWindowMs } : null;
  const limitOf = (p: Principal | undefined): Limit | null => {
    const o = p?.name ? overrides.get(p.name) : undefined;
    return o ? { max: o.max, windowMs: o.windowMs ?? cfg.rateLimitWindowMs } : globalLimit;
  };
  await app.register(rateLimit, { global: false, cache: 10_000 });
  const limiter = app.createRateLimit({
    keyGenerator: (req) => (req.principal?.name ? `token:${req.principal.name}` : `ip:${normalizeIP(req.ip)}`),
    max: (req) => limitOf(req.principal)?.max ?? Number.MAX_SAFE_INTEGER,
    timeWindow: (req) => limitOf(req.principal)?.windowMs ?? cfg.rateLimitWindowMs,
  });
  const limitsApply = globalLimit !== null || overrides.size > 0;

  /** Counts the request; answers 429 when over the limit (returns the reply then). */
  async function checkRate(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const limit = limitOf(request.principal);
    if (!limit) return undefined;
    const r = await limiter(request);
    if (r.isAllowed) return undefined;
    const reset = Math.max(1, r.ttlInSeconds);
    reply.header('x-ratelimit-limit', r.max).header('x-ratelimit-remaining', r.remaining).header('x-ratelimit-reset', reset);
    if (!r.isExceeded) return undefined;
    const who = request.principal?.name ? `token "${request.principal.name}"` : 'this client address';
    request.log.info({ code: 'MRC_ERR_RATE_LIMITED', token: request.principal?.name ?? null, max: r.max, window_ms: limit.windowMs }, 'request rejected');
    const err = Object.assign(new Errors.RATE_LIMITED(`${r.max} requests per ${limit.windowMs / 1000} s for ${who}; retry in ${reset} s`), { retryAfter: reset });
    return sendError(reply, err);
  }

  const challenge = `Bearer realm="${REALM}"`;
  app.addHook('onRequest', async (request, reply) => {
    const scope: RouteAccess | undefined = request.routeOptions.config.scope ?? (request.is404 ? 'public' : undefined);
    const exempt = scope === 'public' && HEALTH_ROUTE.test(request.routeOptions.url ?? '');
    if (verifier === null) {
      request.principal = ANONYMOUS;
      return limitsApply && !exempt ? checkRate(request, reply) : undefined;
    }
    const credentials = parseAuthorization(request.headers.authorization);
    const entry = credentials.kind === 'bearer' ? verifier.verify(credentials.token) : null;
    request.principal = entry ? entry.principal : UNAUTHENTICATED;
    if (limitsApply && !exempt) {
      const limited = await checkRate(request, reply);
      if (limited) return limited;
    }
    if (scope === 'public') return undefined;
    if (!entry) {
      const reason = credentials.kind === 'none' ? 'missing' : credentials.kind === 'malformed' ? 'malformed' : 'unknown';
      request.log.info({ code: 'MRC_ERR_UNAUTHORIZED', reason }, 'request rejected');
      reply.header('www-authenticate', credentials.kind === 'none' ? challenge : `${challenge}, error="invalid_token"`);
      const message = credentials.kind === 'none'
        ? 'This route needs a token: send Authorization: Bearer <token>'
        : credentials.kind === 'malformed'
          ? 'The Authorization header is not "Bearer <token>" (one header, one token of letters, digits and -._~+/=)'
          : 'Unknown token';
      return sendError(reply, withField(new Errors.UNAUTHORIZED(message), 'headers.authorization'));
    }
    // a route that reached here without a scope cannot exist (onRoute refuses it): closed, not open
    const needed: Scope | undefined = scope;
    if (needed === undefined || !entry.scopes.includes(needed)) {
      request.log.info({ code: 'MRC_ERR_FORBIDDEN', token: entry.name, scope: needed ?? null }, 'request rejected');
      reply.header('www-authenticate', `${challenge}, error="insufficient_scope"${needed ? `, scope="${needed}"` : ''}`);
      return sendError(reply, withField(new Errors.FORBIDDEN(
        `This route needs the scope "${needed ?? '(undeclared)'}"; token "${entry.name}" has ${entry.scopes.map((s) => `"${s}"`).join(', ')}`,
      ), 'headers.authorization'));
    }
    return undefined;
  });
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x' });
