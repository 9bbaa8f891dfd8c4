/**
 * Input validation: every invalid input gives an InputError whose path points at the offending value;
 * pycocotools-defined oddities give the pycocotools result plus a warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections, type EvaluateDetectionsInput } from '../../src/eval/index.js';
import { assertInputError } from './helpers.js';

/** A small valid request; each case below breaks one thing in a fresh copy. */
function base(): { gt: any; dt: any[] } {
  return {
    gt: {
      images: [{ id: 1, width: 10, height: 10 }, { id: 2, width: 10, height: 10 }],
      categories: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], area: 16, iscrowd: 0, segmentation: [[1, 1, 5, 1, 5, 5, 1, 5]] },
        { id: 2, image_id: 2, category_id: 2, bbox: [0, 0, 3, 3], area: 9, iscrowd: 0, segmentation: { size: [10, 10], counts: [0, 3, 7, 3, 7, 3, 77] } },
      ],
    },
    dt: [
      { image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], score: 0.9, segmentation: { size: [10, 10], counts: ';4600000a1' } },
      { image_id: 2, category_id: 2, bbox: [0, 0, 3, 3], score: 0.8, segmentation: { size: [10, 10], counts: [0, 3, 7, 3, 7, 3, 77] } },
    ],
  };
}

const run = (mutate: (b: ReturnType<typeof base>) => void, extra: Partial<EvaluateDetectionsInput> = {}) => () => {
  const b = base();
  mutate(b);
  return evaluateDetections({ groundTruth: b.gt, detections: b.dt, ...extra });
};

test('the base request is valid and evaluates both iou types', () => {
  const r = run(() => {})();
  assert.deepEqual(Object.keys(r.coco), ['bbox', 'segm']);
  assert.equal(r.coco.bbox!.stats[0], 1 / (1 + 2 ** -52));
  assert.deepEqual(r.warnings, []);
});

const cases: Array<[string, (b: ReturnType<typeof base>) => void, string, number?, Partial<EvaluateDetectionsInput>?]> = [
  ['ground truth not an object', (b) => { b.gt = [b.gt]; }, 'ground_truth', 400],
  ['images missing', (b) => { delete b.gt.images; }, 'ground_truth.images', 400],
  ['categories not an array', (b) => { b.gt.categories = {}; }, 'ground_truth.categories', 400],
  ['image id non-integer', (b) => { b.gt.images[0].id = 1.5; }, 'ground_truth.images[0].id', 422],
  ['image id a string', (b) => { b.gt.images[0].id = '1'; }, 'ground_truth.images[0].id', 400],
  ['duplicate image id', (b) => { b.gt.images[1].id = 1; }, 'ground_truth.images[1].id', 422],
  ['image height 0', (b) => { b.gt.images[0].height = 0; }, 'ground_truth.images[0].height', 422],
  ['image width NaN (plain object input)', (b) => { b.gt.images[1].width = NaN; }, 'ground_truth.images[1].width', 422],
  ['image width Infinity', (b) => { b.gt.images[1].width = Infinity; }, 'ground_truth.images[1].width', 422],
  ['duplicate category id', (b) => { b.gt.categories[1].id = 1; }, 'ground_truth.categories[1].id', 422],
  ['category name not a string', (b) => { b.gt.categories[0].name = 3; }, 'ground_truth.categories[0].name', 400],
  ['annotation not an object', (b) => { b.gt.annotations[1] = 5; }, 'ground_truth.annotations[1]', 400],
  ['annotation id negative', (b) => { b.gt.annotations[0].id = -1; }, 'ground_truth.annotations[0].id', 422],
  ['duplicate annotation id', (b) => { b.gt.annotations[1].id = 1; }, 'ground_truth.annotations[1].id', 422],
  ['iscrowd missing', (b) => { delete b.gt.annotations[0].iscrowd; }, 'ground_truth.annotations[0].iscrowd', 400],
  ['iscrowd 2', (b) => { b.gt.annotations[0].iscrowd = 2; }, 'ground_truth.annotations[0].iscrowd', 422],
  ['bbox with 3 numbers', (b) => { b.gt.annotations[0].bbox = [1, 2, 3]; }, 'ground_truth.annotations[0].bbox', 422],
  ['bbox negative width', (b) => { b.gt.annotations[1].bbox[2] = -3; }, 'ground_truth.annotations[1].bbox[2]', 422],
  ['bbox NaN', (b) => { b.gt.annotations[1].bbox[1] = NaN; }, 'ground_truth.annotations[1].bbox[1]', 422],
  ['area missing', (b) => { delete b.gt.annotations[0].area; }, 'ground_truth.annotations[0].area', 400],
  ['area negative', (b) => { b.gt.annotations[0].area = -1; }, 'ground_truth.annotations[0].area', 422],
  ['polygon with 2 points', (b) => { b.gt.annotations[0].segmentation = [[1, 1, 5, 1]]; }, 'ground_truth.annotations[0].segmentation[0]', 422],
  ['empty polygon list', (b) => { b.gt.annotations[0].segmentation = []; }, 'ground_truth.annotations[0].segmentation', 422],
  ['polygon coordinate a string', (b) => { b.gt.annotations[0].segmentation = [[1, 1, 5, '1', 5, 5]]; }, 'ground_truth.annotations[0].segmentation[0][3]', 400],
  ['uncompressed RLE negative count', (b) => { b.gt.annotations[1].segmentation.counts[1] = -3; }, 'ground_truth.annotations[1].segmentation.counts[1]', 422],
  ['uncompressed RLE short of h*w', (b) => { b.gt.annotations[1].segmentation.counts.pop(); }, 'ground_truth.annotations[1].segmentation.counts', 422],
  ['RLE size missing', (b) => { delete b.gt.annotations[1].segmentation.size; }, 'ground_truth.annotations[1].segmentation.size', 400],
  ['segmentation missing when segm is requested', (b) => { delete b.gt.annotations[0].segmentation; }, 'ground_truth.annotations[0].segmentation', 400, { iouTypes: ['segm'] }],
  ['detections not an array', (b) => { (b as any).dt = {}; }, 'detections', 400],
  ['detection not an object', (b) => { b.dt[1] = null; }, 'detections[1]', 400],
  ['detection on an unknown image', (b) => { b.dt[1].image_id = 99; }, 'detections[1].image_id', 422],
  ['detection image id missing', (b) => { delete b.dt[0].image_id; }, 'detections[0].image_id', 400],
  ['detection score missing', (b) => { delete b.dt[1].score; }, 'detections[1].score', 400],
  ['detection category a string', (b) => { b.dt[0].category_id = 'a'; }, 'detections[0].category_id', 400],
  ['first detection with neither bbox nor segmentation', (b) => { delete b.dt[0].bbox; delete b.dt[0].segmentation; }, 'detections[0]', 400],
  ['later detection without bbox in the bbox branch', (b) => { delete b.dt[1].bbox; }, 'detections[1].bbox', 400],
  ['compressed RLE with a bad character', (b) => { b.dt[0].segmentation.counts = ';4600!00a1'; }, 'detections[0].segmentation.counts', 422],
  ['compressed RLE overrunning h*w', (b) => { b.dt[0].segmentation.counts = ';4600000b1'; }, 'detections[0].segmentation.counts', 422],
  ['segm branch with a polygon', (b) => { for (const d of b.dt) delete d.bbox; b.dt[1].segmentation = [[0, 0, 3, 0, 3, 3]]; }, 'detections[1].segmentation', 400],
  ['polygon too large to rasterize', (b) => { b.gt.annotations[0].segmentation = [[0, 0, 9e7, 0, 9e7, 9e7]]; }, 'ground_truth.annotations[0].segmentation[0]', 413],
  ['image too large for masks', (b) => { b.gt.images[1].width = 100000; b.gt.images[1].height = 100000; }, 'ground_truth.images[1]', 413],
  ['iou_types entry invalid', () => {}, 'iou_types[0]', 400, { iouTypes: ['mask' as 'segm'] }],
  ['voc_mode invalid', () => {}, 'voc_mode', 400, { vocMode: 'voc07' as 'area' }],
  ['voc_iou_thr out of range', () => {}, 'voc_iou_thr', 422, { vocIouThr: 1.5 }],
  ['params.maxDets of length 2', () => {}, 'params.maxDets', 422, { params: { maxDets: [1, 10] } }],
  ['params.maxDets entry 0', () => {}, 'params.maxDets[0]', 422, { params: { maxDets: [0, 10, 100] } }],
  ['params.iouThrs entry above 1', () => {}, 'params.iouThrs[1]', 422, { params: { iouThrs: [0.5, 1.5] } }],
  ['params.areaRng with lo > hi', () => {}, 'params.areaRng[2][1]', 422, { params: { areaRng: [[0, 1e10], [0, 1024], [9216, 1024], [9216, 1e10]] } }],
  ['unknown params key', () => {}, 'params.recThrs', 400, { params: { recThrs: [0.5] } as never }],
];

for (const [name, mutate, path, status, extra] of cases) {
  test(`rejects ${name} → InputError at ${path}`, () => {
    assertInputError(run(mutate, extra), path, status);
  });
}

test('custom path prefixes apply to errors', () => {
  assertInputError(run((b) => { b.dt[1].image_id = 99; }, { paths: { groundTruth: 'body.gt', detections: 'body.results' } }), 'body.results[1].image_id');
  assertInputError(run((b) => { b.gt.images[0].height = -5; }, { paths: { groundTruth: 'body.gt', detections: 'body.results' } }), 'body.gt.images[0].height');
});

test('unknown result categories are dropped with one counted warning (pycocotools drops them)', () => {
  const r = run((b) => {
    b.dt.push({ ...b.dt[0], category_id: 9 }, { ...b.dt[0], category_id: 9 }, { ...b.dt[0], category_id: 8 });
  })();
  assert.equal(r.counts.detections, 2);
  const w = r.warnings.find((x) => /category_id not in the ground truth/.test(x.message));
  assert.ok(w);
  assert.equal(w.path, 'detections[2].category_id');
  assert.match(w.message, /^3 result/);
  assert.equal(r.coco.bbox!.stats[0], 1 / (1 + 2 ** -52), 'dropped results do not count as false positives');
});

test('GT annotations on unknown images/categories are ignored with warnings; odd polygons warn', () => {
  const r = run((b) => {
    b.gt.annotations.push({ ...b.gt.annotations[0], id: 7, image_id: 42 }, { ...b.gt.annotations[0], id: 8, category_id: 42 });
    b.gt.annotations[0].segmentation = [[1, 1, 5, 1, 5, 5, 1, 5, 3]];
  })();
  assert.equal(r.counts.gtInstances, 2);
  const paths = r.warnings.map((w) => w.path);
  assert.ok(paths.includes('ground_truth.annotations[2].image_id'));
  assert.ok(paths.includes('ground_truth.annotations[3].category_id'));
  assert.ok(paths.includes('ground_truth.annotations[0].segmentation[0]'));
  assert.equal(r.coco.segm!.stats[0], 1 / (1 + 2 ** -52));
});

test('an RLE whose size differs from its image never matches (IoU -1) and warns', () => {
  const r = run((b) => { b.dt[1].segmentation = { size: [5, 20], counts: [100] }; }, { iouTypes: ['segm'] })();
  assert.ok(r.warnings.some((w) => w.path === 'detections[1].segmentation.size'));
  const b2 = r.coco.segm!.per_category.find((c) => c.category_id === 2)!;
  assert.equal(b2.ap, 0);
});

test('segm is skipped by default (with a warning) when results carry no masks; bbox-only GT is fine', () => {
  const r = run((b) => { for (const d of b.dt) delete d.segmentation; for (const a of b.gt.annotations) delete a.segmentation; })();
  assert.deepEqual(Object.keys(r.coco), ['bbox']);
  assert.ok(r.warnings.some((w) => /segm not evaluated/.test(w.message)));
  // explicitly requested, bbox-only results are rasterized as box polygons (loadRes)
  const s = run((b) => { for (const d of b.dt) delete d.segmentation; }, { iouTypes: ['segm'] })();
  assert.ok(s.coco.segm!.stats[0]! > 0);
});

test('results[0] with bbox [] selects the segmentation branch (loadRes) and gets the mask bbox', () => {
  const r = run((b) => { b.dt[0].bbox = []; delete b.dt[1].bbox; })();
  assert.equal(r.coco.bbox!.stats[0], 1 / (1 + 2 ** -52), 'bbox evaluated on the mask boxes');
  assert.equal(r.coco.segm!.stats[0], 1 / (1 + 2 ** -52));
  // large images are fine for bbox-only evaluation
  const big = run((b) => { b.gt.images[1].width = 100000; b.gt.images[1].height = 100000; }, { iouTypes: ['bbox'] })();
  assert.equal(big.counts.images, 2);
});
