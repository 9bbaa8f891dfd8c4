/**
 * @file The bad-input corpus: hostile or broken requests over every route, each with the error the
 * error contract (docs/service.md#errors) says it must get — a 4xx JSON body `{statusCode, code, error,
 * message, field}` whose `field` names the offending input where there is one.
 *
 * Data only (no test runner): test/robustness/bad-input.test.ts sends every case through
 * `app.inject` and checks `/health/ready` after each; the fuzz test reuses the COCO fixtures.
 * A case with `todo` documents a known server bug (see docs/robustness.md, "Known failures").
 */
import type { InjectOptions } from 'fastify';
import {
  fixtureImage, jpegDeclaring, makePng, multipart, PNG_SIGNATURE, pngChunk, pngDeclaring, ihdr, type ExpectedError,
} from './helpers.js';

/** One bad request and the error it must get. */
export interface BadCase {
  name: string;
  req: InjectOptions;
  expect: ExpectedError;
  /** Known server bug: the case runs as a node:test todo with this reason. */
  todo?: string;
  /**
   * Odd but not invalid under pycocotools semantics: a 200 is acceptable (its JSON must hold only
   * finite numbers or null), and so is a 4xx in the error shape; never a 5xx.
   */
  tolerated?: boolean;
  /** A route that must be registered for the case to run (routes still being added elsewhere). */
  requires?: { method: 'GET' | 'POST' | 'DELETE'; url: string };
}

/** A tiny valid COCO ground truth: one 100x80 image, one square. */
export function tinyGt(): Record<string, unknown> {
  return {
    images: [{ id: 1, width: 100, height: 80, file_name: 'a.png' }],
    categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0, segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]] }],
  };
}

/** A detection matching tinyGt's square. */
export function tinyDet(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { image_id: 1, category_id: 1, bbox: [11, 10, 20, 20], score: 0.9, ...extra };
}

const json = (payload: unknown): InjectOptions => ({
  method: 'POST', url: '/evaluate', headers: { 'content-type': 'application/json' },
  payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
});
const evalBody = (gt: unknown, dets: unknown, extra: Record<string, unknown> = {}): InjectOptions => json({ ground_truth: gt, detections: dets, ...extra });
const rawPredict = (body: Buffer | string, type = 'image/png', url = '/predict'): InjectOptions => ({
  method: 'POST', url, headers: { 'content-type': type }, payload: body,
});
const mpPredict = (parts: Parameters<typeof multipart>[0], opts?: Parameters<typeof multipart>[1]): InjectOptions => {
  const m = multipart(parts, opts);
  return { method: 'POST', url: '/predict', headers: m.headers, payload: m.payload };
};
const mpEval = (parts: Parameters<typeof multipart>[0], url = '/evaluate'): InjectOptions => {
  const m = multipart(parts);
  return { method: 'POST', url, headers: m.headers, payload: m.payload };
};


/** Deeply nested JSON array text: `[[[...0...]]]`. */
export function nested(depth: number): string {
  return '['.repeat(depth) + '0' + ']'.repeat(depth);
}

/** Every case. Built lazily (reads fixture images). */
export function badInputCorpus(): BadCase[] {
  const png = fixtureImage('sq-256.png');
  const gtJson = JSON.parse(JSON.stringify(tinyGt())) as Record<string, unknown>;
  const sqAnn = {
    images: [{ id: 4, file_name: 'sq-256.png', height: 256, width: 256 }],
    categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }],
    annotations: [{ id: 8, image_id: 4, category_id: 4, bbox: [115, 129, 101, 89], area: 8989, iscrowd: 0 }],
  };
  const V = 'MRC_ERR_VALIDATION';
  const q = (qs: string): InjectOptions => rawPredict(png, 'image/png', `/predict?${qs}`);
  const cases: BadCase[] = [
    // ---- POST /predict: bodies and images
    { name: 'predict: zero-byte raw PNG body', req: rawPredict(Buffer.alloc(0)), expect: { status: 400, code: 'MRC_ERR_EMPTY_BODY', field: 'body' } },
    { name: 'predict: no body, no content-type', req: { method: 'POST', url: '/predict' }, expect: { status: [400, 415], field: /^(body|headers\.content-type)$/ } },
    { name: 'predict: truncated PNG (first half)', req: rawPredict(png.subarray(0, png.length >> 1)), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: PNG signature only', req: rawPredict(PNG_SIGNATURE), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: PNG with a corrupt IDAT CRC', req: rawPredict(Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr(8, 8)), pngChunk('IDAT', Buffer.from('garbage'), true), pngChunk('IEND', Buffer.alloc(0))])), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: JPEG SOI then random bytes', req: rawPredict(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(500, 0x5a)]), 'image/jpeg'), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: WebP RIFF header with garbage', req: rawPredict(Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x40, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(60, 7)]), 'image/webp'), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: PNG header declaring 20000x20000 (valid CRC)', req: rawPredict(pngDeclaring(20000, 20000)), expect: { status: 413, code: 'MRC_ERR_IMAGE_TOO_LARGE', field: 'body' } },
    { name: 'predict: JPEG header declaring 65000x65000', req: rawPredict(jpegDeclaring(65000, 65000), 'image/jpeg'), expect: { status: [413, 422], code: /^MRC_ERR_IMAGE_(TOO_LARGE|DECODE)$/, field: 'body' } },
    { name: 'predict: PNG declaring 0x0', req: rawPredict(pngDeclaring(0, 0)), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: GIF bytes sent as image/png', req: rawPredict(Buffer.from('GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;', 'latin1')), expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'body' } },
    { name: 'predict: SVG with script sent as image/png', req: rawPredict('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'body' } },
    { name: 'predict: polyglot PNG signature + HTML/JS', req: rawPredict(Buffer.concat([PNG_SIGNATURE, Buffer.from('<html><script>fetch("/x")</script></html>')])), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: polyglot PDF with JPEG magic', req: rawPredict(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF')]), 'image/jpeg'), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: polyglot ZIP (PK) sent as image/webp', req: rawPredict(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(100, 1)]), 'image/webp'), expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'body' } },
    { name: 'predict: 1x1 PNG truncated after IHDR', req: rawPredict(makePng(1, 1).subarray(0, 33)), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    { name: 'predict: text/plain body', req: rawPredict('hello', 'text/plain'), expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' } },
    { name: 'predict: application/json body', req: { method: 'POST', url: '/predict', headers: { 'content-type': 'application/json' }, payload: '{"image":"aGVsbG8="}' }, expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' } },
    { name: 'predict: image/tiff content type', req: rawPredict(png, 'image/tiff'), expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' } },
    { name: 'predict: raw body over BODY_LIMIT (11 MiB)', req: rawPredict(Buffer.concat([png, Buffer.alloc(11 * 1024 * 1024)])), expect: { status: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', field: 'body' } },
    { name: 'predict: Accept image/png with a corrupt image answers JSON', req: { ...rawPredict(png.subarray(0, 100)), headers: { 'content-type': 'image/png', accept: 'image/png' } }, expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'body' } },
    // ---- POST /predict: multipart
    { name: 'predict multipart: no image field', req: mpPredict([{ name: 'photo', data: png, filename: 'a.png', contentType: 'image/png' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'photo' } },
    { name: 'predict multipart: image repeated', req: mpPredict([{ name: 'image', data: png, filename: 'a.png' }, { name: 'image', data: png, filename: 'b.png' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'image' } },
    { name: 'predict multipart: image as a text field', req: mpPredict([{ name: 'image', data: 'not a file' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'image' } },
    { name: 'predict multipart: empty file', req: mpPredict([{ name: 'image', data: Buffer.alloc(0), filename: 'a.png', contentType: 'image/png' }]), expect: { status: 400, code: 'MRC_ERR_EMPTY_BODY', field: 'image' } },
    { name: 'predict multipart: zero parts', req: mpPredict([]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'image' } },
    { name: 'predict multipart: truncated (no closing boundary)', req: mpPredict([{ name: 'image', data: png.subarray(0, 200), filename: 'a.png' }], { truncate: true }), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: /^(image|body)$/ } },
    { name: 'predict multipart: content-type without boundary', req: { method: 'POST', url: '/predict', headers: { 'content-type': 'multipart/form-data' }, payload: 'x' }, expect: { status: [400, 415], field: /^(body|headers\.content-type)$/ } },
    { name: 'predict multipart: 300-character boundary', req: mpPredict([{ name: 'image', data: png, filename: 'a.png' }], { boundary: 'b'.repeat(300) }), expect: { status: [400, 415], field: 'headers.content-type' } },
    { name: 'predict multipart: corrupt image file', req: mpPredict([{ name: 'image', data: Buffer.from('\x89PNG\r\n\x1a\nrubbish', 'latin1'), filename: 'a.png' }]), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'image' } },
    { name: 'predict multipart: file over BODY_LIMIT', req: mpPredict([{ name: 'image', data: Buffer.alloc(10 * 1024 * 1024 + 10), filename: 'big.png' }]), expect: { status: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', field: /^(image|body)$/ } },
    // ---- POST /predict: query string
    { name: 'predict query: score_threshold=2', req: q('score_threshold=2'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    { name: 'predict query: score_threshold=NaN', req: q('score_threshold=NaN'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    { name: 'predict query: score_threshold=-0.1', req: q('score_threshold=-0.1'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    { name: 'predict query: score_threshold=1e999 (Infinity)', req: q('score_threshold=1e999'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    { name: 'predict query: score_threshold=-Infinity', req: q('score_threshold=-Infinity'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    { name: 'predict query: max_detections=Infinity', req: q('max_detections=Infinity'), expect: { status: 400, code: V, field: 'querystring.max_detections' } },
    { name: 'predict query: max_detections=99999999999999999999999', req: q('max_detections=99999999999999999999999'), expect: { status: 400, code: V, field: 'querystring.max_detections' } },
    { name: 'predict query: max_detections=0', req: q('max_detections=0'), expect: { status: 400, code: V, field: 'querystring.max_detections' } },
    { name: 'predict query: max_detections=2.5', req: q('max_detections=2.5'), expect: { status: 400, code: V, field: 'querystring.max_detections' } },
    { name: 'predict query: mask_format=bmp', req: q('mask_format=bmp'), expect: { status: 400, code: V, field: 'querystring.mask_format' } },
    { name: 'predict query: score_threshold repeated', req: q('score_threshold=0.1&score_threshold=0.2'), expect: { status: 400, code: V, field: 'querystring.score_threshold' } },
    // ---- POST /evaluate: detections mode (JSON)
    { name: 'evaluate: truncated JSON', req: json('{"ground_truth": {"images": ['), expect: { status: 400, code: 'MRC_ERR_INVALID_JSON', field: 'body' } },
    { name: 'evaluate: empty JSON body', req: json(''), expect: { status: 400, code: 'MRC_ERR_EMPTY_BODY', field: 'body' } },
    { name: 'evaluate: __proto__ key', req: json('{"__proto__": {"polluted": 1}, "ground_truth": {}, "detections": []}'), expect: { status: 400, field: 'body' } },
    { name: 'evaluate: ground_truth missing', req: json({ detections: [] }), expect: { status: 400, code: V, field: 'body.ground_truth' } },
    { name: 'evaluate: detections is an object', req: evalBody(gtJson, { a: 1 }), expect: { status: 400, code: V, field: 'body.detections' } },
    { name: 'evaluate: ground_truth is a string', req: evalBody('coco.json', []), expect: { status: 400, code: V, field: 'body.ground_truth' } },
    { name: 'evaluate: iou_types=["bboxx"]', req: evalBody(gtJson, [tinyDet()], { iou_types: ['bboxx'] }), expect: { status: 400, code: V, field: /^body\.iou_types/ } },
    { name: 'evaluate: voc_iou_thr=1e400 (Infinity)', req: json(`{"ground_truth": ${JSON.stringify(gtJson)}, "detections": [], "voc_iou_thr": 1e400}`), expect: { status: 400, code: V, field: 'body.voc_iou_thr' } },
    { name: 'evaluate: voc_iou_thr="NaN"', req: evalBody(gtJson, [], { voc_iou_thr: 'NaN' }), expect: { status: 400, code: V, field: 'body.voc_iou_thr' } },
    { name: 'evaluate: deeply nested images (20000 levels)', req: json(`{"ground_truth": {"images": ${nested(20000)}, "annotations": [], "categories": []}, "detections": []}`), expect: { status: 400, field: /^body\.ground_truth\.images/ } },
    { name: 'evaluate: JSON body over EVAL_BODY_LIMIT (51 MiB)', req: json(`{"pad": "${'x'.repeat(51 * 1024 * 1024)}"}`), expect: { status: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', field: 'body' } },
    { name: 'evaluate: invalid compressed RLE characters', req: evalBody(gtJson, [tinyDet({ segmentation: { size: [80, 100], counts: '\u0000\u0001 ~~~' } })], { iou_types: ['segm'] }), expect: { status: 422, field: /^body\.detections\[0\]\.segmentation/ } },
    { name: 'evaluate: uncompressed RLE counts not summing to h*w', req: evalBody(gtJson, [tinyDet({ segmentation: { size: [80, 100], counts: [5, 5, 5] } })], { iou_types: ['segm'] }), expect: { status: 422, field: /^body\.detections\[0\]\.segmentation/ } },
    { name: 'evaluate: RLE size differs from the image', req: evalBody(gtJson, [tinyDet({ segmentation: { size: [10, 10], counts: [100] } })], { iou_types: ['segm'] }), expect: { status: 422, field: /^body\.detections\[0\]\.segmentation/ }, tolerated: true },
    { name: 'evaluate: compressed RLE running past h*w', req: evalBody(gtJson, [tinyDet({ segmentation: { size: [80, 100], counts: 'ZZZZZZZZZZ' } })], { iou_types: ['segm'] }), expect: { status: 422, field: /^body\.detections\[0\]\.segmentation/ } },
    { name: 'evaluate: polygon with 3 numbers', req: evalBody({ ...gtJson, annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 5, 5], area: 25, iscrowd: 0, segmentation: [[1, 2, 3]] }] }, [], { iou_types: ['segm'] }), expect: { status: 422, field: /^body\.ground_truth\.annotations\[0\]\.segmentation/ } },
    { name: 'evaluate: polygon with 1e9 coordinates (rasterization bomb)', req: evalBody(gtJson, [tinyDet({ segmentation: [[0, 0, 1e9, 0, 1e9, 1e9, 0, 1e9]] })], { iou_types: ['segm'] }), expect: { status: [413, 422], field: /^body\.detections\[0\]\.segmentation/ }, tolerated: true },
    { name: 'evaluate: detection on an unknown image_id', req: evalBody(gtJson, [tinyDet({ image_id: 999 })]), expect: { status: 422, field: /^body\.detections\[0\]\.image_id/ } },
    { name: 'evaluate: annotation with an unknown image_id', req: evalBody({ ...gtJson, annotations: [{ id: 1, image_id: 77, category_id: 1, bbox: [1, 1, 5, 5], area: 25, iscrowd: 0 }] }, []), expect: { status: 422, field: /^body\.ground_truth\.annotations\[0\]\.image_id/ }, tolerated: true },
    { name: 'evaluate: bbox with a string coordinate', req: evalBody(gtJson, [tinyDet({ bbox: [1, 'x', 3, 4] })]), expect: { status: 400, field: /^body\.detections\[0\]\.bbox/ } },
    { name: 'evaluate: score is NaN-ish null', req: evalBody(gtJson, [tinyDet({ score: null })]), expect: { status: 400, field: /^body\.detections\[0\]\.score/ } },
    { name: 'evaluate: bbox of huge numbers (1e308)', req: evalBody(gtJson, [tinyDet({ bbox: [1e308, 1e308, 1e308, 1e308] })]), expect: { status: 422, field: /^body\.detections\[0\]\.bbox/ }, tolerated: true },
    { name: 'evaluate: duplicate image ids', req: evalBody({ ...gtJson, images: [{ id: 1, width: 10, height: 10 }, { id: 1, width: 10, height: 10 }] }, []), expect: { status: 422, field: /^body\.ground_truth\.images\[1\]/ } },
    { name: 'evaluate: query voc_mode=bogus', req: { ...evalBody(gtJson, []), url: '/evaluate?voc_mode=bogus' }, expect: { status: 400, code: V, field: 'querystring.voc_mode' } },
    { name: 'evaluate: query loss_sampling=some', req: { ...evalBody(gtJson, []), url: '/evaluate?loss_sampling=some' }, expect: { status: 400, code: V, field: 'querystring.loss_sampling' } },
    { name: 'evaluate: text/plain body', req: { method: 'POST', url: '/evaluate', headers: { 'content-type': 'text/plain' }, payload: 'hi' }, expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' } },
    { name: 'evaluate: application/xml body', req: { method: 'POST', url: '/evaluate', headers: { 'content-type': 'application/xml' }, payload: '<a/>' }, expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' } },
    // ---- POST /evaluate: model mode (multipart)
    { name: 'evaluate multipart: annotations missing', req: mpEval([{ name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'annotations' } },
    { name: 'evaluate multipart: annotations repeated', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, { name: 'annotations', data: '{}' }, { name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'annotations' } },
    { name: 'evaluate multipart: annotations not JSON', req: mpEval([{ name: 'annotations', data: '{images: oops' }, { name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 400, code: 'MRC_ERR_INVALID_JSON', field: 'annotations' } },
    { name: 'evaluate multipart: no image parts', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'image' } },
    { name: 'evaluate multipart: unknown file name', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, { name: 'image', data: png, filename: 'other.png' }]), expect: { status: 422, field: 'image[0]' } },
    { name: 'evaluate multipart: category id outside the model (4)', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, { name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 422, field: /^annotations\.annotations\[0\]\.category_id/ } },
    { name: 'evaluate multipart: box outside the image', req: mpEval([{ name: 'annotations', data: JSON.stringify({ ...sqAnn, annotations: [{ ...sqAnn.annotations[0], category_id: 1, bbox: [200, 200, 300, 300] }] }) }, { name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 422, field: /^annotations\.annotations\[0\]\.bbox/ } },
    { name: 'evaluate multipart: image size differs from images[].width', req: mpEval([{ name: 'annotations', data: JSON.stringify({ ...sqAnn, images: [{ id: 4, file_name: 'sq-256.png', height: 256, width: 300 }], annotations: [] }) }, { name: 'image', data: png, filename: 'sq-256.png' }]), expect: { status: 422, field: 'annotations.images[0].width' } },
    { name: 'evaluate multipart: corrupt image', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, { name: 'image', data: png.subarray(0, 90), filename: 'sq-256.png' }]), expect: { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'image[0]' } },
    { name: 'evaluate multipart: 101 images (EVAL_MAX_IMAGES=100)', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, ...Array.from({ length: 101 }, (_, i) => ({ name: 'image', data: makePng(2, 2), filename: `${i}.png` }))]), expect: { status: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', field: 'image[100]' } },
    { name: 'evaluate multipart: unexpected field', req: mpEval([{ name: 'annotations', data: JSON.stringify(sqAnn) }, { name: 'extra', data: 'x' }]), expect: { status: 400, code: 'MRC_ERR_MULTIPART', field: 'extra' } },
    // ---- evaluation jobs (/evaluations, docs/jobs.md)
    ...jobCases(),
    // ---- GET routes, unknown routes and methods
    { name: 'models: unknown model name', req: { method: 'GET', url: '/models/no-such-model' }, expect: { status: 404, code: 'MRC_ERR_MODEL_NOT_FOUND', field: 'params.name' } },
    { name: 'models: 300-character model name', req: { method: 'GET', url: `/models/${'a'.repeat(300)}` }, expect: { status: [400, 414], code: /^MRC_ERR_(VALIDATION|BAD_REQUEST)$/, field: /^(params\.name|url)$/ } },
    { name: 'models: undecodable percent-encoding', req: { method: 'GET', url: '/models/%E0%A4%A' }, expect: { status: 400, code: 'MRC_ERR_BAD_REQUEST', field: 'url' } },
    { name: 'models: encoded traversal name', req: { method: 'GET', url: '/models/..%2F..%2Fetc%2Fpasswd' }, expect: { status: 404, code: 'MRC_ERR_MODEL_NOT_FOUND', field: 'params.name' } },
    { name: 'unknown route', req: { method: 'GET', url: '/admin' }, expect: { status: 404, code: 'MRC_ERR_NOT_FOUND', field: null } },
    { name: 'wrong method: DELETE /predict', req: { method: 'DELETE', url: '/predict' }, expect: { status: [404, 405], field: null } },
    { name: 'wrong method: GET /evaluate', req: { method: 'GET', url: '/evaluate' }, expect: { status: [404, 405], field: null } },
    { name: 'wrong method: POST /health/ready with a body', req: { method: 'POST', url: '/health/ready', headers: { 'content-type': 'application/json' }, payload: '{}' }, expect: { status: [404, 405], field: null } },
    { name: 'wrong method: PUT /metrics', req: { method: 'PUT', url: '/metrics', payload: 'x' }, expect: { status: [404, 405, 415], field: /.*/ } },
  ];
  return cases;
}

/** Bad requests to the evaluation-job routes (run only where those routes are registered). */
function jobCases(): BadCase[] {
  const id = '00000000-0000-4000-8000-000000000000';
  const get = { method: 'GET', url: '/evaluations/:id' } as const;
  const post = { method: 'POST', url: '/evaluations' } as const;
  return [
    { name: 'jobs: malformed job id', req: { method: 'GET', url: '/evaluations/nope' }, expect: { status: 400, code: 'MRC_ERR_VALIDATION', field: 'params.id' }, requires: get },
    { name: 'jobs: traversal in the job id', req: { method: 'GET', url: '/evaluations/..%2F..%2Fetc%2Fpasswd' }, expect: { status: [400, 404], field: 'params.id' }, requires: get },
    { name: 'jobs: unknown job id', req: { method: 'GET', url: `/evaluations/${id}` }, expect: { status: 404, field: 'params.id' }, requires: get },
    { name: 'jobs: delete an unknown job', req: { method: 'DELETE', url: `/evaluations/${id}` }, expect: { status: 404, field: 'params.id' }, requires: { method: 'DELETE', url: '/evaluations/:id' } },
    { name: 'jobs: report of an unknown job', req: { method: 'GET', url: `/evaluations/${id}/report` }, expect: { status: 404, field: 'params.id' }, requires: { method: 'GET', url: '/evaluations/:id/report' } },
    { name: 'jobs: truncated JSON', req: { ...json('{"ground_truth": ['), url: '/evaluations' }, expect: { status: 400, code: 'MRC_ERR_INVALID_JSON', field: 'body' }, requires: post },
    { name: 'jobs: ground_truth missing', req: { ...json({ detections: [] }), url: '/evaluations' }, expect: { status: 400, code: 'MRC_ERR_VALIDATION', field: 'body.ground_truth' }, requires: post },
    { name: 'jobs: text/plain body', req: { method: 'POST', url: '/evaluations', headers: { 'content-type': 'text/plain' }, payload: 'x' }, expect: { status: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers.content-type' }, requires: post },
    { name: 'jobs: multipart without annotations', req: { ...mpEval([{ name: 'image', data: makePng(4, 4), filename: 'a.png' }]), url: '/evaluations' }, expect: { status: 400, field: 'annotations' }, requires: post },
  ];
}

/** Extreme-aspect images: valid, decodable, but the graph's Resize gets a zero scale. */
export function extremeAspectPng(): Buffer {
  return makePng(2000, 1);
}
