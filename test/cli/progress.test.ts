/**
 * CLI progress display: on a TTY one bar redrawn in place (carriage return + erase line, bar, count,
 * percentage, ETA); elsewhere plain lines, one per change, without control characters. And the
 * text format of a result (12 pycocotools lines per IoU type, mmdetection table, losses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { formatResult } from '../../src/cli/format.js';
import { formatSeconds, ProgressBar } from '../../src/cli/progress.js';

function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  let out = '';
  const w = new Writable({ write(chunk: Buffer, _e, cb) { out += chunk.toString(); cb(); } }) as Writable & { isTTY: boolean; columns: number; text: () => string };
  w.isTTY = isTTY;
  w.columns = 100;
  w.text = () => out;
  return w;
}

test('TTY: a bar redrawn in place', () => {
  const s = sink(true);
  const bar = new ProgressBar(s, 10);
  bar.update({ status: 'running', phase: 'images', done: 5, total: 10, eta: 65 });
  bar.update({ status: 'running', phase: 'images', done: 10, total: 10, eta: 0 });
  bar.end();
  const text = s.text();
  assert.match(text, /^\r\x1b\[2K\[█████░░░░░\] 5\/10 {2}50% {2}ETA 1m05s/);
  assert.match(text, /\r\x1b\[2K\[██████████\] 10\/10 100%/);
  assert.ok(text.endsWith('\n'));
});

test('not a TTY: plain lines, one per change', () => {
  const s = sink(false);
  const bar = new ProgressBar(s);
  for (const done of [0, 1, 1, 2]) bar.update({ status: 'running', phase: 'images', done, total: 4, eta: done ? 3 : null });
  bar.update({ status: 'done', phase: 'finished', done: 4, total: 4, eta: null });
  bar.end();
  assert.equal(s.text(), [
    'progress: running (images) 0/4 images (0%)',
    'progress: running (images) 1/4 images (25%), ETA 3s',
    'progress: running (images) 2/4 images (50%), ETA 3s',
    'progress: done 4/4 images (100%)', '',
  ].join('\n'));
  assert.equal(formatSeconds(3725), '1h02m');
});

test('formatResult: COCO lines with -1 for null, the mmdetection table, losses', () => {
  const text = formatResult({
    images: 1,
    coco: { bbox: { stats: [0.5, 1, 0, null, null, 0.5, 0.5, 0.5, 0.5, null, null, 0.5] } },
    voc: { iou_thr: 0.5, mode: 'area', classes: [{ class: 'square', gts: 1, dets: 2, recall: 1, ap: 1 }], mAP: 1 },
    losses: { sampling: 'expected', mean: { loss_objectness: 0.1, loss_rpn_box_reg: 0.2, loss_classifier: 0.3, loss_box_reg: 0.4, loss_mask: 0.5, loss: 1.5 }, aliases: {} },
    warnings: [{ path: 'annotations.images', message: '1 of 2 annotated images were not uploaded' }],
    counts: { images: 1, gt_instances: 1, detections: 2 },
  }, 'header');
  assert.match(text, /^ Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= small \| maxDets=100 \] = -1\.000$/m);
  assert.match(text, /^\| square \| 1 {3}\| 2 {4}\| 1\.000 {2}\| 1\.000 \|$/m);
  assert.match(text, /^ {2}loss {14}1\.5000$/m);
  assert.match(text, /Warnings:\n {2}annotations\.images: 1 of 2/);
});
