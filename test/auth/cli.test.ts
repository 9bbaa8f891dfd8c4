/**
 * @file The CLI against a service with access control: `--server` sends the token of
 * MASKRCNN_SERVE_TOKEN on every request (submit, poll, report); without it the refusal says what to
 * set. The CLI's `main` in this process, the service on a real listening server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { build, listen, ROOT } from '../helper.js';
import { token, writeTokensFile } from './support.js';

const FIX = join(ROOT, 'test/fixtures/coco-eval');

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('maskrcnn-serve evaluate --server with TOKENS_FILE', async () => {
  const evaluator = token('cli', ['evaluate']);
  const app = await build({ after }, { TOKENS_FILE: writeTokensFile([evaluator]) });
  const url = await listen(app);
  const tmp = mkdtempSync(join(tmpdir(), 'mrcnn-auth-cli-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const saved = process.env.MASKRCNN_SERVE_TOKEN;
  after(() => { if (saved === undefined) delete process.env.MASKRCNN_SERVE_TOKEN; else process.env.MASKRCNN_SERVE_TOKEN = saved; });
  const args = ['evaluate', '--server', url, '--annotations', join(FIX, 'gt.json'), '--detections', join(FIX, 'dt_bbox.json'), '--iou-types', 'bbox', '--poll-ms', '50'];

  it('without MASKRCNN_SERVE_TOKEN: exit 1, the 401 and what to set', async () => {
    delete process.env.MASKRCNN_SERVE_TOKEN;
    const io = { stdout: new Sink(), stderr: new Sink() };
    assert.equal(await main(args, io), 1);
    assert.match(io.stderr.text, /401 MRC_ERR_UNAUTHORIZED/);
    assert.match(io.stderr.text, /set MASKRCNN_SERVE_TOKEN/);
  });

  it('with it: the job is submitted, polled and its report fetched with the token', async () => {
    process.env.MASKRCNN_SERVE_TOKEN = evaluator.secret;
    const io = { stdout: new Sink(), stderr: new Sink() };
    const report = join(tmp, 'report.html');
    assert.equal(await main([...args, '--report', report], io), 0, io.stderr.text);
    assert.match(io.stdout.text, /Average Precision/);
    assert.match(readFileSync(report, 'utf8'), /<html/i);
  });
});
