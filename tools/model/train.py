"""Trains the shapes Mask R-CNN on CPU from scratch, resumably.

  /usr/bin/python3 tools/model/train.py --config tools/model/config.json --out work/train \
      --iters 1800 [--threads 2]
  # fine-tune the shipped model on images it has not seen:
  /usr/bin/python3 tools/model/train.py --init models/shapes/weights.pt --image-offset 4800 \
      --lr 0.01 --warmup 50 --iters 1600 --out work/finetune
  # refine the RoI heads alone, box-head positives at IoU >= 0.65 (tools/model/rebuild.sh, stage 3):
  /usr/bin/python3 tools/model/train.py --init work/finetune/weights.pt --image-offset 10000 \
      --train-only roi_heads --box-iou 0.65 --lr 0.01 --warmup 20 --iters 400 --threads 1 --out work/refine-heads

--train-only freezes every parameter outside the given prefixes; --box-iou moves the IoU at which a
proposal is a box-head positive (the exported model keeps the config's torchvision settings, so the
losses the service reports are torchvision's); --ohem trains the box head on its hardest proposals
(tried for the default model, not used: it cost box AP for the same precision).
Images are generated on the fly (shapes.py, split seed --seed); batch b uses image indices
b*batch .. b*batch+batch-1, so a resumed run sees exactly the images an uninterrupted one would.
A checkpoint (model, optimizer, iteration) is written every --ckpt-every iterations to
OUT/last.pt; the five losses are logged to OUT/train.log as JSON lines.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from build import build_model, load_config  # noqa: E402
from shapes import make_image  # noqa: E402


def sample(seed, index):
    img, objs = make_image(seed, index)
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    if objs:
        boxes = torch.tensor([[o["bbox"][0], o["bbox"][1], o["bbox"][0] + o["bbox"][2],
                               o["bbox"][1] + o["bbox"][3]] for o in objs], dtype=torch.float32)
        masks = torch.from_numpy(np.stack([o["mask"] for o in objs]).astype(np.uint8))
        labels = torch.tensor([o["category_id"] for o in objs], dtype=torch.int64)
    else:
        boxes = torch.zeros((0, 4)); masks = torch.zeros((0,) + img.shape[:2], dtype=torch.uint8)
        labels = torch.zeros((0,), dtype=torch.int64)
    return t, {"boxes": boxes, "labels": labels, "masks": masks}


def use_ohem(model, per_image: int) -> None:
    """Online hard example mining (Shrivastava et al. 2016) for the box head: every proposal is
    kept (the sampler takes all), each gets its classification + box regression loss, and the
    `per_image` x images hardest are the ones trained on. The mask branch is switched off unless
    its parameters are being trained (with every positive kept it would run on hundreds of RoIs)."""
    import torch.nn.functional as F
    from torchvision.models.detection import roi_heads as rh
    from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
    model.roi_heads.fg_bg_sampler = BalancedPositiveNegativeSampler(10 ** 7, 1.0)
    if not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("roi_heads.mask_")):
        model.roi_heads.mask_roi_pool = None

    def loss(class_logits, box_regression, labels, regression_targets):
        n_images = len(labels)
        labels = torch.cat(labels, dim=0)
        regression_targets = torch.cat(regression_targets, dim=0)
        ce = F.cross_entropy(class_logits, labels, reduction="none")
        n, _ = class_logits.shape
        box_regression = box_regression.reshape(n, box_regression.size(-1) // 4, 4)
        pos = torch.where(labels > 0)[0]
        box = torch.zeros_like(ce)
        box[pos] = F.smooth_l1_loss(box_regression[pos, labels[pos]], regression_targets[pos],
                                    beta=1 / 9, reduction="none").sum(dim=1)
        k = min(n, per_image * n_images)
        with torch.no_grad():
            hard = torch.topk(ce + box, k).indices
        return ce[hard].mean(), box[hard].sum() / k

    rh.fastrcnn_loss = loss


def lr_at(it, base, warmup, total):
    if it < warmup:
        return base * (0.001 + (1 - 0.001) * it / warmup)
    return base * (0.1 if it >= int(total * 0.8) else 1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "config.json"))
    ap.add_argument("--out", default="work/train")
    ap.add_argument("--iters", type=int, default=1800)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1000, help="training split seed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--init", help="start from these weights (a state_dict) instead of from scratch")
    ap.add_argument("--image-offset", type=int, default=0,
                    help="first training image index (fine-tuning: past the images already seen)")
    ap.add_argument("--train-only", default="",
                    help="comma-separated parameter name prefixes to train (e.g. roi_heads.box_head,"
                         "roi_heads.box_predictor); every other parameter is frozen")
    ap.add_argument("--box-iou", type=float, default=None,
                    help="training-time IoU at which a proposal becomes a box-head positive (torchvision: "
                         "0.5 for both fg and bg); the exported model keeps the config's values")
    ap.add_argument("--ohem", type=int, default=0,
                    help="online hard example mining for the box head: score every proposal and train "
                         "the classifier and box regression on the N hardest per image (0 = "
                         "torchvision's sampler of 512 with 25%% positives)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.makedirs(a.out, exist_ok=True)
    cfg = load_config(a.config)
    model = build_model(cfg)
    if a.train_only:
        prefixes = tuple(x.strip() for x in a.train_only.split(",") if x.strip())
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(prefixes))
        if not any(p.requires_grad for p in model.parameters()):
            sys.exit(f"train.py: --train-only {a.train_only!r} matches no parameter")
    if a.box_iou is not None:
        from torchvision.models.detection._utils import Matcher
        model.roi_heads.proposal_matcher = Matcher(a.box_iou, a.box_iou, allow_low_quality_matches=False)
    if a.ohem:
        use_ohem(model, a.ohem)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"training {sum(p.numel() for p in params)} of {sum(p.numel() for p in model.parameters())} parameters",
          flush=True)
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=1e-4)
    start = 0
    if a.init:
        model.load_state_dict(torch.load(a.init, map_location="cpu"))
        print(f"initialised from {a.init}", flush=True)
    ck = os.path.join(a.out, "last.pt")
    if os.path.exists(ck):
        state = torch.load(ck)
        model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"])
        start = state["iter"]
        torch.set_rng_state(state["rng"])
        print(f"resumed at iteration {start}", flush=True)
    model.train()
    log = open(os.path.join(a.out, "train.log"), "a")
    t0 = time.time()
    for it in range(start, a.iters):
        for g in opt.param_groups:
            g["lr"] = lr_at(it, a.lr, a.warmup, a.iters)
        batch = [sample(a.seed, a.image_offset + it * a.batch + k) for k in range(a.batch)]
        imgs = [b[0] for b in batch]; tgts = [b[1] for b in batch]
        losses = model(imgs, tgts)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        rec = {"iter": it + 1, "lr": opt.param_groups[0]["lr"], "loss": float(loss),
               **{k: round(float(v), 5) for k, v in losses.items()},
               "sec": round(time.time() - t0, 1)}
        log.write(json.dumps(rec) + "\n"); log.flush()
        if (it + 1) % 10 == 0:
            print(json.dumps(rec), flush=True)
        if (it + 1) % a.ckpt_every == 0 or it + 1 == a.iters:
            tmp = ck + ".tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "iter": it + 1,
                        "rng": torch.get_rng_state(), "config": cfg}, tmp)
            os.replace(tmp, ck)
    torch.save(model.state_dict(), os.path.join(a.out, "weights.pt"))
    print("done", flush=True)


if __name__ == "__main__":
    main()
