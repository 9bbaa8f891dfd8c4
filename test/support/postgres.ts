/**
 * @file A throwaway PostgreSQL server for tests (store conformance, fault tests, crash and replica
 * tests): a fresh cluster in a temp dir, trust auth, listening on 127.0.0.1 on a free port (and a
 * Unix socket in the temp dir only), stopped and deleted on teardown (and on process exit, if a test
 * forgets).
 *
 * ```ts
 * import { postgresUnavailableReason, startPostgres } from '../support/postgres.js';
 * const skip = postgresUnavailableReason();        // null, or why tests must be skipped
 * const pg = await startPostgres();                 // initdb + pg_ctl start + CREATE DATABASE test
 * pg.url();                                         // postgres://postgres@127.0.0.1:<port>/test
 * const url = await pg.createDatabase();            // a fresh empty database per test
 * await pg.stop('immediate'); await pg.start();    // crash + recovery, same port and data
 * await pg.restart();                               // fast stop + start
 * await pg.teardown();                              // stop + rm -rf
 * ```
 *
 * Binaries: $PG_BIN, else the newest /usr/lib/postgresql/<v>/bin (Debian), else `pg_config
 * --bindir`, else PATH. PostgreSQL refuses to run as root: as root (CI) every binary runs through
 * `runuser -u postgres --` and the temp dir is chowned to the `postgres` user; as any other user
 * they run as that user.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A running (or stopped) throwaway server. */
export interface PostgresServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** PGDATA. */
  readonly dataDir: string;
  /** Whether the server is running (as far as this handle knows). */
  readonly running: boolean;
  /** URL of `database` (default `test`, created at start). User `postgres`, no password. */
  url(database?: string): string;
  /** Creates an empty database (default name: unique) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server: `fast` (clean) or `immediate` (like a crash: recovery at the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** stop(mode) + start(). */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops it (if running) and deletes the temp dir. Idempotent. */
  teardown(): Promise<void>;
  /** The server log so far (for assertion messages). */
  log(): string;
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /** fsync (default false: a throwaway cluster; crash tests that need durability across an OS crash set true). */
  fsync?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

function findBinDir(): string | null {
  const has = (dir: string): boolean => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  if (process.env.PG_BIN) return has(process.env.PG_BIN) ? process.env.PG_BIN : null;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => has(join(root, v, 'bin'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (has(dir)) return dir;
  } catch { /* no pg_config */ }
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && has(dir)) return dir;
  return null;
}

const isRoot = (): boolean => process.getuid?.() === 0;

function postgresIds(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

function hasRunuser(): boolean {
  return spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** Null when {@link startPostgres} can run here, else why not (pass to `{ skip }`). */
export function postgresUnavailableReason(): string | null {
  if (!findBinDir()) return 'PostgreSQL binaries not found (set PG_BIN, or install postgresql: initdb/pg_ctl)';
  if (isRoot()) {
    if (!postgresIds()) return 'running as root and there is no "postgres" OS user to run PostgreSQL as';
    if (!hasRunuser()) return 'running as root and runuser (util-linux) is missing';
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** argv to run a PostgreSQL binary as the right OS user. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

function run(bin: string, args: string[]): Promise<string> {
  const [file, argv] = asPostgres(bin, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    // 'exit', not 'close': a daemon that kept the pipes open must not hang the caller.
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${[file, ...argv].join(' ')} exited with ${code ?? signal}:\n${out}`));
    });
  });
}

let counter = 0;

/** Starts a fresh server (initdb, pg_ctl start, CREATE DATABASE test). */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const reason = postgresUnavailableReason();
  if (reason) throw new Error(`cannot start PostgreSQL: ${reason}`);
  const bin = findBinDir()!;
  // As root the postgres user must be able to reach the dir: /tmp (1777), not a private TMPDIR.
  const base = mkdtempSync(join(isRoot() ? '/tmp' : tmpdir(), 'mrcnn-pg-'));
  const dataDir = join(base, 'data');
  const logFile = join(base, 'server.log');
  if (isRoot()) {
    const ids = postgresIds()!;
    chownSync(base, ids.uid, ids.gid);
  }
  await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync']);

  let port = 0;
  let running = false;
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1', unix_socket_directories: base, fsync: options.fsync ? 'on' : 'off',
    max_connections: 100, ...options.settings,
  };
  const pgCtl = join(bin, 'pg_ctl');
  const start = async (): Promise<void> => {
    const opts = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}='${String(v)}'`)].join(' ');
    await run(pgCtl, ['start', '-D', dataDir, '-w', '-t', '60', '-l', logFile, '-o', opts]);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    await run(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
    running = false;
  };
  const onExit = (): void => {
    // Last resort when a test process ends without teardown: never leave a server behind.
    const [file, argv] = asPostgres(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
    if (running) spawnSync(file, argv, { stdio: 'ignore' });
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await start();
        break;
      } catch (err) {
        if (attempt >= 3) throw err; // the port may have been taken between freePort() and start
      }
    }
  } catch (err) {
    onExit();
    process.off('exit', onExit);
    throw err;
  }

  const url = (database = 'test'): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const createDatabase = async (name = `t${process.pid}_${++counter}_${Date.now().toString(36)}`): Promise<string> => {
    const client = new pg.Client({ connectionString: url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    } finally {
      await client.end();
    }
    return url(name);
  };
  await createDatabase('test');

  let tornDown = false;
  return {
    host: '127.0.0.1',
    get port() { return port; },
    dataDir,
    get running() { return running; },
    url,
    createDatabase,
    stop,
    start,
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      if (running) await stop('fast').catch(() => stop('immediate')).catch(() => {});
      process.off('exit', onExit);
      rmSync(base, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
}
