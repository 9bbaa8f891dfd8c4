/**
 * config.ts: defaults, env + CLI flag parsing, deep freeze, and fail-fast messages that name the
 * variable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ConfigError, flagsToEnv, loadConfig, parseBytes } from '../../src/config.js';

test('defaults', () => {
  const c = loadConfig({}, [], '/srv/app');
  assert.equal(c.port, 8080);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.modelDir, resolve('/srv/app', 'models'));
  assert.equal(c.modelName, 'shapes');
  assert.equal(c.executionProvider, 'auto');
  assert.equal(c.inferenceWorkers, 1);
  assert.ok(c.intraOpThreads >= 1);
  assert.equal(c.bodyLimit, 10 * 1024 * 1024);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.warmup, true);
});

test('env values are parsed; CLI flags win over env', () => {
  const c = loadConfig(
    { PORT: '9000', EXECUTION_PROVIDER: 'CPU', BODY_LIMIT: '2mb', EVAL_BODY_LIMIT: '1MiB', WARMUP: 'no', MODEL_DIR: '/m' },
    ['--port', '9100', '--model-name=other', '--intra-op-threads', '3'],
  );
  assert.equal(c.port, 9100);
  assert.equal(c.modelName, 'other');
  assert.equal(c.intraOpThreads, 3);
  assert.equal(c.executionProvider, 'cpu');
  assert.equal(c.bodyLimit, 2_000_000);
  assert.equal(c.evalBodyLimit, 1024 * 1024);
  assert.equal(c.warmup, false);
  assert.equal(c.modelDir, '/m');
  assert.deepEqual(flagsToEnv(['--log-level', 'debug']), { LOG_LEVEL: 'debug' });
});

test('the configuration is deep-frozen', () => {
  const c = loadConfig({});
  assert.ok(Object.isFrozen(c));
  assert.throws(() => { (c as { port: number }).port = 1; }, TypeError);
});

test('EXPECTED FAILURE - a bad value stops start-up with a message naming the variable', () => {
  const bad: Array<[Record<string, string>, string[], RegExp]> = [
    [{ PORT: 'abc' }, [], /PORT must be an integer in \[0, 65535\] \(got "abc"\)/],
    [{ PORT: '70000' }, [], /PORT must be an integer/],
    [{ EXECUTION_PROVIDER: 'tpu' }, [], /EXECUTION_PROVIDER must be one of auto\|cuda\|cpu \(got "tpu"\)/],
    [{ INFERENCE_WORKERS: '0' }, [], /INFERENCE_WORKERS must be an integer in \[1, 64\]/],
    [{ BODY_LIMIT: 'lots' }, [], /BODY_LIMIT must be a size/],
    [{ LOG_LEVEL: 'loud' }, [], /LOG_LEVEL must be one of/],
    [{ WARMUP: 'maybe' }, [], /WARMUP must be true\|false/],
    [{ MODEL_NAME: '../etc' }, [], /MODEL_NAME must be a plain folder name/],
    [{}, ['--no-such-flag'], /\(command line\)/],
    [{}, ['positional'], /\(command line\)/],
  ];
  for (const [env, argv, re] of bad) {
    assert.throws(() => loadConfig(env, argv), (err: Error) => err instanceof ConfigError && re.test(err.message), JSON.stringify(env) + argv.join(' '));
  }
});

test('parseBytes units', () => {
  assert.equal(parseBytes('1024'), 1024);
  assert.equal(parseBytes('10kb'), 10_000);
  assert.equal(parseBytes('10KiB'), 10_240);
  assert.equal(parseBytes('1.5m'), 1.5 * 1024 * 1024);
  assert.equal(parseBytes('10 parsecs'), undefined);
});
