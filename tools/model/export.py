"""Exports a torchvision MaskRCNN checkpoint to ONNX + manifest.json.

  /usr/bin/python3 tools/model/export.py --config tools/model/config.json \
      --weights work/train/weights.pt --out models/shapes [--stock]

Default: the loss-capable graph of docs/architecture.md (contract version 1). --stock writes the plain
detections-only torchvision export (outputs boxes, labels, scores, masks [D,1,H,W]).

Works for any MaskRCNN that build.py can build from a config (backbone, classes, sizes); for other
architectures import `export_model(model, cfg, out_dir)` and pass your own MaskRCNN instance.

Export rules applied (docs/losses.md explains each):
  * the resized size computed inside the graph exactly as eager torchvision does (resized_hw), not
    with torch's traced float32 product;
  * pooler scales pinned to 1/4..1/32 (torchvision caches them from the first batch otherwise);
  * opset 11 (opset >= 16 would silently flip RoIAlign to aligned=True);
  * RoI levels merged by a Gather instead of torchvision's per-level full-size scatters (2x faster).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn
import torchvision
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.roi_heads import maskrcnn_inference
from torchvision.ops import boxes as box_ops

sys.path.insert(0, os.path.dirname(__file__))
from build import build_model, load_config, pin_pooler_scales  # noqa: E402

OPSET = 11


def _merge_levels_gather(levels: torch.Tensor, unmerged_results):
    """Drop-in for torchvision.ops.poolers._onnx_merge_levels (export only): the same rows in the
    same order, by one Gather with the inverse permutation instead of one full-size ScatterElements
    per level. Measured with onnxruntime-node (256x256, 2 threads): the scatters were 47% of the
    graph's time (118 ms of 250 ms). Pure data movement: outputs are bit-identical."""
    idx = [torch.where(levels == lvl)[0] for lvl in range(len(unmerged_results))]
    perm = torch.cat(idx)
    inv = torch.zeros_like(perm).scatter(0, perm, torch.arange(perm.shape[0], dtype=perm.dtype))
    return torch.cat(unmerged_results, 0)[inv]
OUTPUTS = ["det_boxes", "det_labels", "det_scores", "det_masks", "image_size", "padded_size",
           "anchors", "rpn_objectness", "rpn_box_deltas", "proposals", "rois",
           "roi_class_logits", "roi_box_deltas", "mask_roi_inds", "mask_logits"]


def resized_hw(hw: torch.Tensor, min_size: float, max_size: float) -> torch.Tensor:
    """The resized (h', w') exactly as eager torchvision's GeneralizedRCNNTransform computes it.

    torchvision evaluates `min_size / side` with a Python float over a float32 tensor, which torch
    runs as `reciprocal(side) * min_size` (Tensor.__rtruediv__), each step rounded to float32; a
    true float32 division differs for many sizes (480x640 at 800/1333: 799x1066 instead of
    torchvision's 800x1066). interpolate(recompute_scale_factor=True) then takes
    floor(float64(side) * float64(scale)). Checked against torchvision on the golden table of
    test/fixtures/transform (tools/model/size_table.py).
    """
    hwf = hw.to(torch.float32)  # [..., 2]
    s_min = torch.reciprocal(hwf.min(dim=-1, keepdim=True)[0]) * min_size
    s_max = torch.reciprocal(hwf.max(dim=-1, keepdim=True)[0]) * max_size
    scale = torch.min(s_min, s_max)
    return torch.floor(hw.to(torch.float64) * scale.to(torch.float64)).to(torch.int64)


def _tracing() -> bool:
    return torch._C._get_tracing_state() is not None


class LossCapable(nn.Module):
    """image f32 [3,H,W] in [0,1] + gt_boxes f32 [G,4] (original px) -> detections and every tensor
    the five torchvision losses need (see docs/architecture.md)."""

    def __init__(self, model: torchvision.models.detection.MaskRCNN):
        super().__init__()
        self.m = model
        t = model.transform
        self.register_buffer("mean", torch.tensor(t.image_mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("std", torch.tensor(t.image_std, dtype=torch.float32)[:, None, None])
        self.min_size = float(t.min_size[-1])
        self.max_size = float(t.max_size)

    def forward(self, image: torch.Tensor, gt_boxes: torch.Tensor):
        m = self.m
        x = (image - self.mean) / self.std
        hw = torch._shape_as_tensor(image)[1:3]  # int64 [2] = (H, W)
        hwf = hw.to(torch.float32)
        new_hw = resized_hw(hw, self.min_size, self.max_size)
        if _tracing():
            size = (new_hw[0], new_hw[1])
        else:
            size = (int(new_hw[0]), int(new_hw[1]))
        x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
        image_sizes = [(x.shape[-2], x.shape[-1])]
        batched = m.transform.batch_images([x], size_divisible=32)
        il = ImageList(batched, image_sizes)
        feats = m.backbone(batched)
        fl = list(feats.values())

        # RPN (eval-mode top-n = the deterministic recipe's values)
        obj, deltas = m.rpn.head(fl)
        anchors = m.rpn.anchor_generator(il, fl)
        shapes = [o[0].shape for o in obj]
        per_level = [s[0] * s[1] * s[2] for s in shapes]
        obj_flat, deltas_flat = concat_box_prediction_layers(obj, deltas)
        props = m.rpn.box_coder.decode(deltas_flat.detach(), anchors).view(1, -1, 4)
        boxes, _scores = m.rpn.filter_proposals(props, obj_flat, il.image_sizes, per_level)
        proposals = boxes[0]

        # GT into the resized frame, with the integer output size ratios (transform.resize_boxes)
        new_f = new_hw.to(torch.float32)
        rh = new_f[0] / hwf[0]
        rw = new_f[1] / hwf[1]
        g = gt_boxes.reshape(-1, 4)
        gt_s = torch.stack([g[:, 0] * rw, g[:, 1] * rh, g[:, 2] * rw, g[:, 3] * rh], dim=1)
        rois = torch.cat([proposals, gt_s], dim=0)

        rh_ = m.roi_heads
        bf = rh_.box_head(rh_.box_roi_pool(feats, [rois], il.image_sizes))
        cls_logits, box_deltas = rh_.box_predictor(bf)
        n_p = proposals.shape[0]
        d_boxes, d_scores, d_labels = rh_.postprocess_detections(
            cls_logits[:n_p], box_deltas[:n_p], [proposals], il.image_sizes)
        d_boxes, d_scores, d_labels = d_boxes[0], d_scores[0], d_labels[0]
        mf = rh_.mask_head(rh_.mask_roi_pool(feats, [d_boxes], il.image_sizes))
        d_mask_logits = rh_.mask_predictor(mf)
        d_masks = maskrcnn_inference(d_mask_logits, [d_labels])[0]
        # back to original pixels (transform.postprocess -> resize_boxes with orig/resized ratios)
        bh = hwf[0] / new_f[0]
        bw = hwf[1] / new_f[1]
        det_boxes = torch.stack([d_boxes[:, 0] * bw, d_boxes[:, 1] * bh,
                                 d_boxes[:, 2] * bw, d_boxes[:, 3] * bh], dim=1)

        # mask logits only for RoIs whose best IoU with a GT is >= 0.5 (the fg set of the matcher)
        dummy = torch.tensor([[-10.0, -10.0, -9.0, -9.0]])  # IoU 0 with every in-image box: G = 0 safe
        iou = box_ops.box_iou(rois, torch.cat([gt_s, dummy], dim=0))
        best = iou.max(dim=1)[0]
        inds = torch.nonzero(best >= 0.5).reshape(-1)
        mlog = rh_.mask_predictor(rh_.mask_head(rh_.mask_roi_pool(feats, [rois[inds]], il.image_sizes)))

        padded = torch._shape_as_tensor(batched)[2:4]
        return (det_boxes, d_labels, d_scores, d_masks, new_hw, padded,
                anchors[0], obj_flat.reshape(-1), deltas_flat.reshape(-1, 4), proposals, rois,
                cls_logits, box_deltas, inds, mlog)


def loss_constants(model, cfg):
    rpn, rh = model.rpn, model.roi_heads
    ag = rpn.anchor_generator
    return {
        "loss_contract_version": 1,
        "num_classes": len(cfg["classes"]) + 1,
        "min_size": int(model.transform.min_size[-1]),
        "max_size": int(model.transform.max_size),
        "image_mean": [float(v) for v in model.transform.image_mean],
        "image_std": [float(v) for v in model.transform.image_std],
        "size_divisible": int(model.transform.size_divisible),
        "anchor_sizes": [int(s[0]) for s in ag.sizes],
        "aspect_ratios": [float(r) for r in ag.aspect_ratios[0]],
        "rpn_fg_iou": float(rpn.proposal_matcher.high_threshold),
        "rpn_bg_iou": float(rpn.proposal_matcher.low_threshold),
        "rpn_batch_size_per_image": int(rpn.fg_bg_sampler.batch_size_per_image),
        "rpn_positive_fraction": float(rpn.fg_bg_sampler.positive_fraction),
        "rpn_pre_nms_top_n": int(rpn._pre_nms_top_n["testing"]),
        "rpn_post_nms_top_n": int(rpn._post_nms_top_n["testing"]),
        "rpn_nms_thresh": float(rpn.nms_thresh),
        "rpn_score_thresh": float(rpn.score_thresh),
        "box_fg_iou": float(rh.proposal_matcher.high_threshold),
        "box_bg_iou": float(rh.proposal_matcher.low_threshold),
        "box_batch_size_per_image": int(rh.fg_bg_sampler.batch_size_per_image),
        "box_positive_fraction": float(rh.fg_bg_sampler.positive_fraction),
        "box_score_thresh": float(rh.score_thresh),
        "box_nms_thresh": float(rh.nms_thresh),
        "box_detections_per_img": int(rh.detections_per_img),
        "rpn_reg_weights": [float(w) for w in rpn.box_coder.weights],
        "bbox_reg_weights": [float(w) for w in rh.box_coder.weights],
        "smooth_l1_beta": 1.0 / 9.0,
        "mask_size": 28,
        "roialign_aligned": False,
        "pooler_scales": [float(s) for s in rh.box_roi_pool.scales],
        "torchvision_version": torchvision.__version__.split("a")[0],
        "opset": OPSET,
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_model(model, cfg, out_dir, stock=False, extra_manifest=None):
    import torchvision.ops.poolers as poolers
    poolers._onnx_merge_levels = _merge_levels_gather
    model.eval()
    pin_pooler_scales(model)
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "model.onnx")
    img = torch.rand(3, 200, 248)
    if stock:
        torch.onnx.export(model, ([img],), onnx_path, opset_version=OPSET,
                          input_names=["image"], output_names=["boxes", "labels", "scores", "masks"],
                          dynamic_axes={"image": {1: "H", 2: "W"}, "boxes": {0: "D"}, "labels": {0: "D"},
                                        "scores": {0: "D"}, "masks": {0: "D", 2: "H", 3: "W"}})
        outputs = {"boxes": "boxes", "labels": "labels", "scores": "scores", "masks": "masks"}
    else:
        wrapper = LossCapable(model).eval()
        gt = torch.tensor([[20.0, 30.0, 90.0, 100.0], [120.0, 40.0, 200.0, 150.0]])
        dyn = {"image": {1: "H", 2: "W"}, "gt_boxes": {0: "G"}}
        for n in OUTPUTS:
            dyn[n] = {0: n + "_0"}
        with torch.no_grad():
            torch.onnx.export(wrapper, (img, gt), onnx_path, opset_version=OPSET,
                              input_names=["image", "gt_boxes"], output_names=OUTPUTS,
                              dynamic_axes=dyn, do_constant_folding=True)
        outputs = {n: n for n in OUTPUTS}
    manifest = {
        "name": cfg.get("name", "maskrcnn"),
        "version": cfg.get("version", "0.0.0"),
        "format": "stock" if stock else "loss-capable",
        "file": "model.onnx",
        "sha256": sha256(onnx_path),
        "classes": list(cfg["classes"]),
        "input": {"name": "image", "layout": "CHW", "range": [0, 1], "color": "RGB", "dtype": "float32"},
        "gt_input": None if stock else "gt_boxes",
        "outputs": outputs,
        "loss_constants": None if stock else loss_constants(model, cfg),
        "torch_version": torch.__version__, "opset": OPSET,
    }
    if extra_manifest:
        manifest.update(extra_manifest)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "config.json"))
    ap.add_argument("--weights", required=True, help="state_dict (.pt) or a train.py checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stock", action="store_true")
    ap.add_argument("--extra", help="JSON file merged into manifest.json (training, quality)")
    a = ap.parse_args()
    cfg = load_config(a.config)
    model = build_model(cfg)
    state = torch.load(a.weights, map_location="cpu")
    if "model" in state and "iter" in state:
        state = state["model"]
    model.load_state_dict(state)
    extra = json.load(open(a.extra)) if a.extra else None
    man = export_model(model, cfg, a.out, stock=a.stock, extra_manifest=extra)
    print(json.dumps({k: man[k] for k in ("name", "format", "sha256")}),
          f"{os.path.getsize(os.path.join(a.out, 'model.onnx')) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
