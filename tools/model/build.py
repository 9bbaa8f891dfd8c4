"""Builds a torchvision MaskRCNN from a small JSON config (see config.json).

Supported backbones:
  * "resnet18" / "resnet34" / "resnet50" with optional per-stage channel widths for the
    BasicBlock nets (`layer_channels`), GroupNorm or frozen BatchNorm, and an FPN
    (P2..P5 + P6 max-pool) of `fpn_channels`.
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


def load_config(path):
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    import sys
    m = build_model(load_config(sys.argv[1] if len(sys.argv) > 1 else "config.json"))
    n = sum(p.numel() for p in m.parameters())
    print(f"{n} parameters, {n * 4 / 1e6:.1f} MB float32")
