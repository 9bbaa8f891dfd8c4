/**
 * tools/model/run-graph.ts (what tools/model/verify.py reads): the real server on models/shapes through
 * its public HTTP API, one JSON line per image. Checked against torchvision's own numbers for the same
 * images (test/fixtures/losses/index.json, written by tools/model/make_fixtures.py on the same weights):
 * the five losses in both sampling modes within 1e-4 relative (or 1e-6 absolute, the floor of
 * test/losses/end-to-end.test.ts), the detections (labels, boxes within 1e-2 px, scores within 1e-3),
 * RLE masks of the image's size, GT masks as compressed RLE, and the --outputs / --rgb-dir extras.
 * Python is not needed. Skipped when the model or the fixtures are absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, 'models', 'shapes');
const FIX = join(ROOT, 'test', 'fixtures', 'losses');
const available = existsSync(join(MODEL, 'model.onnx')) && existsSync(join(FIX, 'index.json'));
const CASES = ['sq-320.png', 'r-202x154.png', 'empty-128.png'];
const LOSSES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'];

interface Line {
  file_name: string; width: number; height: number;
  instances: Array<{ category_id: number; score: number; bbox: number[]; segmentation: { size: number[]; counts: string } }>;
  losses: Record<string, Record<string, number>>;
  gt: Array<{ category_id: number; bbox: number[]; counts: string }>;
  outputs?: Record<string, { dims: number[]; dtype: string; b64: string }>;
}

describe('tools/model/run-graph.ts', { skip: !available && 'models/shapes or test/fixtures/losses absent' }, () => {
  it('reports the service\'s detections and losses, equal to torchvision\'s on the fixture images', () => {
    const work = mkdtempSync(join(tmpdir(), 'run-graph-'));
    try {
      const coco = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as { images: Array<{ id: number; file_name: string }>; annotations: Array<{ image_id: number }>; categories: unknown[] };
      const images = coco.images.filter((i) => CASES.includes(i.file_name));
      const ids = new Set(images.map((i) => i.id));
      const ann = join(work, 'annotations.json');
      writeFileSync(ann, JSON.stringify({ images, annotations: coco.annotations.filter((a) => ids.has(a.image_id)), categories: coco.categories }));
      const rgb = join(work, 'rgb');
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools', 'model', 'run-graph.ts'), '--model', MODEL,
        '--images', join(FIX, 'images'), '--annotations', ann, '--outputs', 'proposals,image_size', '--rgb-dir', rgb], {
        cwd: ROOT, encoding: 'utf8', timeout: 300_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
      assert.deepEqual(lines.map((l) => l.file_name), images.map((i) => i.file_name));
      const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as {
        cases: Array<{ file_name: string; gt_count: number; resized: number[]; losses: Record<string, Record<string, number>>; detections: { boxes: number[][]; labels: number[]; scores: number[] } }>;
      };
      for (const line of lines) {
        const fc = index.cases.find((c) => c.file_name === line.file_name)!;
        for (const mode of ['all', 'expected']) {
          for (const k of LOSSES) {
            const a = line.losses[mode]![k]!, b = fc.losses[mode]![k]!;
            assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(b) || Math.abs(a - b) <= 1e-6, `${line.file_name} ${mode} ${k}: service ${a}, torchvision ${b}`);
          }
        }
        const want = fc.detections.scores.map((s, i) => ({ s, l: fc.detections.labels[i]!, b: fc.detections.boxes[i]! }))
          .sort((p, q) => q.s - p.s).slice(0, 100);
        assert.equal(line.instances.length, want.length, line.file_name);
        line.instances.forEach((inst, i) => {
          const w = want[i]!;
          assert.equal(inst.category_id, w.l);
          assert.ok(Math.abs(inst.score - w.s) <= 1e-3);
          const xyxy = [inst.bbox[0]!, inst.bbox[1]!, inst.bbox[0]! + inst.bbox[2]!, inst.bbox[1]! + inst.bbox[3]!];
          xyxy.forEach((v, j) => assert.ok(Math.abs(v - w.b[j]!) <= 1e-2, `${line.file_name} box ${i}: ${xyxy} vs ${w.b}`));
          assert.deepEqual(inst.segmentation.size, [line.height, line.width]);
          assert.equal(typeof inst.segmentation.counts, 'string');
        });
        assert.equal(line.gt.length, fc.gt_count);
        for (const g of line.gt) assert.ok(typeof g.counts === 'string' && g.counts.length > 0);
        const size = line.outputs!.image_size!;
        assert.deepEqual(size.dims, [2]);
        assert.deepEqual([...new BigInt64Array(new Uint8Array(Buffer.from(size.b64, 'base64')).buffer)].map(Number), fc.resized);
        assert.equal(line.outputs!.proposals!.dims[1], 4);
        assert.equal(statSync(join(rgb, `${line.file_name}.rgb`)).size, line.width * line.height * 3);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('fails with one line on stderr for a folder that is not a model', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools', 'model', 'run-graph.ts'), '--model', join(ROOT, 'test'),
      '--images', join(FIX, 'images'), '--annotations', join(FIX, 'annotations.json')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^run-graph: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
