"""Builds a torchvision MaskRCNN from a small JSON config (see config.json).

Supported backbones:
  * "resnet18" / "resnet34" / "resnet50" with optional per-stage channel widths for the
    BasicBlock nets (`layer_channels`), GroupNorm or frozen BatchNorm, and an FPN
    (P2..P5 + P6 max-pool) of `fpn_channels`.
  * torchvision's own architectures, `build_torchvision("maskrcnn_resnet50_fpn" |
    "maskrcnn_resnet50_fpn_v2", num_classes, settings)`, randomly initialised (no download), ready
    for a checkpoint's state_dict.
Anything else can be built by the user and handed to export.py as a MaskRCNN instance.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from functools import partial

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.poolers import LevelMapper


def _norm(cfg):
    if cfg.get("norm", "groupnorm") == "groupnorm":
        g = int(cfg.get("gn_groups", 16))
        return lambda c: nn.GroupNorm(g, c)
    return misc_nn_ops.FrozenBatchNorm2d


def _basic_layer(inplanes, planes, blocks, stride, norm):
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(resnet.conv1x1(inplanes, planes, stride), norm(planes))
    layers = [resnet.BasicBlock(inplanes, planes, stride, down, norm_layer=norm)]
    for _ in range(1, blocks):
        layers.append(resnet.BasicBlock(planes, planes, norm_layer=norm))
    return nn.Sequential(*layers)


def build_backbone(cfg):
    b = cfg["backbone"]
    norm = _norm(b)
    kind = b.get("type", "resnet18")
    fpn = int(b.get("fpn_channels", 256))
    if kind in ("resnet18", "resnet34"):
        blocks = [2, 2, 2, 2] if kind == "resnet18" else [3, 4, 6, 3]
        ch = b.get("layer_channels", [64, 128, 256, 512])
        body = resnet.ResNet(resnet.BasicBlock, blocks, norm_layer=norm)
        inpl = 64
        for i, (c, n) in enumerate(zip(ch, blocks)):
            setattr(body, f"layer{i + 1}", _basic_layer(inpl, c, n, 1 if i == 0 else 2, norm))
            inpl = c
        body.fc = nn.Identity()
        in_channels = list(ch)
    elif kind == "resnet50":
        body = resnet.resnet50(norm_layer=norm)
        in_channels = [256, 512, 1024, 2048]
    else:
        raise ValueError(f"unsupported backbone type: {kind}")
    return_layers = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
    return BackboneWithFPN(body, return_layers, in_channels, fpn)


def pin_pooler_scales(model: MaskRCNN) -> None:
    """MultiScaleRoIAlign infers its scales from the first batch it sees and caches them
    (wrong for elongated images). Pin the FPN values P2..P5 = 1/4..1/32."""
    for pool in (model.roi_heads.box_roi_pool, model.roi_heads.mask_roi_pool):
        pool.scales = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
        pool.map_levels = LevelMapper(2, 5, canonical_scale=224, canonical_level=4, eps=1e-6)


def build_model(cfg) -> MaskRCNN:
    backbone = build_backbone(cfg)
    fpn = backbone.out_channels
    num_classes = len(cfg["classes"]) + 1
    sizes = tuple((int(s),) for s in cfg["anchor_sizes"])
    ratios = (tuple(float(r) for r in cfg["aspect_ratios"]),) * len(sizes)
    anchor_gen = AnchorGenerator(sizes, ratios)
    rep = int(cfg.get("box_head_channels", 1024))
    box_head = TwoMLPHead(fpn * 7 * 7, rep)
    mask_layers = tuple(cfg.get("mask_head_layers", [256, 256, 256, 256]))
    norm_layer = None
    mask_head = MaskRCNNHeads(fpn, mask_layers, 1)
    model = MaskRCNN(
        backbone, num_classes=None,
        min_size=int(cfg["min_size"]), max_size=int(cfg["max_size"]),
        rpn_anchor_generator=anchor_gen,
        rpn_pre_nms_top_n_train=int(cfg.get("rpn_pre_nms_top_n_train", 2000)),
        rpn_pre_nms_top_n_test=int(cfg.get("rpn_pre_nms_top_n_test", 1000)),
        rpn_post_nms_top_n_train=int(cfg.get("rpn_post_nms_top_n_train", 2000)),
        rpn_post_nms_top_n_test=int(cfg.get("rpn_post_nms_top_n_test", 1000)),
        box_head=box_head,
        box_predictor=__import__("torchvision").models.detection.faster_rcnn.FastRCNNPredictor(rep, num_classes),
        box_detections_per_img=int(cfg.get("box_detections_per_img", 100)),
        mask_head=mask_head,
        mask_predictor=__import__("torchvision").models.detection.mask_rcnn.MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes),
    )
    pin_pooler_scales(model)
    return model


TORCHVISION_ARCHS = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")

# torchvision 0.14's MaskRCNN defaults for what a checkpoint does not carry (transform, RPN, heads).
TORCHVISION_DEFAULTS = {
    "min_size": 800, "max_size": 1333,
    "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    "rpn_pre_nms_top_n_test": 1000, "rpn_post_nms_top_n_test": 1000,
    "rpn_nms_thresh": 0.7, "rpn_score_thresh": 0.0,
    "rpn_fg_iou_thresh": 0.7, "rpn_bg_iou_thresh": 0.3,
    "rpn_batch_size_per_image": 256, "rpn_positive_fraction": 0.5,
    "box_score_thresh": 0.05, "box_nms_thresh": 0.5, "box_detections_per_img": 100,
    "box_fg_iou_thresh": 0.5, "box_bg_iou_thresh": 0.5,
    "box_batch_size_per_image": 512, "box_positive_fraction": 0.25,
}


def settings_of(model: MaskRCNN) -> dict:
    """The TORCHVISION_DEFAULTS keys as `model` has them (a pickled model carries its own)."""
    t, rpn, rh = model.transform, model.rpn, model.roi_heads
    return {
        "min_size": int(t.min_size[-1]), "max_size": int(t.max_size),
        "image_mean": [float(v) for v in t.image_mean], "image_std": [float(v) for v in t.image_std],
        "rpn_pre_nms_top_n_test": int(rpn._pre_nms_top_n["testing"]),
        "rpn_post_nms_top_n_test": int(rpn._post_nms_top_n["testing"]),
        "rpn_nms_thresh": float(rpn.nms_thresh), "rpn_score_thresh": float(rpn.score_thresh),
        "rpn_fg_iou_thresh": float(rpn.proposal_matcher.high_threshold),
        "rpn_bg_iou_thresh": float(rpn.proposal_matcher.low_threshold),
        "rpn_batch_size_per_image": int(rpn.fg_bg_sampler.batch_size_per_image),
        "rpn_positive_fraction": float(rpn.fg_bg_sampler.positive_fraction),
        "box_score_thresh": float(rh.score_thresh), "box_nms_thresh": float(rh.nms_thresh),
        "box_detections_per_img": int(rh.detections_per_img),
        "box_fg_iou_thresh": float(rh.proposal_matcher.high_threshold),
        "box_bg_iou_thresh": float(rh.proposal_matcher.low_threshold),
        "box_batch_size_per_image": int(rh.fg_bg_sampler.batch_size_per_image),
        "box_positive_fraction": float(rh.fg_bg_sampler.positive_fraction),
    }


def build_torchvision(arch: str, num_classes: int, settings: dict, norm: str = "frozen",
                      frozen_bn_eps: float = 1e-5) -> MaskRCNN:
    """torchvision's `arch` with random weights (nothing is downloaded), `num_classes` including
    background, `settings` = TORCHVISION_DEFAULTS keys (MaskRCNN keyword arguments).

    maskrcnn_resnet50_fpn: torchvision builds the ResNet-50 body with FrozenBatchNorm2d when it starts
    from pretrained weights (the usual case; eps 0.0 when fine-tuned from the COCO_V1 detector, which
    torchvision sets after loading it) and with BatchNorm2d when trained from scratch. `norm` picks
    one ("frozen" / "batchnorm"); in eval mode both compute the same affine map.
    maskrcnn_resnet50_fpn_v2: BatchNorm2d everywhere, as torchvision builds it.
    """
    import torchvision
    kw = {k: settings[k] for k in TORCHVISION_DEFAULTS}
    kw["image_mean"] = list(kw["image_mean"])
    kw["image_std"] = list(kw["image_std"])
    if arch == "maskrcnn_resnet50_fpn":
        from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
        if norm == "frozen":
            body = resnet.resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
        else:
            body = resnet.resnet50(weights=None, norm_layer=nn.BatchNorm2d)
        model = MaskRCNN(_resnet_fpn_extractor(body, 3), num_classes=num_classes, **kw)
        for mod in model.modules():
            if isinstance(mod, misc_nn_ops.FrozenBatchNorm2d):
                mod.eps = float(frozen_bn_eps)
    elif arch == "maskrcnn_resnet50_fpn_v2":
        model = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=None, num_classes=num_classes, **kw)
    else:
        raise ValueError(f"unknown torchvision architecture {arch!r}")
    pin_pooler_scales(model)
    return model


def load_config(path):
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    import sys
    m = build_model(load_config(sys.argv[1] if len(sys.argv) > 1 else "config.json"))
    n = sum(p.numel() for p in m.parameters())
    print(f"{n} parameters, {n * 4 / 1e6:.1f} MB float32")
