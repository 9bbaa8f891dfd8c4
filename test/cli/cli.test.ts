/**
 * The CLI as users run it: `node bin/maskrcnn-eval.js` (the compiled dist; rebuilt here when older
 * than the sources) spawned as a separate process against a real listening server (model mode over
 * the fixture images, progress on stderr as plain lines since stderr is a pipe, the HTML report
 * saved), in process without --server (detections mode), and the failure exits (job failure 1,
 * usage 2).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { listen, ROOT, testConfig } from '../helper.js';

const BIN = join(ROOT, 'bin/maskrcnn-eval.js');
const FIX = join(ROOT, 'test/fixtures/losses');
const N = (JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as { images: unknown[] }).images.length;

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** Runs the bin; resolves with exit code and output (async: the server lives in this process). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('maskrcnn-serve evaluate (bin, compiled)', () => {
  let app: FastifyInstance;
  let url: string;
  const tmp = mkdtempSync(join(tmpdir(), 'mrcnn-cli-test-'));
  before(async () => {
    const main = join(ROOT, 'dist/src/cli/main.js');
    let built = 0;
    try { built = statSync(main).mtimeMs; } catch { /* not built */ }
    if (built < newest(join(ROOT, 'src'))) {
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}${r.stderr}`);
    }
    app = await buildApp(testConfig({ WARMUP: 'false' }), { logger: false });
    url = await listen(app);
  });
  after(async () => {
    await app?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('--server: submits a job, shows progress, prints the COCO lines, the per-class table and the losses, saves the report', async () => {
    const report = join(tmp, 'report.html');
    const json = join(tmp, 'result.json');
    const r = await run(['evaluate', '--server', url, '--images', join(FIX, 'images'), '--annotations', join(FIX, 'annotations.json'), '--report', report, '--json', json, '--poll-ms', '200']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^Evaluated ${N} images, \\d+ GT instances, \\d+ detections \\(model mode, job [0-9a-f-]{36}\\)$`));
    assert.equal(lines.filter((l) => /^ Average (Precision|Recall) +\((AP|AR)\) @\[ IoU=/.test(l)).length, 24, r.stdout);
    assert.match(r.stdout, /^\| class +\| gts \| dets \| recall \| ap +\|$/m);
    assert.match(r.stdout, /^\| mAP /m);
    assert.match(r.stdout, /^ {2}loss_mask +\d+\.\d{4} +\(detectron2 loss_mask, mmdetection loss_mask, Matterport mrcnn_mask_loss\)$/m);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(result.images, N);
    const ap = lines.find((l) => l.includes('(AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]'))!;
    assert.ok(ap.endsWith(`= ${(result.coco.bbox.stats[0] as number).toFixed(3)}`), ap);
    // stderr is a pipe: plain progress lines, no carriage returns or escape codes
    assert.match(r.stderr, new RegExp(`^progress: running \\(images\\) \\d+/${N} images`, 'm'));
    assert.match(r.stderr, new RegExp(`^progress: done ${N}/${N} images \\(100%\\)$`, 'm'));
    assert.doesNotMatch(r.stderr, /[\r\x1b]/);
    const html = readFileSync(report, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<canvas id="pr-bbox-iou_50"/); // PR curves, drawn by the inlined chart library
  });

  test('in process (no --server), detections mode', async () => {
    const dir = join(ROOT, 'test/fixtures/coco-eval');
    const r = await run(['evaluate', '--annotations', join(dir, 'gt.json'), '--detections', join(dir, 'dt_bbox.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(detections mode, job /);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith(' Average')).length, 12);
    assert.match(r.stdout, /Losses: none \(detections mode\)/);
  });

  test('failures exit non-zero with the reason', async () => {
    const usage = await run(['evaluate', '--images', FIX]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--annotations FILE is required/);
    assert.equal((await run(['frobnicate'])).code, 2);
    // a corrupt image: the job fails, the CLI says why
    const imgs = join(tmp, 'imgs');
    mkdirSync(imgs);
    const ann = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8'));
    const first = ann.images[0].file_name as string;
    writeFileSync(join(imgs, first), readFileSync(join(FIX, 'images', first)).subarray(0, 100));
    copyFileSync(join(FIX, 'images', ann.images[1].file_name), join(imgs, ann.images[1].file_name));
    const failed = await run(['evaluate', '--server', url, '--images', imgs, '--annotations', join(FIX, 'annotations.json'), '--poll-ms', '100']);
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stderr, /evaluation failed: MRC_ERR_IMAGE_DECODE: .* \(field image\[0\]\)/);
    assert.match(failed.stderr, new RegExp(`note: ${N - 2} annotated images are not in`));
    // unreachable server
    const down = await run(['evaluate', '--server', 'http://127.0.0.1:9', '--annotations', join(FIX, 'annotations.json'), '--images', join(FIX, 'images')]);
    assert.equal(down.code, 1);
  });
});
