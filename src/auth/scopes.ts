/**
 * @file The access-control vocabulary shared by every route: the scopes a token can hold, what a
 * route declares it needs (`config: { scope }` in its route options), and who is calling
 * (`request.principal`, set by the auth plugin). Types and two tiny helpers only: no Fastify
 * plugin here (src/plugins/auth.ts enforces).
 *
 * Every route declares its access:
 *   app.get('/datasets', { config: { scope: 'evaluate' }, schema: … }, handler)
 * `public` = no token ever needed (health probes, the docs page). A route registered without a
 * scope is refused at start-up by the auth plugin, so a new route cannot be open by accident.
 */

/** What a token may do (TOKENS_FILE `scopes`). */
export type Scope = 'inference' | 'evaluate' | 'manage' | 'metrics';
export const SCOPES: readonly Scope[] = ['inference', 'evaluate', 'manage', 'metrics'];

/** What a route needs: a scope, or nothing at all. */
export type RouteAccess = Scope | 'public';
export const ROUTE_ACCESS: readonly RouteAccess[] = [...SCOPES, 'public'];

/** Who is calling. `name` is null when access control is off (no TOKENS_FILE): everyone is anonymous. */
export interface Principal {
  name: string | null;
  scopes: readonly Scope[];
}

/** The anonymous caller of a service without TOKENS_FILE. */
export const ANONYMOUS: Principal = Object.freeze({ name: null, scopes: SCOPES });

/** A caller without a valid token on a public route while access control is on: no scope at all. */
export const UNAUTHENTICATED: Principal = Object.freeze({ name: null, scopes: Object.freeze([]) as readonly Scope[] });

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope this route needs (src/auth/scopes.ts). */
    scope?: RouteAccess;
  }
  interface FastifyRequest {
    /** The caller (set by the auth plugin before the handler; ANONYMOUS when auth is off). */
    principal?: Principal;
  }
}

/**
 * The owner to record on what a request creates (jobs, datasets) and to filter what it may read:
 * the token's name, or null when access control is off (everything is visible to everyone).
 */
export function ownerOf(request: { principal?: Principal }): string | null {
  return request.principal?.name ?? null;
}
