/**
 * The real service for end-to-end tests: buildApp(config) from src/app.ts with the real model
 * (models/shapes), listening on 127.0.0.1 on a random port. Tests skip (with this message) only
 * when the model file is absent. Also a detections-mode /evaluate payload whose category and file
 * names are partly hostile, to prove they never become metric labels.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const MODEL_DIR = join(ROOT, 'models');
export const MODEL_NAME = 'shapes';
export const MODEL_FILE = join(MODEL_DIR, MODEL_NAME, 'model.onnx');

/** `test(name, { skip: skipNoModel }, fn)`: the only reason the real-app tests may skip. */
export const skipNoModel: string | false = existsSync(MODEL_FILE)
  ? false
  : `model file absent: ${MODEL_FILE} (train/export it: see tools/model); real-app test skipped`;

/** The model's classes from its manifest (the only values the `class` label may take). */
export function modelClasses(): string[] {
  const manifest = JSON.parse(readFileSync(join(MODEL_DIR, MODEL_NAME, 'manifest.json'), 'utf8')) as { classes: string[] };
  return manifest.classes;
}

export interface Service {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  /** host:port, for a Prometheus scrape target. */
  hostPort: string;
  close(): Promise<void>;
}

/**
 * Builds the real app (model loaded and warmed up), listening on 127.0.0.1:<random>.
 * One worker with one intra-op thread: the machine's cores belong to other jobs too.
 */
export async function startService(opts: { listen?: boolean; env?: Record<string, string> } = {}): Promise<Service> {
  const { loadConfig } = await import('../../src/config.js');
  const { buildApp } = await import('../../src/app.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'mrcnn-e2e-data-'));
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    MODEL_DIR, MODEL_NAME, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent',
    INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', EXECUTION_PROVIDER: 'cpu', DATA_DIR: dataDir, ...opts.env,
  }, [], ROOT);
  const app = await buildApp(config, { logger: false, waitForModel: true });
  let baseUrl = '';
  let hostPort = '';
  if (opts.listen !== false) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('server has no TCP address');
    hostPort = `127.0.0.1:${addr.port}`;
    baseUrl = `http://${hostPort}`;
  }
  return { app, baseUrl, hostPort, close: () => app.close() };
}

/** Square [x, y, w, h] → a closed polygon, COCO style. */
const poly = ([x, y, w, h]: number[]): number[][] => [[x!, y!, x! + w!, y!, x! + w!, y! + h!, x!, y! + h!]];

/**
 * A COCO detections-mode /evaluate body: known classes (square, circle) plus a category name and
 * file names no label may ever carry. Scores/boxes make AP neither 0 nor 1.
 */
export function detectionsPayload(classes: readonly string[]): { ground_truth: unknown; detections: unknown[] } {
  const [c1 = 'square', c2 = 'circle'] = classes;
  const images = [
    { id: 1, file_name: 'evil_file_name_{le="1"}.png', width: 100, height: 100 },
    { id: 2, file_name: '../../etc/passwd_label_probe.png', width: 100, height: 100 },
  ];
  const boxes: Array<[number, number, number[]]> = [ // image, category, bbox
    [1, 1, [10, 10, 30, 30]], [1, 2, [50, 50, 20, 20]], [2, 1, [5, 5, 40, 40]], [2, 99, [60, 10, 25, 25]],
  ];
  const annotations = boxes.map(([image_id, category_id, bbox], i) => ({
    id: i + 1, image_id, category_id, bbox, area: bbox[2]! * bbox[3]!, iscrowd: 0, segmentation: poly(bbox),
  }));
  const categories = [
    { id: 1, name: c1 }, { id: 2, name: c2 }, { id: 99, name: 'unicorn_category_from_user' },
  ];
  const detections = [
    { image_id: 1, category_id: 1, bbox: [11, 11, 30, 29], score: 0.9 },
    { image_id: 1, category_id: 2, bbox: [70, 70, 20, 20], score: 0.8 },
    { image_id: 1, category_id: 2, bbox: [50, 51, 20, 19], score: 0.4 },
    { image_id: 2, category_id: 1, bbox: [6, 5, 39, 40], score: 0.7 },
    { image_id: 2, category_id: 99, bbox: [60, 10, 25, 25], score: 0.95 },
  ];
  return { ground_truth: { images, annotations, categories }, detections };
}

/**
 * A model-mode /evaluate form: the first `n` images of test/fixtures/losses (real PNGs of the
 * shapes dataset) as `image` files plus their COCO annotations as the `annotations` field.
 */
export function modelModeForm(n = 2): { form: FormData; images: number } {
  const dir = join(ROOT, 'test', 'fixtures', 'losses');
  const coco = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8')) as {
    images: Array<{ id: number; file_name: string }>; annotations: Array<{ image_id: number }>; categories: unknown[];
  };
  const images = coco.images.filter((im) => existsSync(join(dir, 'images', im.file_name))).slice(0, n);
  const ids = new Set(images.map((im) => im.id));
  const form = new FormData();
  form.append('annotations', JSON.stringify({
    images, annotations: coco.annotations.filter((a) => ids.has(a.image_id)), categories: coco.categories,
  }));
  for (const im of images) {
    form.append('image', new Blob([readFileSync(join(dir, 'images', im.file_name))], { type: 'image/png' }), im.file_name);
  }
  return { form, images: images.length };
}
