"""Golden values for the TypeScript loss core's unit tests (test/losses/golden.test.ts).

  /usr/bin/python3 tools/model/golden_losses.py [--out test/fixtures/losses-unit]

Calls torchvision 0.14's own pieces on small random tensors with fixed seeds and writes JSON:
  iou.json        box_iou on random and integer (tie-rich) boxes
  matcher.json    Matcher(0.7, 0.3, low-quality) and Matcher(0.5, 0.5) on tie-rich matrices
  coder.json      BoxCoder encode (weights 1 and 10,10,5,5) and decode
  anchors.json    AnchorGenerator per padded size: sha256 of the float32 bytes + a few rows
  resize.json     eager GeneralizedRCNNTransform sizes, nearest-resize source indices of the masks
  roi_align.json  roi_align(output 28, spatial_scale 1, sampling -1, aligned False) + a few variants
  pipeline-*.json synthetic "graph outputs" + GT with torchvision's five losses: sampling "all"
                  (batch sizes 2**30), "expected" (exact formula on torch's per-element losses) and a
                  seeded Monte-Carlo of the stock sampler (mean, standard error), plus the mask
                  diagnostics (Dice, label-smoothed BCE) on torch's own mask targets.
Float32 arrays are base64 little-endian ("f32" keys), masks base64 uint8 ("u8").
Only a hand-check tool: nothing runs it at test time.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_loss, project_masks_on_boxes
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import box_iou, roi_align

sys.path.insert(0, os.path.dirname(__file__))
from loss_recipe import expected_cls_box, smooth_l1  # noqa: E402

RATIOS = (0.5, 1.0, 2.0)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def f32(t) -> str:
    return base64.b64encode(np.ascontiguousarray(np.asarray(t, dtype="<f4")).tobytes()).decode()


def u8(t) -> str:
    return base64.b64encode(np.ascontiguousarray(np.asarray(t, dtype=np.uint8)).tobytes()).decode()


def flist(t):
    return [float(v) for v in t.flatten().tolist()]


def rand_boxes(g, n, w, h, min_size=1.0):
    x1 = torch.rand(n, generator=g) * (w - min_size)
    y1 = torch.rand(n, generator=g) * (h - min_size)
    bw = min_size + torch.rand(n, generator=g) * (w - x1 - min_size)
    bh = min_size + torch.rand(n, generator=g) * (h - y1 - min_size)
    return torch.stack([x1, y1, x1 + bw, y1 + bh], 1)


def gen_iou(g):
    a = rand_boxes(g, 12, 100, 80)
    b = torch.cat([rand_boxes(g, 10, 100, 80), a[:3].clone()])
    ia = torch.randint(0, 6, (10, 2), generator=g).float() * 5
    ib = torch.randint(0, 6, (14, 2), generator=g).float() * 5
    ia = torch.cat([ia, ia + 5 + torch.randint(0, 3, (10, 2), generator=g).float() * 5], 1)
    ib = torch.cat([ib, ib + 5 + torch.randint(0, 3, (14, 2), generator=g).float() * 5], 1)
    return {"cases": [{"a": flist(a), "b": flist(b), "iou": flist(box_iou(a, b))},
                      {"a": flist(ia), "b": flist(ib), "iou": flist(box_iou(ia, ib))}]}


def gen_matcher(g):
    vals = torch.tensor([0.0, 0.1, 0.29999998, 0.3, 0.5, 0.69999999, 0.7, 0.9])
    cases = []
    for G, N in [(3, 12), (4, 20), (1, 9), (5, 30)]:
        for _ in range(3):
            m = vals[torch.randint(0, len(vals), (G, N), generator=g)]
            for hi, lo, low_q in [(0.7, 0.3, True), (0.5, 0.5, False), (0.7, 0.3, False), (0.5, 0.4, True)]:
                out = det_utils.Matcher(hi, lo, allow_low_quality_matches=low_q)(m.clone())
                cases.append({"G": G, "N": N, "high": hi, "low": lo, "low_quality": low_q,
                              "iou": flist(m), "matches": out.tolist()})
    # a GT overlapping no element at all: every element with IoU 0 becomes positive
    m = torch.zeros(2, 6)
    m[1, 2] = 0.8
    out = det_utils.Matcher(0.7, 0.3, True)(m.clone())
    cases.append({"G": 2, "N": 6, "high": 0.7, "low": 0.3, "low_quality": True, "iou": flist(m), "matches": out.tolist()})
    return {"cases": cases}


def gen_coder(g):
    gt = rand_boxes(g, 40, 300, 200, 2.0)
    ref = rand_boxes(g, 40, 300, 200, 2.0)
    deltas = torch.randn(40, 4, generator=g) * 0.7
    deltas[0, 2] = 6.0  # exercises the exp clamp
    out = {"gt": flist(gt), "ref": flist(ref), "deltas": flist(deltas), "cases": []}
    for w in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
        bc = det_utils.BoxCoder(w)
        out["cases"].append({"weights": list(w), "encode": flist(bc.encode_single(gt, ref)),
                             "decode": flist(bc.decode_single(deltas, ref))})
    return out


def feat_sizes(hp, wp, n):
    fh, fw, out = math.ceil(hp / 4), math.ceil(wp / 4), []
    for i in range(n):
        if i:
            fh, fw = math.ceil(fh / 2), math.ceil(fw / 2)
        out.append((fh, fw))
    return out


def anchors_for(hp, wp, sizes):
    ag = AnchorGenerator(tuple((s,) for s in sizes), (RATIOS,) * len(sizes))
    il = ImageList(torch.zeros(1, 3, hp, wp), [(hp, wp)])
    feats = [torch.zeros(1, 1, fh, fw) for fh, fw in feat_sizes(hp, wp, len(sizes))]
    return ag(il, feats)[0]


def gen_anchors():
    cases = []
    for sizes in [(16, 32, 64, 128, 256), (32, 64, 128, 256, 512)]:
        for hp, wp in [(64, 96), (96, 64), (256, 320), (320, 64), (64, 320), (320, 320), (224, 320), (800, 1344), (96, 96)]:
            a = anchors_for(hp, wp, sizes).contiguous()
            cases.append({"sizes": list(sizes), "padded": [hp, wp], "count": a.shape[0],
                          "sha256": hashlib.sha256(a.numpy().astype("<f4").tobytes()).hexdigest(),
                          "head": flist(a[:6]), "tail": flist(a[-6:])})
    return {"cases": cases}


def gen_resize(g):
    sizes = []
    for min_s, max_s in [(256, 320), (800, 1333)]:
        t = GeneralizedRCNNTransform(min_s, max_s, MEAN, STD)
        hw = [(96, 518), (518, 96), (233, 233), (202, 154), (116, 197), (128, 128), (256, 256), (160, 200)]
        hw += [tuple(int(v) for v in torch.randint(20, 900, (2,), generator=g)) for _ in range(40)]
        for H, W in hw:
            img, _ = t.resize(torch.zeros(3, H, W))
            sizes.append({"min_size": min_s, "max_size": max_s, "in": [H, W], "out": list(img.shape[-2:])})
    nearest = []
    for H, W in [(128, 128), (256, 256), (96, 518), (518, 96), (233, 233), (202, 154), (116, 197), (160, 200), (61, 47)]:
        # the same interpolate call as transform._resize_image_and_masks, on a plane of source indices
        plane = (torch.arange(H, dtype=torch.float32)[:, None] * W + torch.arange(W, dtype=torch.float32)[None, :])
        m = torch.min(torch.tensor([H, W])).to(torch.float32)
        M = torch.max(torch.tensor([H, W])).to(torch.float32)
        scale = torch.min(256.0 / m, 320.0 / M).item()
        r = F.interpolate(plane[None, None], size=None, scale_factor=scale, recompute_scale_factor=True)[0, 0]
        nearest.append({"in": [H, W], "out": list(r.shape), "ys": (r[:, 0] // W).long().tolist(),
                        "xs": (r[0, :] % W).long().tolist()})
    return {"sizes": sizes, "nearest": nearest}


def gen_roi_align(g):
    cases = []
    planes = [(torch.rand(37, 53, generator=g) > 0.5).float(), torch.rand(20, 30, generator=g)]
    for pi, p in enumerate(planes):
        h, w = p.shape
        boxes = torch.cat([rand_boxes(g, 3, w, h), torch.tensor([
            [-5.0, -3.0, 20.0, 15.0], [w - 10.0, h - 8.0, w + 6.0, h + 4.0], [3.2, 4.7, 3.6, 5.0],
            [-30.0, -30.0, -10.0, -12.0], [0.0, 0.0, float(w), float(h)], [1.5, 2.25, 1.5 + 0.3 * w, 2.25 + 0.9 * h]])])
        rois = torch.cat([torch.zeros(len(boxes), 1), boxes], 1)
        variants = [(-1, False, 28)] + ([(2, False, 14), (-1, True, 14)] if pi == 0 else [])
        for sr, aligned, size in variants:
            out = roi_align(p[None, None], rois, (size, size), 1.0, sr, aligned)
            cases.append({"plane": pi, "sampling_ratio": sr, "aligned": aligned, "size": size, "boxes": flist(boxes),
                          "out": f32(out[:, 0].numpy())})
    return {"planes": [{"h": p.shape[0], "w": p.shape[1], "data": f32(p.numpy())} for p in planes], "cases": cases}


def make_gt(g, H, W, G, C, tiny=False):
    boxes = rand_boxes(g, G, W, H, 4.0).round()
    if tiny and G:
        boxes[0] = torch.tensor([5.0, 7.0, 7.0, 10.0])
    masks = torch.zeros(G, H, W, dtype=torch.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        blob = (torch.rand(y2 - y1, x2 - x1, generator=g) > 0.25).to(torch.uint8)
        masks[i, y1:y2, x1:x2] = blob
    labels = torch.randint(1, C, (G,), generator=g)
    return boxes, labels, masks


def gen_pipeline(seed, H, W, G, C, min_s, max_s, sizes, P, tiny=False, with_anchors=False, mc_runs=300,
                 rpn_b=256, box_b=512):
    g = torch.Generator().manual_seed(seed)
    boxes, labels, masks = make_gt(g, H, W, G, C, tiny)
    t = GeneralizedRCNNTransform(min_s, max_s, MEAN, STD)
    t.train()
    il, targets = t([torch.rand(3, H, W, generator=g)], [{"boxes": boxes.clone(), "labels": labels, "masks": masks}])
    tg = targets[0]
    h, w = il.image_sizes[0]
    hp, wp = il.tensors.shape[-2:]
    ag = AnchorGenerator(tuple((s,) for s in sizes), (RATIOS,) * len(sizes))
    anchors = ag(il, [torch.zeros(1, 1, fh, fw) for fh, fw in feat_sizes(hp, wp, len(sizes))])[0]
    A = anchors.shape[0]
    rpn = RegionProposalNetwork(ag, RPNHead(1, 3), 0.7, 0.3, 256, 0.5, dict(training=1000, testing=1000),
                                dict(training=1000, testing=1000), 0.7)
    rl, mgt = rpn.assign_targets_to_anchors([anchors], targets)
    rt = rpn.box_coder.encode(mgt, [anchors])
    obj = torch.randn(A, generator=g) * 2
    dl = torch.randn(A, 4, generator=g) * 0.3
    # proposals: random boxes plus jittered GT so that some RoIs are fg
    props = [rand_boxes(g, P, w, h, 0.5)]
    for b in tg["boxes"]:
        bw, bh = b[2] - b[0], b[3] - b[1]
        j = (torch.rand(2, 4, generator=g) - 0.5) * 0.4 * torch.stack([bw, bh, bw, bh])
        props.append(b[None] + j)
    props = torch.cat(props)
    props[:, 0::2] = props[:, 0::2].clamp(0, w)
    props[:, 1::2] = props[:, 1::2].clamp(0, h)
    keep = ((props[:, 2] - props[:, 0]) > 1e-3) & ((props[:, 3] - props[:, 1]) > 1e-3)
    props = props[keep]
    rois = torch.cat([props, tg["boxes"]])
    R = rois.shape[0]
    rh = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 100)
    logits = torch.randn(R, C, generator=g) * 1.5
    bdel = torch.randn(R, 4 * C, generator=g) * 0.5
    if G:
        iou = box_iou(tg["boxes"], rois)
        inds = torch.nonzero(iou.max(0).values >= 0.5).flatten()
    else:
        inds = torch.zeros(0, dtype=torch.int64)
    mlog = torch.randn(len(inds), C, 28, 28, generator=g) * 2

    # sampling "all" (deterministic recipe, batch 2**30)
    rpn.fg_bg_sampler.batch_size_per_image = 2 ** 30
    rh.fg_bg_sampler.batch_size_per_image = 2 ** 30
    lo_all, lb_all = rpn.compute_loss(obj, dl, rl, rt)
    sp, midx, slab, srt = rh.select_training_samples([props], targets)
    assert torch.equal(sp[0], rois)
    lc_all, lbr_all = fastrcnn_loss(logits, bdel, slab, srt)
    pos = torch.where(slab[0] > 0)[0]
    assert torch.equal(pos, inds), (pos, inds)
    lm = maskrcnn_loss(mlog, [rois[pos]], [tg["masks"]], [tg["labels"]], [midx[0][pos]])
    # diagnostics on torch's own targets
    if len(pos):
        mt = project_masks_on_boxes(tg["masks"], rois[pos], midx[0][pos], 28)
        lg = mlog[torch.arange(len(pos)), slab[0][pos]]
        p = lg.sigmoid().flatten(1)
        tt = mt.flatten(1)
        dice = float((1 - (2 * (p * tt).sum(1) + 1) / (p.sum(1) + tt.sum(1) + 1)).mean())
        bce_s = float(F.binary_cross_entropy_with_logits(lg, mt * 0.95 + 0.025))
    else:
        dice, bce_s = 0.0, 0.0
    counts = {"anchors_pos": int((rl[0] == 1).sum()), "anchors_neg": int((rl[0] == 0).sum()),
              "rois_fg": int((slab[0] > 0).sum()), "rois_bg": int((slab[0] == 0).sum())}

    # "expected": exact formula on torch's per-element losses
    lab_a = rl[0]
    lo_el = F.binary_cross_entropy_with_logits(obj, lab_a.clamp(min=0), reduction="none")
    ap = lab_a >= 1
    e_obj, e_rbox = expected_cls_box(lo_el, smooth_l1(dl[ap] - rt[0][ap], 1 / 9).double().sum(), lab_a, rpn_b, 0.5)
    lab_r = slab[0]
    ce = F.cross_entropy(logits, lab_r, reduction="none")
    fg = lab_r > 0
    br = bdel.reshape(R, -1, 4)[fg.nonzero().flatten(), lab_r[fg]]
    e_cls, e_box = expected_cls_box(ce, smooth_l1(br - srt[0][fg], 1 / 9).double().sum(), lab_r, box_b, 0.25)

    # seeded Monte-Carlo of the stock samplers
    rpn.fg_bg_sampler.batch_size_per_image = rpn_b
    rh.fg_bg_sampler.batch_size_per_image = box_b
    torch.manual_seed(seed)
    runs = {k: [] for k in ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"]}
    for _ in range(mc_runs):
        a, b = rpn.compute_loss(obj, dl, rl, rt)
        pm, nm = rh.fg_bg_sampler(slab)
        si = torch.where(pm[0] | nm[0])[0]
        c_, d_ = fastrcnn_loss(logits[si], bdel[si], [lab_r[si]], [srt[0][si]])
        sfg = si[lab_r[si] > 0]
        j = torch.searchsorted(inds, sfg)
        m_ = maskrcnn_loss(mlog[j], [rois[sfg]], [tg["masks"]], [tg["labels"]], [midx[0][sfg]])
        for k, v in zip(runs, [a, b, c_, d_, m_]):
            runs[k].append(float(v))
    mc_mean = {k: float(np.mean(v)) for k, v in runs.items()}
    mc_se = {k: float(np.std(v, ddof=1) / math.sqrt(len(v))) for k, v in runs.items()}

    consts = {"loss_contract_version": 1, "num_classes": C, "min_size": min_s, "max_size": max_s,
              "image_mean": MEAN, "image_std": STD, "size_divisible": 32, "anchor_sizes": list(sizes),
              "aspect_ratios": list(RATIOS), "rpn_fg_iou": 0.7, "rpn_bg_iou": 0.3, "rpn_batch_size_per_image": rpn_b,
              "rpn_positive_fraction": 0.5, "rpn_pre_nms_top_n": 1000, "rpn_post_nms_top_n": 1000,
              "rpn_nms_thresh": 0.7, "rpn_score_thresh": 0.0, "box_fg_iou": 0.5, "box_bg_iou": 0.5,
              "box_batch_size_per_image": box_b, "box_positive_fraction": 0.25, "rpn_reg_weights": [1.0] * 4,
              "bbox_reg_weights": [10.0, 10.0, 5.0, 5.0], "smooth_l1_beta": 1 / 9, "mask_size": 28,
              "roialign_aligned": False, "pooler_scales": [0.25, 0.125, 0.0625, 0.03125],
              "torchvision_version": "0.14.1", "opset": 11}
    outputs = {
        "image_size": {"dims": [2], "i64": [h, w]}, "padded_size": {"dims": [2], "i64": [hp, wp]},
        "rpn_objectness": {"dims": [A], "f32": f32(obj)}, "rpn_box_deltas": {"dims": [A, 4], "f32": f32(dl)},
        "proposals": {"dims": [props.shape[0], 4], "f32": f32(props)}, "rois": {"dims": [R, 4], "f32": f32(rois)},
        "roi_class_logits": {"dims": [R, C], "f32": f32(logits)}, "roi_box_deltas": {"dims": [R, 4 * C], "f32": f32(bdel)},
        "mask_roi_inds": {"dims": [len(inds)], "i64": inds.tolist()},
        "mask_logits": {"dims": list(mlog.shape), "f32": f32(mlog)},
    }
    if with_anchors:
        outputs["anchors"] = {"dims": [A, 4], "f32": f32(anchors)}
    five = lambda a, b, c, d, e: {"loss_objectness": float(a), "loss_rpn_box_reg": float(b),  # noqa: E731
                                  "loss_classifier": float(c), "loss_box_reg": float(d), "loss_mask": float(e)}
    return {
        "seed": seed, "constants": consts,
        "gt": {"height": H, "width": W, "boxes": flist(boxes), "labels": labels.tolist(),
               "masks": [u8(m.numpy()) for m in masks], "scaled": flist(tg["boxes"])},
        "outputs": outputs,
        "torch": {"all": five(lo_all, lb_all, lc_all, lbr_all, lm), "expected": five(e_obj, e_rbox, e_cls, e_box, lm),
                  "mc": {"runs": mc_runs, "mean": mc_mean, "se": mc_se}, "counts": counts,
                  "mask_dice": dice, "mask_bce_smooth": bce_s},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/losses-unit")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    files = {"iou.json": gen_iou(g), "matcher.json": gen_matcher(g), "coder.json": gen_coder(g),
             "anchors.json": gen_anchors(), "resize.json": gen_resize(g), "roi_align.json": gen_roi_align(g)}
    small = (16, 32, 64, 128, 256)
    files["pipeline-a.json"] = gen_pipeline(11, 50, 70, 3, 3, 64, 96, small, 40, tiny=True, with_anchors=True, box_b=32)
    files["pipeline-b.json"] = gen_pipeline(12, 90, 40, 2, 3, 64, 96, small, 30)
    files["pipeline-empty.json"] = gen_pipeline(13, 64, 64, 0, 4, 64, 96, small, 20)
    files["pipeline-c.json"] = gen_pipeline(14, 100, 120, 3, 4, 80, 96, (32, 64, 128, 256, 512), 50, rpn_b=64, box_b=16)
    for name, obj in files.items():
        with open(os.path.join(a.out, name), "w") as f:
            json.dump(obj, f, separators=(",", ":"))
        print(name, os.path.getsize(os.path.join(a.out, name)))


if __name__ == "__main__":
    main()
