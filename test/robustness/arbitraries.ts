/**
 * @file fast-check arbitraries of the robustness fuzzing (test/robustness/fuzz.test.ts): hostile
 * scalars, COCO ground truth / detections that are mostly well-formed with hostile leaves mixed
 * in, query-string values, and loss-core ground truth. Shared by the short run in `npm test` and
 * the >= 10,000-case run of `npm run test:robustness` (FUZZ_RUNS).
 */
import fc from 'fast-check';

/** Run count of each property: FUZZ_RUNS (default 80; the long run sets 2000). */
export const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 80));
/** Seed: FUZZ_SEED, else random (fast-check prints it on failure). */
export const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

/** Values that break naive numeric code (JSON turns NaN/Infinity into null). */
export const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, '', '1', 'NaN', 'Infinity', -0, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53, 2 ** 32, 4294967296 * 16),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant([]),
  fc.constant({}),
);

/** Mostly `gen`, sometimes a hostile value, sometimes absent (undefined drops the key in JSON). */
export function maybe<T>(gen: fc.Arbitrary<T>, weight = 8): fc.Arbitrary<T | unknown> {
  return fc.oneof({ weight, arbitrary: gen }, { weight: 1, arbitrary: hostileScalar }, { weight: 1, arbitrary: fc.constant(undefined) });
}

const coord = fc.double({ min: -20, max: 220, noNaN: true });
const size = fc.double({ min: 0, max: 120, noNaN: true });
const bbox = fc.tuple(coord, coord, size, size).map((b) => b.map((v) => Math.round(v * 100) / 100));
const polygon = fc.array(fc.array(coord, { minLength: 0, maxLength: 14 }), { minLength: 0, maxLength: 3 });

/** A well-formed segmentation: a polygon (>= 3 points) or an uncompressed RLE summing to h*w. */
function cleanSegmentation(h: number, w: number): fc.Arbitrary<unknown> {
  const pt = fc.tuple(fc.double({ min: 0, max: w, noNaN: true }), fc.double({ min: 0, max: h, noNaN: true }));
  return fc.oneof(
    fc.array(pt, { minLength: 3, maxLength: 7 }).map((pts) => [pts.flat()]),
    fc.array(fc.nat(40), { maxLength: 6 }).map((c) => {
      const out: number[] = [];
      let left = h * w;
      for (const v of c) { const x = Math.min(v, left); out.push(x); left -= x; }
      out.push(left);
      return { size: [h, w], counts: out };
    }),
  );
}

/** Segmentation in any COCO form: polygons, uncompressed RLE, compressed RLE (random chars), garbage. */
function segmentation(h: number, w: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: polygon },
    { weight: 2, arbitrary: fc.array(fc.nat(60), { maxLength: 8 }).map((c) => ({ size: [h, w], counts: [...c, Math.max(0, h * w - c.reduce((a, b) => a + b, 0))] })) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789:;<=>?@ABCDEFGHIJKLMNO[\\]^_`abcdefghijklmno'), maxLength: 12 }).map((s) => ({ size: [h, w], counts: s })) },
    { weight: 1, arbitrary: fc.record({ size: fc.array(hostileScalar, { maxLength: 3 }), counts: hostileScalar }) },
    { weight: 1, arbitrary: hostileScalar },
  );
}

/**
 * A COCO case: instances JSON (1-4 images, 0-6 annotations, 1-3 categories) and a results array.
 * Half the cases are clean (well-formed, so they reach the evaluation itself), half have hostile
 * leaves mixed in (about one field in ten).
 */
export const cocoCase: fc.Arbitrary<{ gt: Record<string, unknown>; dets: unknown[] }> = fc
  .record({
    sizes: fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 })), { minLength: 1, maxLength: 4 }),
    nCat: fc.integer({ min: 1, max: 3 }),
    clean: fc.boolean(),
  })
  .chain(({ sizes, nCat, clean }) => {
    const m = <T>(gen: fc.Arbitrary<T>, weight = 12): fc.Arbitrary<T | unknown> => (clean ? gen : maybe(gen, weight));
    const nImg = sizes.length;
    const seg = (h: number, w: number): fc.Arbitrary<unknown> => (clean ? cleanSegmentation(h, w) : segmentation(h, w));
    return fc.record({
      gt: fc.record({
        images: fc.tuple(...sizes.map(([h, w], i) => fc.record({ id: m(fc.constant(i + 1), 20), height: m(fc.constant(h), 20), width: m(fc.constant(w), 20), file_name: fc.constant(`${i}.png`) }))),
        categories: fc.tuple(...Array.from({ length: nCat }, (_, k) => fc.record({ id: m(fc.constant(k + 1), 20), name: m(fc.constantFrom('square', 'circle', 'triangle', '{x="y"}'), 20) }))),
        annotations: fc.array(fc.integer({ min: 0, max: nImg - 1 }).chain((im) => fc.record({
          image_id: m(fc.constant(im + 1)),
          category_id: m(fc.integer({ min: 1, max: nCat })),
          bbox: m(bbox),
          area: m(fc.double({ min: 0, max: 1e4, noNaN: true })),
          iscrowd: m(fc.constantFrom(0, 0, 0, 1)),
          segmentation: fc.option(seg(sizes[im]![0], sizes[im]![1]), { nil: undefined, freq: 4 }),
        })), { maxLength: 6 }).map((anns) => anns.map((a, i) => ({ id: i + 1, ...a }))),
      }),
      dets: fc.array(fc.integer({ min: 0, max: nImg - 1 }).chain((im) => fc.record({
        image_id: m(fc.constant(im + 1)),
        category_id: m(fc.integer({ min: 1, max: nCat + 1 })),
        bbox: m(bbox),
        score: m(fc.double({ min: 0, max: 1, noNaN: true })),
        segmentation: fc.option(seg(sizes[im]![0], sizes[im]![1]), { nil: undefined, freq: 4 }),
      })), { maxLength: 10 }),
    });
  })
  .map(({ gt, dets }) => ({ gt: gt as Record<string, unknown>, dets }));

/** The evaluation options of a detections-mode body (valid or not). */
export const evalOptions = fc.record({
  iou_types: fc.option(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(['bbox'], ['segm'], ['bbox', 'segm'], 'bbox', 'segm,bbox') }, { weight: 1, arbitrary: hostileScalar }), { nil: undefined, freq: 2 }),
  voc_mode: fc.option(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('area', '11points') }, { weight: 1, arbitrary: hostileScalar }), { nil: undefined, freq: 2 }),
  voc_iou_thr: fc.option(fc.oneof({ weight: 6, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }, { weight: 1, arbitrary: hostileScalar }), { nil: undefined, freq: 2 }),
}, { requiredKeys: [] });

/** A query-string value: numbers written every way, keywords, garbage, unicode. */
export const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '0', '1', '0.5', '-0', '1e-3', '1e999', 'NaN', 'Infinity', '-Infinity', '0x10', ' 0.3', '1,2', 'rle', 'polygon', 'none', 'RLE', 'bbox', 'segm', 'bbox,segm', 'area', '11points', 'all', 'expected', 'null', '[]', '%00', '\u0000'),
  fc.double().map(String),
  fc.integer({ min: -5, max: 2000 }).map(String),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);

/** A query record over the given keys (some repeated, some unknown extra keys). */
export function queryOf(keys: readonly string[]): fc.Arbitrary<Array<[string, string]>> {
  const key = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) });
  return fc.array(fc.tuple(key, queryValue), { maxLength: 5 });
}

/** Encodes pairs as a query string (values percent-encoded). */
export function toQuery(pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** Loss-core ground truth of a small image, valid or hostile. */
export const lossGroundTruth = fc.record({
  height: fc.oneof(fc.integer({ min: 1, max: 24 }), fc.constantFrom(0, -1, 1.5, NaN)),
  width: fc.oneof(fc.integer({ min: 1, max: 24 }), fc.constantFrom(0, -3, 2.5, Infinity)),
  boxes: fc.array(fc.oneof(fc.double({ min: -5, max: 30, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 13 }),
  labels: fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }),
  masks: fc.array(fc.uint8Array({ maxLength: 600, max: 2 }), { maxLength: 3 }),
});
