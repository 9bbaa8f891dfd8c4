/**
 * @file The pure parts of access control (no Fastify): reading and checking TOKENS_FILE, parsing
 * the `Authorization` header, and finding the token a request presents.
 *
 * TOKENS_FILE is a JSON array, one entry per token:
 *   [{"name": "ci", "sha256": "<64 hex digits>", "scopes": ["inference", "evaluate"],
 *     "rate_limit": {"max": 100, "window": "1 minute"}}]          // rate_limit optional
 * Only the SHA-256 of a token is kept (in the file and in memory): the token itself is never stored,
 * logged or echoed. A bad file stops the service at start-up with a {@link TokensFileError} naming
 * the entry and the field.
 *
 * A presented token is hashed once and its digest compared with EVERY stored digest with
 * crypto.timingSafeEqual, without stopping at a match: the time taken does not depend on which
 * entry (if any) matches, nor on how many leading bytes agree.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config.js';
import { DURATION_FORM, parseDuration } from './duration.js';
import { SCOPES, type Principal, type Scope } from './scopes.js';

/** A per-token rate limit (overrides RATE_LIMIT_MAX / RATE_LIMIT_WINDOW for that token). */
export interface TokenRateLimit {
  max: number;
  /** Milliseconds; undefined = RATE_LIMIT_WINDOW. */
  windowMs: number | undefined;
}

/** One entry of TOKENS_FILE, checked. */
export interface TokenEntry {
  name: string;
  /** SHA-256 of the token (32 bytes). */
  digest: Buffer;
  scopes: readonly Scope[];
  rateLimit: TokenRateLimit | null;
  /** The caller a request with this token is (frozen, shared by all its requests). */
  principal: Principal;
}

/** TOKENS_FILE cannot be used: the message names the file, the entry and the field. */
export class TokensFileError extends ConfigError {
  constructor(file: string, detail: string) {
    super('TOKENS_FILE', `(${file}): ${detail}`);
  }
}

/** Token names: they become job owners, rate-limit keys and log fields. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;
const FIELDS = new Set(['name', 'sha256', 'scopes', 'rate_limit']);
/** Longest token accepted in a header (the ones we suggest are 43 or 64 characters). */
export const MAX_TOKEN_LENGTH = 512;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/**
 * Checks the text of a tokens file. Never echoes a `sha256` value (nor anything in a field that is
 * not one of ours: someone may have pasted a token there).
 * @throws TokensFileError naming the entry (`[2] "ci"`) and the field
 */
export function parseTokensFile(text: string, file: string): TokenEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new TokensFileError(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) throw new TokensFileError(file, `must be a JSON array of {"name", "sha256", "scopes"} (got ${describe(data)})`);
  if (data.length === 0) {
    throw new TokensFileError(file, 'lists no token: every protected route would answer 401; unset TOKENS_FILE to run without access control');
  }
  const entries: TokenEntry[] = [];
  const byName = new Map<string, number>();
  const byHash = new Map<string, number>();
  data.forEach((raw: unknown, i: number) => {
    const where = (field?: string): string => {
      const name = (raw as { name?: unknown } | null)?.name;
      const label = typeof name === 'string' && TOKEN_NAME_PATTERN.test(name) ? ` "${name}"` : '';
      return `entry [${i}]${label}${field ? `, field "${field}"` : ''}`;
    };
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TokensFileError(file, `${where()} must be an object (got ${describe(raw)})`);
    const e = raw as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!FIELDS.has(key)) throw new TokensFileError(file, `${where(key)} is not a known field (fields: name, sha256, scopes, rate_limit; the token itself never goes in this file, only its sha256)`);
    }
    if (typeof e.name !== 'string' || !TOKEN_NAME_PATTERN.test(e.name)) {
      throw new TokensFileError(file, `${where('name')} must be 1 to 64 characters [A-Za-z0-9._@:-], starting with a letter or digit (got ${typeof e.name === 'string' ? JSON.stringify(e.name.slice(0, 80)) : describe(e.name)})`);
    }
    const name = e.name;
    if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      const got = typeof e.sha256 === 'string' ? `${e.sha256.length} characters${/^[0-9a-fA-F]*$/.test(e.sha256) ? '' : ', not all hexadecimal'}` : describe(e.sha256);
      throw new TokensFileError(file, `${where('sha256')} must be the SHA-256 of the token as 64 hexadecimal digits (got ${got})`);
    }
    const hex = e.sha256.toLowerCase();
    if (!Array.isArray(e.scopes) || e.scopes.length === 0) {
      throw new TokensFileError(file, `${where('scopes')} must be a non-empty array of ${SCOPES.map((s) => `"${s}"`).join(', ')} (got ${Array.isArray(e.scopes) ? 'an empty array' : describe(e.scopes)})`);
    }
    const scopes: Scope[] = [];
    for (const s of e.scopes as unknown[]) {
      if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s)) {
        throw new TokensFileError(file, `${where('scopes')} has an unknown scope ${typeof s === 'string' ? JSON.stringify(s.slice(0, 40)) : describe(s)} (scopes: ${SCOPES.join(', ')})`);
      }
      if (scopes.includes(s as Scope)) throw new TokensFileError(file, `${where('scopes')} lists "${s}" twice`);
      scopes.push(s as Scope);
    }
    const rateLimit = e.rate_limit === undefined ? null : tokenRateLimit(e.rate_limit, file, where);
    const sameName = byName.get(name);
    if (sameName !== undefined) throw new TokensFileError(file, `${where('name')} duplicates the name of entry [${sameName}]: names must be unique (they own jobs and datasets)`);
    const sameHash = byHash.get(hex);
    if (sameHash !== undefined) throw new TokensFileError(file, `${where('sha256')} duplicates the sha256 of entry [${sameHash}]: one token, one entry`);
    byName.set(name, i);
    byHash.set(hex, i);
    entries.push({
      name, digest: Buffer.from(hex, 'hex'), scopes: Object.freeze(scopes), rateLimit,
      principal: Object.freeze({ name, scopes: Object.freeze([...scopes]) }),
    });
  });
  return entries;
}

function tokenRateLimit(raw: unknown, file: string, where: (field?: string) => string): TokenRateLimit {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TokensFileError(file, `${where('rate_limit')} must be an object {"max": N, "window": "1 minute"} (got ${describe(raw)})`);
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (key !== 'max' && key !== 'window') throw new TokensFileError(file, `${where(`rate_limit.${key}`)} is not a known field (fields: max, window)`);
  }
  if (typeof r.max !== 'number' || !Number.isSafeInteger(r.max) || r.max < 1) {
    throw new TokensFileError(file, `${where('rate_limit.max')} must be an integer >= 1 (requests per window) (got ${JSON.stringify(r.max) ?? 'nothing'})`);
  }
  let windowMs: number | undefined;
  if (r.window !== undefined) {
    windowMs = typeof r.window === 'string' ? parseDuration(r.window) : undefined;
    if (windowMs === undefined || windowMs < 1000 || windowMs > 86_400_000) {
      throw new TokensFileError(file, `${where('rate_limit.window')} must be ${DURATION_FORM}, from 1 s to 24 h (got ${JSON.stringify(r.window)})`);
    }
  }
  return { max: r.max, windowMs };
}

/** Reads and checks TOKENS_FILE. @throws TokensFileError (also when the file cannot be read) */
export async function loadTokensFile(file: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokensFileError(file, `cannot be read (${code ?? (err as Error).message})`);
  }
  return parseTokensFile(text, file);
}

/** What an `Authorization` header holds. */
export type Credentials =
  | { kind: 'none' }
  /** Present but not `Bearer <token>` (another scheme, several values, bad characters, too long). */
  | { kind: 'malformed' }
  | { kind: 'bearer'; token: string };

/** RFC 6750 b64token, at most MAX_TOKEN_LENGTH characters. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Parses the `Authorization` header (the scheme is case-insensitive, RFC 7235; one or more spaces
 * before the token). Several headers (an array) are malformed: which one counts would be a guess.
 */
export function parseAuthorization(header: string | string[] | undefined): Credentials {
  if (header === undefined) return { kind: 'none' };
  if (typeof header !== 'string' || header.length > MAX_TOKEN_LENGTH + 64) return { kind: 'malformed' };
  const m = BEARER.exec(header);
  if (!m || m[1]!.length > MAX_TOKEN_LENGTH) return { kind: 'malformed' };
  return { kind: 'bearer', token: m[1]! };
}

/** SHA-256 hex of a token (what TOKENS_FILE holds). */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Finds the entry of a presented token in constant time with respect to the stored digests. */
export class TokenVerifier {
  private readonly entries: readonly TokenEntry[];

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries;
  }

  /** The entry whose sha256 is the token's, or null. Compares with every entry, always. */
  verify(token: string): TokenEntry | null {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: TokenEntry | null = null;
    for (const entry of this.entries) {
      // no early exit: every digest is compared whether or not one matched already
      const equal = timingSafeEqual(digest, entry.digest);
      found = equal && found === null ? entry : found;
    }
    return found;
  }
}
