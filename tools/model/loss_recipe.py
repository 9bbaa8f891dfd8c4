"""torchvision's five Mask R-CNN losses under the deterministic recipe (docs/losses.md, sampling),
and the exact expected value of the stock random sampler computed from the same per-element terms.

Used by make_fixtures.py (the reference fixtures of the TypeScript loss tests) and verify.py (an
export checked against its eager model), so both compute the references the same way.

Deterministic recipe: sampler batch sizes 2**30 (every anchor / proposal sampled), test-time RPN
top-n also in training mode, BatchNorm layers in eval mode. The expected value of the stock sampler
(BalancedPositiveNegativeSampler with the model's own batch size and positive fraction) follows from
the per-element terms: a positive element is kept with probability k_p / n_p, a negative one with
k_n / n_n, and the loss is a mean over the k_p + k_n sampled elements.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import roi_heads as RH
from torchvision.models.detection.rpn import RegionProposalNetwork

LOSSES = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"]
BETA = 1.0 / 9.0


def smooth_l1(d, beta):
    a = d.abs()
    return torch.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


def expected_cls_box(lcls, sl1_pos, labels, batch, frac):
    """Exact expectation of torchvision's sampled loss (BalancedPositiveNegativeSampler)."""
    pos = labels >= 1
    neg = labels == 0
    n_p, n_n = int(pos.sum()), int(neg.sum())
    k_p = min(n_p, int(batch * frac))
    k_n = min(n_n, batch - k_p)
    if k_p + k_n == 0:
        return 0.0, 0.0
    sp = float(lcls[pos].double().sum()) if n_p else 0.0
    sn = float(lcls[neg].double().sum()) if n_n else 0.0
    cls = ((k_p / n_p * sp if n_p else 0.0) + (k_n / n_n * sn if n_n else 0.0)) / (k_p + k_n)
    box = (k_p / n_p * float(sl1_pos.double().sum()) if n_p else 0.0) / (k_p + k_n)
    return cls, box


class LossRecipe:
    """Sets `model` up for the deterministic recipe and computes both loss sets of one image.

    `cap` holds what the last call captured: `rpn` = (objectness, deltas, anchor labels, targets),
    `roi` = (class logits, box regression, proposal labels, targets), `proposals` = the proposals the
    ROI heads received (eval-mode forward).
    """

    def __init__(self, model):
        self.model = model
        rpn, rh = model.rpn, model.roi_heads
        self.rpn_b, self.rpn_f = rpn.fg_bg_sampler.batch_size_per_image, rpn.fg_bg_sampler.positive_fraction
        self.roi_b, self.roi_f = rh.fg_bg_sampler.batch_size_per_image, rh.fg_bg_sampler.positive_fraction
        rpn.fg_bg_sampler.batch_size_per_image = 2 ** 30
        rh.fg_bg_sampler.batch_size_per_image = 2 ** 30
        rpn._pre_nms_top_n = {"training": rpn._pre_nms_top_n["testing"], "testing": rpn._pre_nms_top_n["testing"]}
        rpn._post_nms_top_n = {"training": rpn._post_nms_top_n["testing"], "testing": rpn._post_nms_top_n["testing"]}
        self.cap = {}
        cap = self.cap
        orig_rpn, orig_fast = RegionProposalNetwork.compute_loss, RH.fastrcnn_loss

        def rpn_loss(this, objectness, deltas, labels, targets):
            cap["rpn"] = (objectness.detach().flatten(), deltas.detach().reshape(-1, 4), torch.cat(labels), torch.cat(targets))
            return orig_rpn(this, objectness, deltas, labels, targets)

        def fast_loss(class_logits, box_regression, labels, targets):
            cap["roi"] = (class_logits.detach(), box_regression.detach(), torch.cat(labels), torch.cat(targets))
            return orig_fast(class_logits, box_regression, labels, targets)

        RegionProposalNetwork.compute_loss = rpn_loss
        RH.fastrcnn_loss = fast_loss
        model.roi_heads.register_forward_pre_hook(lambda mod, inp: cap.__setitem__("proposals", inp[1][0].detach().clone()))

    def __call__(self, img, target):
        """Both loss sets of one image: `{"all": {...}, "expected": {...}}`, each with the five losses and `loss`."""
        m = self.model
        m.train()
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.eval()
        with torch.no_grad():
            losses = m([img], [target])
        m.eval()
        obj, deltas, rl, rt = self.cap["rpn"]
        lo = F.binary_cross_entropy_with_logits(obj, rl.clamp(min=0).float(), reduction="none")
        pos = rl >= 1
        rpn_cls, rpn_box = expected_cls_box(lo, smooth_l1(deltas[pos] - rt[pos], BETA).sum(1), rl, self.rpn_b, self.rpn_f)
        cl, br, lab, tg = self.cap["roi"]
        lce = F.cross_entropy(cl, lab, reduction="none")
        fg = lab > 0
        br = br.reshape(br.shape[0], -1, 4)
        sl = smooth_l1(br[fg.nonzero().flatten(), lab[fg]] - tg[fg], BETA).sum(1)
        roi_cls, roi_box = expected_cls_box(lce, sl, lab, self.roi_b, self.roi_f)
        all_l = {k: float(losses[k]) for k in LOSSES}
        exp_l = {"loss_objectness": rpn_cls, "loss_rpn_box_reg": rpn_box, "loss_classifier": roi_cls,
                 "loss_box_reg": roi_box, "loss_mask": all_l["loss_mask"]}
        all_l["loss"] = sum(all_l[k] for k in LOSSES)
        exp_l["loss"] = sum(exp_l[k] for k in LOSSES)
        return {"all": all_l, "expected": exp_l}
