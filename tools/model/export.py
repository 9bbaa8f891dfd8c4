"""Exports a torchvision Mask R-CNN checkpoint to the service's model folder (model.onnx + manifest.json).

  /usr/bin/python3 tools/model/export.py --arch maskrcnn_resnet50_fpn --checkpoint model_25.pth \
      --classes classes.txt --out models/mine [--name mine --version 1.0.0] [--check] [--stock]
  /usr/bin/python3 tools/model/export.py --config tools/model/config.json --weights work/train/weights.pt \
      --out models/shapes                                   # --arch config: an architecture of build.py

--arch maskrcnn_resnet50_fpn | maskrcnn_resnet50_fpn_v2 | config (default: config with --config, else
detected from the checkpoint's keys). The checkpoint may be a bare state_dict, a training checkpoint
dict (torchvision's references: model, optimizer, lr_scheduler, args, epoch; this repo's train.py:
model, iter), DataParallel `module.` keys, a pickled full model, or a TorchScript archive.
num_classes comes from the box predictor's rows (background included); --classes is a text file (one
name a line, background excluded) or a COCO JSON (see read_classes for how ids map to labels). The
transform and head settings are the checkpoint's own when it carries them (a pickled model), else
torchvision's defaults, and any flag (--min-size 800 --max-size 1333 --image-mean ... --box-score-thresh
0.05 ...) overrides both. Every refusal is one line on stderr, exit code 2, with nothing written: the
export goes to a temporary folder beside --out, moved into place at the end. --check reads, checks,
builds and loads, and writes nothing.

Default: the loss-capable graph of docs/architecture.md (contract version 1). --stock writes the plain
detections-only torchvision export (outputs boxes, labels, scores, masks [D,1,H,W]). For other
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
import re
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn
import torchvision
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.roi_heads import maskrcnn_inference
from torchvision.ops import boxes as box_ops

sys.path.insert(0, os.path.dirname(__file__))
from build import (TORCHVISION_ARCHS, TORCHVISION_DEFAULTS, build_model, build_torchvision,  # noqa: E402
                   load_config, pin_pooler_scales, settings_of)

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


class ExportError(Exception):
    """A problem with the user's input: printed as one line, exit code 2, nothing written."""


ARCHS = TORCHVISION_ARCHS + ("config",)
MASK_KEY = "roi_heads.mask_predictor.mask_fcn_logits.weight"
CLS_KEY = "roi_heads.box_predictor.cls_score.weight"


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())


def _strip_prefix(sd: dict) -> tuple[dict, str | None]:
    """Removes a prefix every key carries: `module.` (DataParallel / DistributedDataParallel),
    `model.` (a wrapper module, e.g. PyTorch Lightning's self.model)."""
    for prefix in ("module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items()}, prefix
    return sd, None


_LEGACY = [  # torchvision < 0.13 parameter names -> 0.13+ (what their _load_from_state_dict renames)
    (re.compile(r"^(rpn\.head\.conv)\.(weight|bias)$"), lambda m: f"{m[1]}.0.0.{m[2]}"),
    (re.compile(r"^(backbone\.fpn\.(?:inner|layer)_blocks\.\d+)\.(weight|bias)$"), lambda m: f"{m[1]}.0.{m[2]}"),
    (re.compile(r"^(roi_heads\.mask_head)\.mask_fcn(\d+)\.(weight|bias)$"), lambda m: f"{m[1]}.{int(m[2]) - 1}.0.{m[3]}"),
]


def _rename_legacy(sd: dict) -> tuple[dict, int]:
    out, n = {}, 0
    for k, v in sd.items():
        for rx, fn in _LEGACY:
            m = rx.match(k)
            if m:
                k, n = fn(m), n + 1
                break
        out[k] = v
    return out, n


def _scripted_settings(m) -> dict:
    """The settings a scripted MaskRCNN exposes (its matchers and samplers are not readable)."""
    def get(path):
        o = m
        for part in path.split("."):
            o = getattr(o, part)
        return o
    paths = {"min_size": ("transform.min_size", lambda v: int(v[-1])), "max_size": ("transform.max_size", int),
             "image_mean": ("transform.image_mean", lambda v: [float(x) for x in v]),
             "image_std": ("transform.image_std", lambda v: [float(x) for x in v]),
             "rpn_pre_nms_top_n_test": ("rpn._pre_nms_top_n", lambda v: int(v["testing"])),
             "rpn_post_nms_top_n_test": ("rpn._post_nms_top_n", lambda v: int(v["testing"])),
             "rpn_nms_thresh": ("rpn.nms_thresh", float), "rpn_score_thresh": ("rpn.score_thresh", float),
             "box_score_thresh": ("roi_heads.score_thresh", float), "box_nms_thresh": ("roi_heads.nms_thresh", float),
             "box_detections_per_img": ("roi_heads.detections_per_img", int)}
    out = {}
    for k, (path, conv) in paths.items():
        try:
            out[k] = conv(get(path))
        except Exception:  # noqa: BLE001 - what cannot be read keeps its default
            pass
    return out


def read_checkpoint(path: str) -> dict:
    """Reads what people save and returns {"state_dict", "layout", "hints"}.

    Layouts: a bare state_dict; a training checkpoint dict holding it under "model" (torchvision's
    references/detection/train.py: model, optimizer, lr_scheduler, args, epoch [, scaler]; this
    repo's train.py: model, iter), "state_dict" or "model_state_dict"; keys prefixed by `module.`
    (DataParallel); a pickled full model (torch.save(model), also a DataParallel one); a TorchScript
    archive. `hints` holds what the checkpoint says about itself: the pickled model's settings and
    FrozenBatchNorm eps, or the training args (args.model, args.weights, args.rpn_score_thresh).
    """
    if not os.path.isfile(path):
        raise ExportError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the user's file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "torch.jit.load" in msg or "TorchScript" in msg or "constants.pkl" in msg:
            try:
                obj = torch.jit.load(path, map_location="cpu")
            except Exception:  # noqa: BLE001
                raise ExportError(f"cannot read checkpoint {path}: {msg}") from None
        elif isinstance(e, (AttributeError, ModuleNotFoundError)):
            raise ExportError(f"cannot unpickle {path}: {msg} (a pickled full model needs its classes "
                              "importable; save model.state_dict() instead)") from None
        else:
            raise ExportError(f"cannot read checkpoint {path}: not a file torch.save wrote? ({msg})") from None
    hints: dict = {}
    layout = None
    if isinstance(obj, dict) and not _is_state_dict(obj):
        keys = list(obj.keys())
        inner_key = next((k for k in ("model", "state_dict", "model_state_dict") if k in obj), None)
        if inner_key is None:
            shown = ", ".join(map(str, keys[:12])) + (", ..." if len(keys) > 12 else "")
            raise ExportError(f"unknown checkpoint layout in {path}: a dict with top-level keys [{shown}] and "
                              "no state_dict under \"model\", \"state_dict\" or \"model_state_dict\"")
        layout = f"training checkpoint dict (keys {', '.join(map(str, keys))}; weights under \"{inner_key}\")"
        args = obj.get("args")
        if args is not None:
            for k in ("model", "weights", "rpn_score_thresh"):
                v = args.get(k) if isinstance(args, dict) else getattr(args, k, None)
                if v is not None:
                    hints[f"args.{k}"] = v
        for k in ("epoch", "iter"):
            if isinstance(obj.get(k), int):
                hints[k] = obj[k]
        obj = obj[inner_key]
    if isinstance(obj, torch.nn.DataParallel):
        obj = obj.module
    if isinstance(obj, torch.nn.Module):
        scripted = isinstance(obj, torch.jit.ScriptModule)
        what = "TorchScript module" if scripted else f"pickled {type(obj).__name__} model"
        layout = what if layout is None else f"{layout}, holding a {what}"
        if isinstance(obj, torchvision.models.detection.MaskRCNN):
            hints["settings"] = settings_of(obj)
        elif scripted and getattr(obj, "original_name", "") == "MaskRCNN":
            hints["settings"] = _scripted_settings(obj)
        eps = [float(m.eps) for m in obj.modules() if isinstance(m, torchvision.ops.misc.FrozenBatchNorm2d)
               or getattr(m, "original_name", "") == "FrozenBatchNorm2d"]
        if eps:
            hints["frozen_bn_eps"] = eps[0]
        obj = obj.state_dict()
    if not _is_state_dict(obj):
        if isinstance(obj, dict):
            shown = ", ".join(map(str, list(obj.keys())[:12]))
            raise ExportError(f"unknown checkpoint layout in {path}: expected a state_dict (name -> tensor), "
                              f"found a dict with keys [{shown}]")
        raise ExportError(f"unknown checkpoint layout in {path}: a {type(obj).__name__}, not a state_dict, "
                          "a training checkpoint dict or a model")
    sd, prefix = _strip_prefix(dict(obj))
    sd, renamed = _rename_legacy(sd)
    layout = layout or "state_dict"
    if prefix:
        layout += f", keys prefixed \"{prefix}\" (removed)"
    if renamed:
        layout += f", {renamed} torchvision < 0.13 key names (renamed)"
    return {"state_dict": sd, "layout": layout, "hints": hints}


def check_mask_rcnn(sd: dict) -> int:
    """Says what the checkpoint is when it is not a Mask R-CNN; returns num_classes (background
    included) from the box predictor's rows, checked against the mask predictor's."""
    def has(prefix):
        return any(k.startswith(prefix) for k in sd)
    if CLS_KEY not in sd or MASK_KEY not in sd:
        if has("roi_heads.keypoint_predictor."):
            raise ExportError("the checkpoint is a Keypoint R-CNN (roi_heads.keypoint_* weights, no mask head), "
                              "not a Mask R-CNN")
        if has("roi_heads.box_predictor.") and not has("roi_heads.mask_predictor."):
            raise ExportError("the checkpoint is a Faster R-CNN without a mask head (no roi_heads.mask_head / "
                              "roi_heads.mask_predictor weights): export needs a Mask R-CNN")
        if "fc.weight" in sd and has("layer1.") and not has("rpn."):
            raise ExportError("the checkpoint is an image classifier (ResNet-style: conv1, layer1-4, fc), "
                              "not a Mask R-CNN: no rpn.* / roi_heads.* weights")
        if has("head.classification_head.") or has("head.regression_head."):
            raise ExportError("the checkpoint is a single-stage detector (RetinaNet/FCOS-style head.*), "
                              "not a Mask R-CNN")
        first = ", ".join(list(sd)[:4])
        missing = CLS_KEY if CLS_KEY not in sd else MASK_KEY
        raise ExportError(f"the checkpoint is not a Mask R-CNN: no {missing} (first keys: {first})")
    n = int(sd[CLS_KEY].shape[0])
    m = int(sd[MASK_KEY].shape[0])
    if m != n:
        raise ExportError(f"inconsistent predictors: {CLS_KEY} has {n} rows but {MASK_KEY} has {m}")
    bb = sd.get("roi_heads.box_predictor.bbox_pred.weight")
    if bb is not None and int(bb.shape[0]) != 4 * n:
        raise ExportError(f"inconsistent predictors: bbox_pred has {int(bb.shape[0])} rows, expected 4 x {n}")
    if n < 2:
        raise ExportError(f"{CLS_KEY} has {n} row(s): a Mask R-CNN needs background + at least one class")
    return n


def guess_arch(sd: dict) -> str | None:
    """Which torchvision architecture the keys belong to (None: neither)."""
    body50 = ("backbone.body.layer3.5.conv3.weight" in sd and "backbone.body.layer3.6.conv1.weight" not in sd
              and "backbone.body.layer4.2.conv3.weight" in sd)
    if not body50:
        return None
    if "rpn.head.conv.1.0.weight" in sd and "roi_heads.box_head.0.0.weight" in sd:
        return "maskrcnn_resnet50_fpn_v2"
    if "rpn.head.conv.0.0.weight" in sd and "rpn.head.conv.1.0.weight" not in sd \
            and "roi_heads.box_head.fc6.weight" in sd:
        return "maskrcnn_resnet50_fpn"
    return None


def fit_weights(model, sd: dict, arch: str) -> None:
    """load_state_dict(strict) with a readable one-line error: the first key whose shape differs
    (both shapes), then the missing and unexpected keys (counts and the first few).
    BatchNorm `num_batches_tracked` counters are not weights and are ignored both ways."""
    want = model.state_dict()
    skip = lambda k: k.endswith("num_batches_tracked")  # noqa: E731
    missing = [k for k in want if k not in sd and not skip(k)]
    unexpected = [k for k in sd if k not in want and not skip(k)]
    bad = next(((k, tuple(sd[k].shape), tuple(want[k].shape)) for k in want
                if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)), None)
    if bad or missing or unexpected:
        parts = []
        if bad:
            parts.append(f"first mismatch {bad[0]}: checkpoint {list(bad[1])}, architecture {list(bad[2])}")
        def few(ks):
            return ", ".join(ks[:3]) + (", ..." if len(ks) > 3 else "")
        if missing:
            parts.append(f"{len(missing)} missing ({few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({few(unexpected)})")
        guess = guess_arch(sd)
        hint = f"; the keys look like --arch {guess}" if guess and guess != arch else ""
        raise ExportError(f"weights do not fit --arch {arch}: " + "; ".join(parts) + hint)
    full = {k: v for k, v in sd.items() if k in want}
    for k in want:  # counters the checkpoint lacks (FrozenBatchNorm-trained body into BatchNorm2d)
        if k not in full:
            full[k] = want[k]
    model.load_state_dict(full)


def read_classes(path: str, num_classes: int) -> tuple[list, dict]:
    """Class names for labels 1..num_classes-1 (background excluded), from a text file (one name a
    line, blank lines ignored) or a COCO JSON (`categories`, sorted by id). COCO ids map to labels
    (torchvision's label = the model's output index) as follows:
      * ids 1..N contiguous: label = id (= position + 1);
      * other ids and num_classes - 1 == N: label = position + 1 in id order (a remapped dataset);
        manifest `export.category_ids[label - 1]` records the COCO id of each label;
      * other ids and num_classes - 1 == max id: label = id (torchvision's own COCO convention, 91
        classes); ids without a category get the name "N/A".
    Anything else is an error. Returns (names, extra info for the manifest)."""
    if not os.path.isfile(path):
        raise ExportError(f"classes file not found: {path}")
    text = open(path, encoding="utf-8-sig").read()
    want = num_classes - 1
    if path.lower().endswith(".json") or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ExportError(f"{path} is not valid JSON: {e}") from None
        cats = doc.get("categories") if isinstance(doc, dict) else None
        if not isinstance(cats, list) or not cats:
            raise ExportError(f"{path}: a COCO JSON needs a non-empty \"categories\" list")
        try:
            pairs = sorted((int(c["id"]), str(c["name"]).strip()) for c in cats)
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{path}: every category needs an integer \"id\" and a \"name\"") from None
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids) or ids[0] < 1 or any(not n for _, n in pairs):
            raise ExportError(f"{path}: category ids must be unique and >= 1, names non-empty")
        n = len(pairs)
        if ids == list(range(1, n + 1)):
            if n != want:
                raise ExportError(f"{path} has {n} categories (ids 1..{n}) but the checkpoint has num_classes "
                                  f"{num_classes} = {want} classes + background")
            return [nm for _, nm in pairs], {"classes_from": "coco", "label_is": "category id"}
        if n == want:
            return [nm for _, nm in pairs], {"classes_from": "coco", "label_is": "position + 1 in id order",
                                             "category_ids": ids}
        if ids[-1] == want:
            names = {i: nm for i, nm in pairs}
            return [names.get(i, "N/A") for i in range(1, want + 1)], {"classes_from": "coco", "label_is": "category id"}
        raise ExportError(f"{path} has {n} categories with ids {ids[0]}..{ids[-1]} (not contiguous) but the checkpoint "
                          f"has {want} classes + background: neither label = position + 1 ({n}) nor label = id "
                          f"({ids[-1]}) fits")
    names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not names:
        raise ExportError(f"classes file {path} is empty (one class name per line, background excluded)")
    if len(names) != want:
        raise ExportError(f"{path} has {len(names)} class names but the checkpoint has num_classes {num_classes} "
                          f"= {want} classes + background (one name per line, background excluded)")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ExportError(f"{path}: class name {dup!r} appears twice")
    return names, {"classes_from": "text"}


def _floats(text: str, flag: str) -> list:
    try:
        v = [float(x) for x in text.replace(" ", ",").split(",") if x]
    except ValueError:
        raise ExportError(f"{flag} wants three numbers like 0.485,0.456,0.406, got {text!r}") from None
    if len(v) != 3:
        raise ExportError(f"{flag} wants three numbers (R,G,B), got {len(v)}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        print(f"export.py: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None):
    ap = _Parser(description="Export a torchvision Mask R-CNN checkpoint to the service's ONNX model folder.")
    ap.add_argument("--arch", help=f"{' | '.join(ARCHS)} (default: config with --config, else detected "
                    "from the checkpoint's keys, else config with tools/model/config.json)")
    ap.add_argument("--checkpoint", "--weights", dest="checkpoint", required=True,
                    help="state_dict, training checkpoint dict, DataParallel state, pickled model or TorchScript")
    ap.add_argument("--classes", help="class names: one per line (background excluded) or a COCO JSON")
    ap.add_argument("--config", help="build.py config (--arch config)")
    ap.add_argument("--out", required=True, help="model folder to write (model.onnx + manifest.json)")
    ap.add_argument("--name", help="manifest name (default: the config's, else the --out folder name)")
    ap.add_argument("--version", help="manifest version (default: the config's, else 1.0.0)")
    ap.add_argument("--stock", action="store_true", help="torchvision's plain export (no losses)")
    ap.add_argument("--extra", help="JSON file merged into manifest.json (training, quality)")
    ap.add_argument("--check", action="store_true", help="read and check everything, build and load, write nothing")
    g = ap.add_argument_group("torchvision settings (defaults: the checkpoint's own when it carries them, "
                              "else torchvision 0.14's)")
    for k, v in TORCHVISION_DEFAULTS.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, list):
            g.add_argument(flag, dest=k, metavar="R,G,B", help=f"default {','.join(map(str, v))}")
        else:
            g.add_argument(flag, dest=k, type=type(v), metavar="N" if isinstance(v, int) else "X", help=f"default {v}")
    g.add_argument("--frozen-bn-eps", type=float, help="eps of the FrozenBatchNorm2d layers of maskrcnn_resnet50_fpn "
                   "(default 1e-5; 0.0 when the checkpoint says it was fine-tuned from the COCO_V1 detector)")
    return ap.parse_args(argv)


def prepare(a) -> dict:
    """Everything before writing: reads and checks the checkpoint and classes, builds the model,
    loads the weights. Returns {"model", "cfg", "extra", "info"}; raises ExportError."""
    arch = a.arch
    if arch is not None and arch not in ARCHS:
        raise ExportError(f"unknown --arch {arch!r}: use one of {', '.join(ARCHS)}")
    if a.config and arch not in (None, "config"):
        raise ExportError(f"--config describes --arch config, not --arch {arch}")
    ck = read_checkpoint(a.checkpoint)
    sd, hints = ck["state_dict"], ck["hints"]
    arch_from = "--arch"
    if arch is None:
        if a.config:
            arch, arch_from = "config", "--config"
        elif guess_arch(sd):
            arch, arch_from = guess_arch(sd), "detected from the keys"
        elif str(hints.get("args.model", "")) in TORCHVISION_ARCHS:
            arch, arch_from = str(hints["args.model"]), "checkpoint args.model"
        else:
            arch, arch_from = "config", "default"
    num_classes = check_mask_rcnn(sd)
    settings_flags = {k: getattr(a, k) for k in TORCHVISION_DEFAULTS if getattr(a, k) is not None}
    extra_info: dict = {}
    if arch == "config":
        if settings_flags or a.frozen_bn_eps is not None:
            raise ExportError(f"--{next(iter(settings_flags), 'frozen_bn_eps').replace('_', '-')} applies to the "
                              "torchvision architectures; with --arch config set it in the config JSON")
        cfg_path = a.config or os.path.join(os.path.dirname(__file__), "config.json")
        try:
            cfg = load_config(cfg_path)
        except (OSError, json.JSONDecodeError) as e:
            raise ExportError(f"cannot read config {cfg_path}: {e}") from None
        if a.classes:
            cfg["classes"], extra_info = read_classes(a.classes, num_classes)
        elif len(cfg["classes"]) != num_classes - 1:
            raise ExportError(f"config {cfg_path} names {len(cfg['classes'])} classes but the checkpoint has "
                              f"num_classes {num_classes} = {num_classes - 1} classes + background")
        model = build_model(cfg)
        settings = settings_of(model)
        norm, eps = "config", None
    else:
        if not a.classes:
            raise ExportError(f"--classes FILE is required with --arch {arch} (one name per line, background "
                              "excluded, or a COCO JSON with categories)")
        names, extra_info = read_classes(a.classes, num_classes)
        settings = dict(TORCHVISION_DEFAULTS)
        settings.update(hints.get("settings", {}))
        if hints.get("args.rpn_score_thresh") is not None:
            settings["rpn_score_thresh"] = float(hints["args.rpn_score_thresh"])
        for k in ("image_mean", "image_std"):
            if k in settings_flags:
                settings_flags[k] = _floats(settings_flags[k], "--" + k.replace("_", "-"))
        settings.update(settings_flags)
        if settings["min_size"] < 1 or settings["max_size"] < settings["min_size"]:
            raise ExportError(f"need 1 <= --min-size <= --max-size, got {settings['min_size']} / {settings['max_size']}")
        has_counters = any(k.startswith("backbone.body.") and k.endswith("num_batches_tracked") for k in sd)
        norm = "batchnorm" if (arch == "maskrcnn_resnet50_fpn_v2" or has_counters) else "frozen"
        eps = 1e-5
        if "frozen_bn_eps" in hints:
            eps = hints["frozen_bn_eps"]
        elif "COCO_V1" in str(hints.get("args.weights", "")) or str(hints.get("args.weights", "")).endswith("DEFAULT"):
            eps = 0.0  # torchvision's builder sets 0.0 after loading the COCO_V1 detector weights
        if a.frozen_bn_eps is not None:
            eps = a.frozen_bn_eps
        if norm != "frozen":
            eps = None
        model = build_torchvision(arch, num_classes, settings, norm=norm, frozen_bn_eps=eps if eps is not None else 1e-5)
        name = a.name or os.path.basename(os.path.abspath(a.out))
        cfg = {"name": name, "version": a.version or "1.0.0", "classes": names}
    if a.name:
        cfg["name"] = a.name
    if a.version:
        cfg["version"] = a.version
    fit_weights(model, sd, arch)
    model.eval()
    info = {"arch": arch, "arch_from": arch_from, "checkpoint": os.path.basename(a.checkpoint),
            "checkpoint_sha256": sha256(a.checkpoint), "layout": ck["layout"], "num_classes": num_classes,
            "norm": norm, **({"frozen_bn_eps": eps} if eps is not None else {}),
            **{k: v for k, v in hints.items() if k in ("epoch", "iter", "args.model", "args.weights")},
            "settings": settings, **extra_info}
    return {"model": model, "cfg": cfg, "info": info}


def write_atomically(out: str, produce) -> None:
    """Runs produce(tmp_dir) in a temporary folder beside `out`, then moves the result into place:
    a rename of the folder when `out` does not exist, else model.onnx then manifest.json replaced
    one by one (other files in `out` are kept). On any failure the temporary folder is removed and
    `out` is untouched."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExportError(f"--out {out} exists and is not a folder")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.export-", dir=parent)
    try:
        produce(tmp)
        if not os.path.exists(out):
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it 0700
            os.rename(tmp, out)
            tmp = None
        else:
            for f in ("model.onnx", "manifest.json"):
                os.replace(os.path.join(tmp, f), os.path.join(out, f))
    finally:
        if tmp is not None and os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    a = parse_args(argv)
    try:
        if not a.check and os.path.exists(a.out) and not os.path.isdir(a.out):
            raise ExportError(f"--out {a.out} exists and is not a folder")
        p = prepare(a)
        info, s = p["info"], p["info"]["settings"]
        print(f"checkpoint: {info['layout']}; arch {info['arch']} ({info['arch_from']}); num_classes "
              f"{info['num_classes']} ({len(p['cfg']['classes'])} classes + background); transform "
              f"{s['min_size']}/{s['max_size']}; norm {info['norm']}"
              + (f" eps {info['frozen_bn_eps']}" if "frozen_bn_eps" in info else ""), flush=True)
        if "category_ids" in info:
            print(f"classes: COCO ids {info['category_ids']} -> labels 1..{len(info['category_ids'])} (position + 1); "
                  "/evaluate compares labels with annotation category_id, so annotate with ids 1..N", flush=True)
        if a.check:
            print("check: OK (nothing written)")
            return 0
        extra = json.load(open(a.extra)) if a.extra else {}
        if info["arch"] != "config" or a.classes:
            extra = {**extra, "export": info}
        holder = {}

        def produce(tmp):
            holder["man"] = export_model(p["model"], p["cfg"], tmp, stock=a.stock, extra_manifest=extra or None)
        write_atomically(a.out, produce)
    except ExportError as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    man = holder["man"]
    print(json.dumps({k: man[k] for k in ("name", "format", "sha256")}),
          f"{os.path.getsize(os.path.join(a.out, 'model.onnx')) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
