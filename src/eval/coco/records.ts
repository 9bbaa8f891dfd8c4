/**
 * @file Per-(image, category) evaluation records — pycocotools' `evalImgs` entries for all area ranges
 * — stored compactly: each record is one small object pointing into shared typed-array chunks (an
 * arena per `evaluateImages` call), so 100 000 cells cost a handful of large buffers instead of a
 * million small objects for the garbage collector. Views are created only when a field is read.
 *
 * Layout of one record (D detections in score order, G GTs, A area ranges, T IoU thresholds):
 *   data[dataOffset ..]:   dtIds [D] | dtScores [D] | gtIds [A×G] | dtMatches [A×T×D] | gtMatches [A×T×G]
 *   flags[flagsOffset ..]: gtIgnore [A×G] | dtIgnore [A×T×D]
 */

/** Evaluation record of one (image, category) cell for every area range and IoU threshold. */
export class ImageEvalRecord {
  constructor(
    readonly imageId: number,
    readonly categoryId: number,
    /** D: detections kept (<= maxDets[-1]), in score order */
    readonly numDt: number,
    /** G: ground-truth instances of the cell */
    readonly numGt: number,
    /** A: area ranges */
    readonly numAreas: number,
    /** T: IoU thresholds */
    readonly numThrs: number,
    /** shared Float64 chunk and this record's offset in it (layout in the file header) */
    readonly data: Float64Array,
    readonly dataOffset: number,
    /** shared Uint8 chunk and this record's offset in it */
    readonly flags: Uint8Array,
    readonly flagsOffset: number,
  ) {}

  private f64(start: number, n: number): Float64Array {
    return this.data.subarray(this.dataOffset + start, this.dataOffset + start + n);
  }

  /** [D] result ids (1-based input index), score order (`dtIds`). */
  get dtIds(): Float64Array {
    return this.f64(0, this.numDt);
  }

  /** [D] scores, descending, stable (`dtScores`). */
  get dtScores(): Float64Array {
    return this.f64(this.numDt, this.numDt);
  }

  /** [A×G] GT ids per area range in that range's order: non-ignored first, file order within (`gtIds`). */
  get gtIds(): Float64Array {
    return this.f64(2 * this.numDt, this.numAreas * this.numGt);
  }

  /** [A×T×D] id of the matched GT, 0 if unmatched (`dtMatches`). */
  get dtMatches(): Float64Array {
    return this.f64(2 * this.numDt + this.numAreas * this.numGt, this.numAreas * this.numThrs * this.numDt);
  }

  /** [A×T×G] id of the matched detection, 0 if unmatched (`gtMatches`). */
  get gtMatches(): Float64Array {
    const AT = this.numAreas * this.numThrs;
    return this.f64(2 * this.numDt + this.numAreas * this.numGt + AT * this.numDt, AT * this.numGt);
  }

  /** [A×G] 1 if the GT is ignored in that range: crowd or area out of range (`gtIgnore`). */
  get gtIgnore(): Uint8Array {
    return this.flags.subarray(this.flagsOffset, this.flagsOffset + this.numAreas * this.numGt);
  }

  /** [A×T×D] 1 if the detection is ignored (`dtIgnore`). */
  get dtIgnore(): Uint8Array {
    const s = this.flagsOffset + this.numAreas * this.numGt;
    return this.flags.subarray(s, s + this.numAreas * this.numThrs * this.numDt);
  }
}

/** Doubles / bytes in one arena chunk at most, and in the first one. */
const CHUNK = 1 << 18;
const FIRST_CHUNK = 1 << 12;

/** Sequential allocator of record storage in large chunks. */
export class RecordArena {
  private data = new Float64Array(0);
  private dataUsed = 0;
  private flags = new Uint8Array(0);
  private flagsUsed = 0;

  /** Storage for a record of D detections and G GTs; returns a zero-filled, unshared region. */
  allocate(imageId: number, categoryId: number, D: number, G: number, A: number, T: number): ImageEvalRecord {
    const nData = 2 * D + A * G + A * T * (D + G);
    const nFlags = A * G + A * T * D;
    // chunks grow from small (an arena per image when images are fed one by one) to CHUNK
    if (this.dataUsed + nData > this.data.length) {
      this.data = new Float64Array(Math.max(nData, Math.min(CHUNK, Math.max(FIRST_CHUNK, 2 * this.data.length))));
      this.dataUsed = 0;
    }
    if (this.flagsUsed + nFlags > this.flags.length) {
      this.flags = new Uint8Array(Math.max(nFlags, Math.min(CHUNK, Math.max(FIRST_CHUNK, 2 * this.flags.length))));
      this.flagsUsed = 0;
    }
    const rec = new ImageEvalRecord(imageId, categoryId, D, G, A, T, this.data, this.dataUsed, this.flags, this.flagsUsed);
    this.dataUsed += nData;
    this.flagsUsed += nFlags;
    return rec;
  }
}
