/**
 * @file Helpers of the access-control tests: token sets written to a TOKENS_FILE, a bare Fastify
 * app with only the auth plugin and the error handlers (no model: fast), a log capture stream.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { SCOPES, type Scope } from '../../src/auth/scopes.js';
import { tokenSha256 } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { installErrorHandlers } from '../../src/errors.js';
import authPlugin from '../../src/plugins/auth.js';
import type { AfterHook } from '../helper.js';

/** One token of a test: its name, its secret and what TOKENS_FILE says of it. */
export interface TestToken {
  name: string;
  secret: string;
  scopes: Scope[];
  rate_limit?: { max: number; window?: string };
}

/** A fresh random token secret (base64url, like the one docs/security.md suggests). */
export function secret(): string {
  return randomBytes(32).toString('base64url');
}

export function token(name: string, scopes: Scope[], extra: Partial<TestToken> = {}): TestToken {
  return { name, secret: secret(), scopes, ...extra };
}

/** For every scope S: `only-S` (just S) and `except-S` (every scope but S). */
export function matrixTokens(): Map<string, TestToken> {
  const out = new Map<string, TestToken>();
  for (const s of SCOPES) {
    out.set(`only-${s}`, token(`only-${s}`, [s]));
    out.set(`except-${s}`, token(`except-${s}`, SCOPES.filter((x) => x !== s)));
  }
  return out;
}

let dir: string | null = null;

/** Writes a TOKENS_FILE for these tokens (only their sha256) and returns its path. */
export function writeTokensFile(tokens: Iterable<TestToken>): string {
  if (!dir) {
    const d = mkdtempSync(join(tmpdir(), 'mrcnn-auth-'));
    dir = d;
    process.once('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  const file = join(dir, `tokens-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify([...tokens].map((t) => ({
    name: t.name, sha256: tokenSha256(t.secret), scopes: t.scopes, ...(t.rate_limit ? { rate_limit: t.rate_limit } : {}),
  })), null, 2));
  return file;
}

export const bearer = (t: TestToken): Record<string, string> => ({ authorization: `Bearer ${t.secret}` });

/** Collects every log line (JSON) a pino logger writes. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    done();
  }

  get text(): string {
    return this.lines.join('\n');
  }

  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/**
 * A bare app: configuration from `env`, the error handlers, the auth plugin, and routes added by
 * `routes` (each must declare its scope). No model, no store.
 */
export async function bareApp(t: AfterHook, env: Record<string, string>, routes: (app: FastifyInstance) => void | Promise<void>, logger: FastifyServerOptions['logger'] = false): Promise<FastifyInstance> {
  const app = Fastify({ logger });
  app.decorate('config', loadConfig({ LOG_LEVEL: 'silent', ...env }));
  installErrorHandlers(app);
  await app.register(authPlugin);
  await routes(app);
  await app.ready();
  t.after(() => app.close());
  return app;
}
