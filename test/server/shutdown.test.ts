/**
 * src/shutdown.ts without a process: signals and errors come from a plain EventEmitter, exit is
 * recorded. Graceful close → exit 0; an uncaught error → close, exit 1; a second signal or the
 * timeout → force() (which must finish before exit), exit 1, never twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { installShutdown, type ShutdownOptions } from '../../src/shutdown.js';

function harness(over: Partial<ShutdownOptions> & { closeMs?: number; forceMs?: number } = {}) {
  const emitter = new EventEmitter();
  const events: string[] = [];
  const exits: number[] = [];
  const lines: string[] = [];
  const sd = installShutdown({
    delayMs: 200,
    emitter,
    flushMs: 1,
    log: { info: (_o, m) => lines.push(m), error: (_o, m) => lines.push(m) },
    close: async () => { events.push('close:start'); await sleep(over.closeMs ?? 10); events.push('close:end'); },
    force: async () => { events.push('force:start'); await sleep(over.forceMs ?? 10); events.push('force:end'); },
    exit: (code) => { events.push(`exit:${code}`); exits.push(code); },
    ...over,
  });
  return { emitter, events, exits, lines, sd };
}

test('SIGTERM: graceful close, then exit 0', async () => {
  const h = harness();
  h.emitter.emit('SIGTERM', 'SIGTERM');
  await sleep(60);
  assert.deepEqual(h.events, ['close:start', 'close:end', 'exit:0']);
  assert.ok(h.lines.includes('shutdown complete'));
  h.sd.uninstall();
});

test('close outlasting delayMs: force() runs to its end before exit 1; the late close does not exit again', async () => {
  const h = harness({ closeMs: 400, forceMs: 50 });
  h.emitter.emit('SIGTERM', 'SIGTERM');
  await sleep(600);
  assert.deepEqual(h.events, ['close:start', 'force:start', 'force:end', 'exit:1', 'close:end']);
  assert.deepEqual(h.exits, [1]);
  assert.ok(h.lines.some((l) => /killed by timeout \(200 ms\)/.test(l)), h.lines.join('\n'));
  h.sd.uninstall();
});

test('a second signal forces at once (force before exit 1), a third changes nothing', async () => {
  const h = harness({ closeMs: 1000, delayMs: 5000, forceMs: 30 });
  h.emitter.emit('SIGINT', 'SIGINT');
  await sleep(5);
  h.emitter.emit('SIGTERM', 'SIGTERM');
  h.emitter.emit('SIGTERM', 'SIGTERM');
  await sleep(100);
  assert.deepEqual(h.events, ['close:start', 'force:start', 'force:end', 'exit:1']);
  assert.ok(h.lines.some((l) => /^second SIGTERM/.test(l)));
  h.sd.uninstall();
});

test('an uncaught error: logged, graceful close, exit 1', async () => {
  const h = harness();
  h.emitter.emit('uncaughtException', new Error('boom'));
  await sleep(60);
  assert.deepEqual(h.events, ['close:start', 'close:end', 'exit:1']);
  assert.ok(h.lines.includes('uncaught error: shutting down'));
  h.sd.uninstall();
});

test('close() failing exits 1; force() failing still exits 1', async () => {
  const a = harness({ close: async () => { throw new Error('x'); } });
  a.emitter.emit('SIGTERM', 'SIGTERM');
  await sleep(30);
  assert.deepEqual(a.exits, [1]);
  a.sd.uninstall();
  const b = harness({ close: () => new Promise(() => undefined), force: async () => { throw new Error('y'); }, delayMs: 20 });
  b.emitter.emit('SIGTERM', 'SIGTERM');
  await sleep(80);
  assert.deepEqual(b.exits, [1]);
  assert.ok(b.lines.includes('forced shutdown failed'));
  b.sd.uninstall();
});
