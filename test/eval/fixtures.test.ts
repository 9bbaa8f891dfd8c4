/**
 * Golden tests: every file in test/fixtures/coco-eval/expected (written by pycocotools v2.0.11 and
 * mmdetection's eval_map) is reproduced. Which results file each expected file belongs to:
 *   coco_bbox(.json|_full.json)   ← dt_bbox.json, iouType bbox (the file with score ties: COCO sorts stably)
 *   coco_segm(.json|_full.json)   ← dt_segm.json, iouType segm (mask areas)
 *   coco_segm_with_bbox.json      ← dt_segm_with_bbox.json, iouType segm (loadRes uses the *box* area)
 *   voc_map.json                  ← dt_bbox_noties.json (score_ties = 0), eval_map iou 0.5, both modes,
 *                                   use_legacy_coordinate = false, crowd GT as ignored boxes
 * Tolerances: COCO 1e-9 (achieved: 0), VOC 1e-6 (achieved: 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accumulate, evaluateDetections, evaluateImages, formatMapTable, frPolygons, frUncompressed, countsToString,
  loadGroundTruth, loadResults, perCategory, prepareEvaluation, resolveParams, rleArea, rleToBbox, stringToCounts,
  summarize, summaryLines, WarningCollector, type IouType,
} from '../../src/eval/index.js';
import { fixture, flat, maxAbsDiff } from './helpers.js';

const gtJson = fixture('gt.json');

function runCoco(dtFile: string, iouType: IouType) {
  const w = new WarningCollector();
  const gt = loadGroundTruth(gtJson, 'ground_truth', w);
  const dt = loadResults(gt, fixture(dtFile), 'detections', w);
  const ctx = prepareEvaluation(gt, dt, resolveParams(iouType, undefined), { warnings: w });
  const records = evaluateImages(ctx);
  const acc = accumulate(records);
  return { gt, dt, records, acc, stats: summarize(acc), perCat: perCategory(acc, gt.categoryNames), warnings: w.list() };
}

const PER_CAT_KEYS: Array<[string, 'ap' | 'ap50' | 'ap75' | 'aps' | 'apm' | 'apl' | 'ar100']> = [
  ['ap', 'ap'], ['ap50', 'ap50'], ['ap75', 'ap75'], ['ap_small', 'aps'], ['ap_medium', 'apm'], ['ap_large', 'apl'], ['ar100', 'ar100'],
];

/** Compare stats + per-category values (null where the fixture has null), return the max |diff|. */
function compareSummary(exp: any, r: ReturnType<typeof runCoco>): number {
  let m = maxAbsDiff(r.stats, exp.stats);
  assert.equal(r.perCat.length, exp.per_category.length);
  exp.per_category.forEach((c: any, k: number) => {
    const got = r.perCat[k]!;
    assert.equal(got.category_id, c.category_id);
    assert.equal(got.name, c.name);
    for (const [ek, gk] of PER_CAT_KEYS) {
      if (c[ek] === null) assert.equal(got[gk], null, `${c.name}.${ek} should be null`);
      else {
        assert.notEqual(got[gk], null, `${c.name}.${ek} should not be null`);
        m = Math.max(m, Math.abs((got[gk] as number) - c[ek]));
      }
    }
  });
  assert.deepEqual(summaryLines(r.acc, r.stats), exp.summary_lines);
  assert.equal(r.gt.imageIds.length, exp.num_images);
  assert.equal(r.gt.anns.count, exp.num_gt_anns);
  assert.equal(r.dt.count, exp.num_dets);
  return m;
}

for (const [dtFile, expFile, iouType] of [
  ['dt_bbox.json', 'coco_bbox_full.json', 'bbox'],
  ['dt_segm.json', 'coco_segm_full.json', 'segm'],
] as const) {
  test(`${expFile}: stats, per-category, precision/recall/scores and evalImgs of ${dtFile}`, (t) => {
    const exp = fixture(`expected/${expFile}`);
    const r = runCoco(dtFile, iouType);
    assert.deepEqual(Array.from(r.acc.params.iouThrs), exp.params.iouThrs);
    assert.deepEqual(Array.from(r.acc.params.recThrs), exp.params.recThrs);
    assert.deepEqual(Array.from(r.acc.categoryIds), exp.params.catIds);
    const dStats = compareSummary(exp, r);
    const dP = maxAbsDiff(r.acc.precision, flat(exp.precision));
    const dR = maxAbsDiff(r.acc.recall, flat(exp.recall));
    const dS = maxAbsDiff(r.acc.scores, flat(exp.scores));
    t.diagnostic(`max |diff| stats/per-cat ${dStats}, precision ${dP}, recall ${dR}, scores ${dS}`);
    assert.ok(dStats <= 1e-9 && dP <= 1e-9 && dR <= 1e-9 && dS <= 1e-9, `${dStats} ${dP} ${dR} ${dS}`);

    // per-image records for area 'all' (a = 0) equal pycocotools' evalImgs
    const T = r.acc.T;
    const byKey = new Map(r.records.records.map((e) => [`${e.imageId}/${e.categoryId}`, e]));
    assert.equal(byKey.size, exp.evalImgs_area_all.length);
    for (const e of exp.evalImgs_area_all) {
      const rec = byKey.get(`${e.image_id}/${e.category_id}`);
      assert.ok(rec, `missing record ${e.image_id}/${e.category_id}`);
      const D = rec.dtIds.length, G = rec.numGt;
      assert.deepEqual(Array.from(rec.dtIds), e.dtIds);
      assert.deepEqual(Array.from(rec.dtScores), e.dtScores);
      assert.deepEqual(Array.from(rec.gtIds.subarray(0, G)), e.gtIds);
      assert.deepEqual(Array.from(rec.gtIgnore.subarray(0, G)), e.gtIgnore);
      assert.deepEqual(Array.from(rec.dtMatches.subarray(0, T * D)), flat(e.dtMatches));
      assert.deepEqual(Array.from(rec.dtIgnore.subarray(0, T * D)), flat(e.dtIgnore));
      assert.deepEqual(Array.from(rec.gtMatches.subarray(0, T * G)), flat(e.gtMatches));
    }
  });
}

test('coco_segm.json and coco_segm_with_bbox.json: segm stats and per-category (mask area vs box area)', (t) => {
  const mask = runCoco('dt_segm.json', 'segm');
  const dMask = compareSummary(fixture('expected/coco_segm.json'), mask);
  const box = runCoco('dt_segm_with_bbox.json', 'segm');
  const dBox = compareSummary(fixture('expected/coco_segm_with_bbox.json'), box);
  t.diagnostic(`max |diff| coco_segm ${dMask}, coco_segm_with_bbox ${dBox}`);
  assert.ok(dMask <= 1e-9 && dBox <= 1e-9);
  // the quirk is real on this data: same overall AP, different APm (docs/evaluation.md#results)
  assert.equal(mask.stats[0], box.stats[0]);
  assert.notEqual(mask.stats[4], box.stats[4]);
});

test('coco_bbox.json through evaluateDetections (the HTTP entry), -1 → null', (t) => {
  const exp = fixture('expected/coco_bbox.json');
  const res = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_bbox.json'), iouTypes: ['bbox'] });
  const stats = res.coco.bbox!.stats as number[];
  const d = maxAbsDiff(stats, exp.stats);
  t.diagnostic(`max |diff| ${d}`);
  assert.ok(d <= 1e-9);
  const nogt = res.coco.bbox!.per_category.find((c) => c.category_id === 7)!;
  assert.deepEqual(nogt, { category_id: 7, name: 'cat_nogt', ap: null, ap50: null, ap75: null, aps: null, apm: null, apl: null, ar100: null });
  assert.deepEqual(res.counts, { images: 6, gtInstances: 35, detections: 183 });
  assert.equal(res.coco.bbox!.precision, undefined, 'arrays only on request');
  assert.equal(res.coco.segm, undefined);
});

test('evaluateDetections with both iou types and includeArrays on dt_segm_with_bbox.json', () => {
  const res = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_segm_with_bbox.json'), includeArrays: true });
  assert.ok(res.coco.bbox && res.coco.segm, 'both iou types by default when GT and results carry masks');
  const exp = fixture('expected/coco_segm_with_bbox.json');
  assert.ok(maxAbsDiff(res.coco.segm.stats as number[], exp.stats) <= 1e-9);
  assert.deepEqual(res.coco.segm.precision!.shape, [10, 101, 4, 4, 3]);
  assert.deepEqual(res.coco.segm.recall!.shape, [10, 4, 4, 3]);
  // segmArea 'mask' evaluates as mmdet does (bbox deleted before segm): equals coco_segm.json
  const mm = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_segm_with_bbox.json'), iouTypes: ['segm'], segmArea: 'mask' });
  assert.ok(maxAbsDiff(mm.coco.segm!.stats as number[], fixture('expected/coco_segm.json').stats) <= 1e-9);
});

for (const mode of ['area', '11points'] as const) {
  test(`voc_map.json (${mode}): per-class recall/AP, mAP and the printed table`, (t) => {
    const exp = fixture('expected/voc_map.json')[mode];
    const res = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_bbox_noties.json'), vocMode: mode });
    assert.equal(res.voc.mode, mode);
    assert.equal(res.voc.iou_thr, exp.iou_thr);
    let d = Math.abs(res.voc.mAP - exp.mAP);
    assert.equal(res.voc.classes.length, exp.classes.length);
    exp.classes.forEach((c: any, i: number) => {
      const g = res.voc.classes[i]!;
      assert.equal(g.class, c.class);
      assert.equal(g.category_id, c.category_id);
      assert.equal(g.gts, c.gts);
      assert.equal(g.dets, c.dets);
      d = Math.max(d, Math.abs(g.recall - c.recall), Math.abs(g.ap - c.ap));
    });
    t.diagnostic(`max |diff| ${d}`);
    assert.ok(d <= 1e-6);
    assert.equal(`\n${formatMapTable(res.voc.classes, res.voc.mAP)}`, exp.table);
  });
}

test('voc_map.json notes score ties: dt_bbox.json (9 ties) is not the VOC fixture input', () => {
  const exp = fixture('expected/voc_map.json');
  assert.equal(exp.score_ties, 0);
  const res = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_bbox.json') });
  assert.notEqual(res.voc.mAP, exp.area.mAP);
});

test('dt_empty.json: empty results give 0 where there is GT and null where there is none', () => {
  const res = evaluateDetections({ groundTruth: gtJson, detections: fixture('dt_empty.json') });
  assert.ok(res.coco.segm, 'segm is evaluated for empty results when GT has masks');
  for (const block of [res.coco.bbox!, res.coco.segm]) {
    assert.deepEqual(block.stats, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (const c of block.per_category) {
      if (c.category_id === 7) assert.equal(c.ap, null);
      else {
        assert.equal(c.ap, 0);
        assert.equal(c.ar100, 0);
      }
    }
    assert.equal(block.per_category.find((c) => c.category_id === 3)!.apl, null, 'cat_c has no large GT');
  }
  assert.equal(res.voc.mAP, 0);
  assert.deepEqual(res.voc.classes.map((c) => c.dets), [0, 0, 0, 0]);
  assert.deepEqual(res.counts, { images: 6, gtInstances: 35, detections: 0 });
});

test('GT masks: rasterized polygons and decoded RLE reproduce the fixture areas (pycocotools mask areas)', () => {
  const byId = new Map<number, any>(gtJson.images.map((im: any) => [im.id, im]));
  for (const a of gtJson.annotations) {
    const im = byId.get(a.image_id)!;
    const s = a.segmentation;
    let counts: Uint32Array, h = im.height, w = im.width;
    if (Array.isArray(s)) counts = frPolygons(s, h, w).counts;
    else if (typeof s.counts === 'string') {
      counts = stringToCounts(s.counts);
      assert.equal(countsToString(counts), s.counts, `string codec round trip of annotation ${a.id}`);
      [h, w] = s.size;
    } else {
      [h, w] = s.size;
      counts = frUncompressed(s.counts, h, w).counts;
    }
    assert.equal(rleArea(counts), a.area, `area of annotation ${a.id}`);
    if (!Array.isArray(s)) assert.deepEqual(rleToBbox(counts, h, w), a.bbox, `bbox of RLE annotation ${a.id}`);
  }
});
