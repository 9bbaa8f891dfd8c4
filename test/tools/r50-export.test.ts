/**
 * The real-size torchvision R50-FPN exports (tools/model/export.py --arch maskrcnn_resnet50_fpn / _v2,
 * seeded random-init checkpoints) are 176-184 MB and not committed; their manifests and what their
 * ONNX graphs output for six image sizes are (test/tools/fixtures/r50-export.json, collected with
 * onnxruntime-node through tools/model/run-graph.ts). Checked without the graphs:
 * - the service accepts the manifests (parseManifest) and the loss constants are torchvision's
 *   defaults, consistent with the exporter's recorded settings;
 * - the service's resize rule (src/losses/transform.ts) gives the graph's image_size at 800/1333, and
 *   padded sizes are the next multiples of 32;
 * - the anchors the losses regenerate (src/losses/anchors.ts) for R50's sizes 32..512 and padded
 *   sizes up to 800x1344 have the graph's count and equal its rows at sampled indices (level
 *   boundaries included), so /evaluate's anchor check passes on such a model.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateAnchors } from '../../src/losses/anchors.js';
import { resizedSize } from '../../src/losses/transform.js';
import { parseManifest } from '../../src/pipeline/manifest.js';

interface Fixture {
  manifests: Record<string, Record<string, unknown> & { loss_constants: Record<string, unknown>; export: { arch: string; settings: Record<string, unknown> } }>;
  graph: Array<{ file_name: string; height: number; width: number; image_size: number[]; padded_size: number[]; anchors: number; objectness: number; anchor_rows: Record<string, number[]> }>;
}
const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'r50-export.json'), 'utf8')) as Fixture;

describe('real-size R50-FPN exports', () => {
  for (const [v, arch] of [['v1', 'maskrcnn_resnet50_fpn'], ['v2', 'maskrcnn_resnet50_fpn_v2']] as const) {
    it(`${arch}: the manifest parses and states torchvision's defaults`, () => {
      const raw = fx.manifests[v]!;
      const m = parseManifest(raw, `r50-${v}/manifest.json`);
      assert.equal(m.format, 'loss-capable');
      assert.deepEqual(m.classes, ['square', 'circle', 'triangle']);
      const c = raw.loss_constants;
      assert.equal(c.num_classes, 4);
      for (const [k, want] of Object.entries({
        min_size: 800, max_size: 1333, size_divisible: 32, anchor_sizes: [32, 64, 128, 256, 512], aspect_ratios: [0.5, 1, 2],
        image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], rpn_fg_iou: 0.7, rpn_bg_iou: 0.3,
        rpn_batch_size_per_image: 256, rpn_positive_fraction: 0.5, rpn_pre_nms_top_n: 1000, rpn_post_nms_top_n: 1000,
        rpn_nms_thresh: 0.7, rpn_score_thresh: 0, box_fg_iou: 0.5, box_bg_iou: 0.5, box_batch_size_per_image: 512,
        box_positive_fraction: 0.25, box_score_thresh: 0.05, box_nms_thresh: 0.5, box_detections_per_img: 100,
        rpn_reg_weights: [1, 1, 1, 1], bbox_reg_weights: [10, 10, 5, 5], mask_size: 28, roialign_aligned: false,
        pooler_scales: [0.25, 0.125, 0.0625, 0.03125], opset: 11,
      })) assert.deepEqual(c[k], want, k);
      assert.equal(raw.export.arch, arch);
      const s = raw.export.settings;
      assert.equal(s.min_size, c.min_size);
      assert.equal(s.max_size, c.max_size);
      assert.equal(s.box_detections_per_img, c.box_detections_per_img);
      assert.equal(s.rpn_batch_size_per_image, c.rpn_batch_size_per_image);
    });
  }

  it('resize, padding and anchors of the service equal the graph\'s at six real sizes', () => {
    assert.equal(fx.graph.length, 6);
    const c = fx.manifests.v1!.loss_constants as { anchor_sizes: number[]; aspect_ratios: number[] };
    for (const g of fx.graph) {
      assert.deepEqual(resizedSize(g.height, g.width, 800, 1333), g.image_size, `${g.file_name} resized`);
      assert.deepEqual(g.padded_size, g.image_size.map((x) => Math.ceil(x / 32) * 32), `${g.file_name} padded`);
      const anchors = generateAnchors(g.padded_size[0]!, g.padded_size[1]!, c.anchor_sizes, c.aspect_ratios);
      assert.equal(anchors.length / 4, g.anchors, `${g.file_name} anchor count`);
      assert.equal(g.objectness, g.anchors);
      for (const [i, row] of Object.entries(g.anchor_rows)) {
        assert.deepEqual([...anchors.subarray(Number(i) * 4, Number(i) * 4 + 4)], row, `${g.file_name} anchor ${i}`);
      }
    }
  });
});
