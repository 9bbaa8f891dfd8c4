"""Verifies an exported model folder against eager torchvision on your own images.

  /usr/bin/python3 tools/model/verify.py --model models/mine --checkpoint model_25.pth \
      --images DIR --annotations coco.json [--arch ...] [--sampling all,expected] [--threads 1]

Eager side: the checkpoint loaded exactly as export.py loads it (same architecture, settings, norm
layers; taken from the manifest's `export` block, or --arch / --config), torchvision's own forward:
  * detections: model.eval(), model([image]) -> boxes, labels, scores, pasted masks > 0.5;
  * losses: the deterministic recipe of docs/losses.md (train mode, BatchNorm in eval, samplers keep
    everything, test-time RPN top-n), `all` = torchvision's loss values, `expected` = the exact
    expectation of the stock sampler (loss_recipe.expected_cls_box on the same per-element terms).
Service side: tools/model/run-graph.ts, i.e. the service's own /evaluate path (model plugin,
onnxruntime-node worker, sharp decode, graph, mask pasting, compressed RLE, the TypeScript losses).
The eager side runs on the pixels the service decoded (run-graph --rgb-dir), so both see the same
input; a PNG decodes identically in PIL (reported per image).

Per image and overall: detections matched one-to-one (same label, every box coordinate within
--box-tol px, greedy in eager score order), score differences, mask IoU of matched pairs, the five
losses and their total in each sampling mode. Tolerances (exit code 1 beyond them):
  losses      relative error <= 1e-4 (or absolute <= 1e-6, the floor of test/losses/end-to-end.test.ts:
              a loss near 0 carries onnxruntime's ~1e-7 absolute differences as a large relative one)
  boxes       every coordinate within 1e-2 px + 1e-4 x the box's larger side, in the model's resized
              frame (a delta difference moves a coordinate in proportion to the box), x the scale
              back to the image when it was shrunk (--box-tol, --box-rel-tol)
  scores      within 1e-3
  mask IoU    >= 0.99 for every matched pair, where a pixel whose eager probability is within 1e-3
              of the 0.5 threshold may come out either way (--mask-margin): a randomly initialised
              mask head gives probabilities of 0.5 +- 1e-4 over whole masks, and ~1e-6 between the
              runtimes decides those pixels (the raw IoU and the flipped pixels are printed too);
              and a pair whose masks agree once torchvision's own 28x28 map is pasted at the
              service's box passes (torchvision truncates the expanded box to integers: boxes 1e-3 px
              apart on either side of a pixel boundary paste at sizes one pixel apart; counted)
  RPN ties    --tie-order auto (default): an image that disagrees is run again with the graph's order
              for exactly equal RPN logits (onnx_tie_order) and passes as "OK (tie order)" if it
              then agrees; the exactly tied logits are counted
  near-ties   an image that still disagrees, with at most --near-tie-proposals (10) proposals
              exchanged and both RPN losses within tolerance, is compared again with torchvision's
              RoI heads fed the graph's proposals (graph_proposals); it passes as "OK (RPN near-tie)"
              if everything then agrees: the heads compute what torchvision's do, and the last bits
              of the convolutions decided which of two nearly equal objectness scores made the cut
  detections  every detection matched, except ties at the cut (a detection whose score is within the
              score tolerance of the lowest kept score, when the image has box_detections_per_img
              detections: which of two equal scores is 100th is a coin toss in either runtime)
Bad input (exit code 2, one line): an image in DIR that the annotations do not list, or an annotated
image missing from DIR; a model folder without manifest; a checkpoint export.py would refuse.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time


def _threads_from_argv() -> str:
    for i, x in enumerate(sys.argv):
        if x == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if x.startswith("--threads="):
            return x.split("=", 1)[1]
    return "1"


# torch's BLAS (OpenBLAS here) picks its thread count at import: pin it to --threads, or the box head's
# matrix products change their summation order with the machine (measured: it moves near-tied scores).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, _threads_from_argv())

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.models.detection import roi_heads as RH
from torchvision.models.detection.rpn import RegionProposalNetwork

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from build import build_model, build_torchvision, load_config  # noqa: E402
from export import ExportError, check_mask_rcnn, fit_weights, read_checkpoint, resized_hw, sha256  # noqa: E402
from loss_recipe import LossRecipe  # noqa: E402

LOSSES = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"]
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


class VerifyError(Exception):
    pass


# ---------------------------------------------------------------------------------------- RLE
def rle_from_string(s: str) -> list:
    """pycocotools' rleFrString: compressed COCO RLE string -> counts."""
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode(counts, h: int, w: int) -> np.ndarray:
    """counts (column-major runs starting with 0s) -> bool [h, w]."""
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for c in counts:
        if val:
            flat[pos:pos + c] = True
        pos += c
        val = not val
    return flat.reshape(w, h).T


# ---------------------------------------------------------------------------------------- eager model
def eager_model(args, manifest: dict):
    """The checkpoint in the architecture export.py used (manifest `export` block, else flags)."""
    info = manifest.get("export") or {}
    ck = read_checkpoint(args.checkpoint)
    sd = ck["state_dict"]
    n = check_mask_rcnn(sd)
    arch = args.arch or info.get("arch") or "config"
    if info.get("checkpoint_sha256") and info["checkpoint_sha256"] != sha256(args.checkpoint):
        print(f"note: {args.checkpoint} is not the checkpoint this model was exported from "
              f"({info.get('checkpoint')}, sha256 {info['checkpoint_sha256'][:12]}...)", flush=True)
    if arch == "config":
        cfg = load_config(args.config or os.path.join(HERE, "config.json"))
        model = build_model(cfg)
    else:
        settings = info.get("settings")
        if settings is None:
            raise VerifyError("the manifest has no export.settings (exported by an older export.py): re-export, "
                              "or give --arch config --config FILE")
        norm = info.get("norm", "frozen")
        model = build_torchvision(arch, n, settings, norm=norm if norm != "config" else "frozen",
                                  frozen_bn_eps=info.get("frozen_bn_eps", 1e-5))
    fit_weights(model, sd, arch)
    return model.eval()


@contextlib.contextmanager
def onnx_tie_order(enabled=True):
    """Eager torchvision with the graph's order for exactly equal RPN logits: the per-level top-k
    as a stable sort (equal values: lower anchor index first, as ONNX TopK and onnxruntime do)
    instead of torch.topk, whose order for equal values is unspecified (a heap on CPU). Everything
    else is torchvision's own code."""
    if not enabled:
        yield
        return
    orig = RegionProposalNetwork._get_top_n_idx

    def stable_top_n_idx(self, objectness, num_anchors_per_level):
        r, offset = [], 0
        for ob in objectness.split(num_anchors_per_level, 1):
            n = ob.shape[1]
            k = min(self.pre_nms_top_n(), n)
            r.append(torch.sort(ob, dim=1, descending=True, stable=True)[1][:, :k] + offset)
            offset += n
        return torch.cat(r, dim=1)

    RegionProposalNetwork._get_top_n_idx = stable_top_n_idx
    try:
        yield
    finally:
        RegionProposalNetwork._get_top_n_idx = orig


@contextlib.contextmanager
def graph_proposals(props):
    """Eager torchvision with the graph's proposals: the RPN runs (its losses are torchvision's own),
    then the RoI heads receive exactly the boxes the graph selected. Used only when a few proposals
    were exchanged at the RPN's selection cut: it tells a near-tie decided by the last bits (the RoI
    heads then agree) from a real difference (they do not)."""
    if props is None:
        yield
        return
    orig = RegionProposalNetwork.filter_proposals
    fixed_boxes = torch.from_numpy(np.array(props, dtype=np.float32))  # a writable copy

    def fixed(self, proposals, objectness, image_shapes, num_anchors_per_level):
        boxes, _ = orig(self, proposals, objectness, image_shapes, num_anchors_per_level)
        return [fixed_boxes.to(boxes[0].dtype).clone()], [torch.zeros(len(fixed_boxes))]

    RegionProposalNetwork.filter_proposals = fixed
    try:
        yield
    finally:
        RegionProposalNetwork.filter_proposals = orig


def exact_logit_ties(model, img) -> int:
    """Exactly equal RPN logits among each level's top-k (including the first one left out), summed
    over levels. Their order is torch.topk's choice, unspecified for equal values, and it decides
    which of two equal boxes NMS keeps: > 0 means a tie order can move the proposals."""
    m = model
    with torch.no_grad():
        il, _ = m.transform([img])
        obj, _ = m.rpn.head(list(m.backbone(il.tensors).values()))
    n = 0
    for o in obj:
        v = o.flatten()
        k = min(m.rpn._pre_nms_top_n["testing"] + 1, v.numel())
        sel = v.topk(k)[0]
        n += int((sel[1:] == sel[:-1]).sum())
    return n


def eager_detections(model, img):
    """torchvision's eval forward: boxes, labels, scores, pasted mask probabilities [D,H,W] and the
    un-pasted [D,28,28] probabilities of the detected class (to paste again at another box)."""
    model.eval()
    cap = {}
    h = model.roi_heads.mask_predictor.register_forward_hook(lambda m, i, o: cap.__setitem__("logits", o.detach()))
    try:
        with torch.no_grad():
            out = model([img])[0]
    finally:
        h.remove()
    lg = cap.get("logits", torch.zeros(0, 1, 28, 28))
    probs28 = lg[torch.arange(lg.shape[0]), out["labels"]].sigmoid() if len(out["labels"]) else lg[:, 0]
    return (out["boxes"].double().numpy(), out["labels"].numpy(), out["scores"].double().numpy(),
            out["masks"][:, 0].numpy(), probs28)


def paste_at(probs28: torch.Tensor, box, H: int, W: int) -> np.ndarray:
    """torchvision's paste_masks_in_image of one 28x28 probability map at `box` (xyxy, image px)."""
    b = torch.from_numpy(np.asarray(box, dtype=np.float32).reshape(1, 4))
    return RH.paste_masks_in_image(probs28[None, None], b, (H, W))[0, 0].numpy()


# ---------------------------------------------------------------------------------------- comparison
def match_detections(eb, el, es, gb, gl, gs, box_tol):
    """Greedy one-to-one in eager score order: same label, every coordinate within the box's
    tolerance (box_tol[i]); the closest candidate wins. Returns (pairs [(i_eager, j_graph)],
    unmatched eager, unmatched graph)."""
    used = np.zeros(len(gs), dtype=bool)
    pairs, lone = [], []
    for i in np.argsort(-es, kind="stable"):
        if len(gs) == 0:
            lone.append(int(i))
            continue
        d = np.abs(gb - eb[i]).max(axis=1)
        d[(gl != el[i]) | used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= box_tol[i]:
            used[j] = True
            pairs.append((int(i), j))
        else:
            lone.append(int(i))
    return pairs, lone, [int(j) for j in np.nonzero(~used)[0]]


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def loss_ok(a, b, tol):
    return rel_err(a, b) <= tol or abs(a - b) <= 1e-6


def proposals_diff(graph_p: np.ndarray, eager_p: np.ndarray, tol=1e-3):
    """How many proposals of each side have no counterpart within tol px (order ignored)."""
    def lone(a, b):
        if len(b) == 0:
            return len(a)
        n = 0
        for r in a:
            if np.abs(b - r).max(axis=1).min() > tol:
                n += 1
        return n
    return lone(graph_p, eager_p), lone(eager_p, graph_p)


def compare_image(model, recipe, img, target, g, graph_det, graph_props, modes, det_cap, a, onnx_ties,
                  use_graph_proposals=False):
    """Eager detections and losses of one image (torchvision's tie order, or the graph's; with
    use_graph_proposals, the RoI heads fed the graph's proposals) against the service's line `g`.
    Returns the per-image record (see main)."""
    gb, gl, gs, gmasks = graph_det
    with onnx_tie_order(onnx_ties), graph_proposals(graph_props if use_graph_proposals else None):
        t0 = time.time()
        eb, el, es, em, e28 = eager_detections(model, img)
        t_det = time.time() - t0
        t0 = time.time()
        eager_l = recipe(img, target)
        eager_props = recipe.cap["proposals"]
        t_loss = time.time() - t0
    # the graph works in the resized frame: a box error there grows by the scale back to the image
    lc = recipe.model.transform
    hw = resized_hw(torch.tensor([img.shape[1], img.shape[2]]), float(lc.min_size[-1]), float(lc.max_size)).tolist()
    scale = max(1.0, img.shape[1] / hw[0], img.shape[2] / hw[1])
    # A decoded coordinate is the box's centre plus delta x size: a difference d in the box head's
    # deltas (summation order) moves it by d x size, so the tolerance grows with the box's larger
    # side in the model frame (--box-rel-tol), on top of the absolute floor (--box-tol).
    side = (np.maximum(eb[:, 2] - eb[:, 0], eb[:, 3] - eb[:, 1]) / scale) if len(eb) else np.zeros(0)
    box_tols = (a.box_tol + a.box_rel_tol * side) * scale
    pairs, lone_e, lone_g = match_detections(eb, el, es, gb, gl, gs, box_tols)
    nearest = []
    for i in lone_e:
        d = np.abs(gb - eb[i]).max(axis=1) if len(gb) else np.array([np.inf])
        d = np.where(gl == el[i], d, np.inf) if len(gb) else d
        nearest.append(float(d.min()))
    cut = min(es.min() if len(es) else 0.0, gs.min() if len(gs) else 0.0)
    at_cap = len(es) >= det_cap or len(gs) >= det_cap
    ties = [i for i in lone_e if at_cap and es[i] - cut <= a.score_tol] + \
           [j for j in lone_g if at_cap and gs[j] - cut <= a.score_tol]
    unmatched = len(lone_e) + len(lone_g) - len(ties)
    box_d = max((float(np.abs(eb[i] - gb[j]).max()) for i, j in pairs), default=0.0)
    box_excess = max((float(np.abs(eb[i] - gb[j]).max() / box_tols[i]) for i, j in pairs), default=0.0)
    box_rel = max((float(np.abs(eb[i] - gb[j]).max() / max(scale * side[i], 1e-9)) for i, j in pairs), default=0.0)
    score_d = max((abs(float(es[i] - gs[j])) for i, j in pairs), default=0.0)
    def margin_iou(prob, gm):
        """IoU where a pixel whose eager probability is within the margin of 0.5 counts as agreeing
        (a coin toss at the threshold between two runtimes); also the flipped pixels' largest margin."""
        em_b = prob > 0.5
        union = np.logical_or(em_b, gm).sum()
        flip = em_b != gm
        real = flip & (np.abs(prob - 0.5) > a.mask_margin)
        iou = 1.0 if union == 0 else np.logical_and(em_b, gm).sum() / union
        return iou, (1.0 if union == 0 else 1.0 - real.sum() / union), int(flip.sum()), \
            float(np.abs(prob[flip] - 0.5).max()) if flip.any() else 0.0

    ious, flips, flip_margin, noise_ious, repasted = [], 0, 0.0, [], 0
    for i, j in pairs:
        iou, iou_m, nf, fm = margin_iou(em[i], gmasks[j])
        if iou_m < a.mask_iou:
            # The paste geometry is integer (torchvision truncates the expanded box to int64): a box
            # within tolerance on the other side of a pixel boundary pastes the same 28x28 map at a
            # size one pixel different. Pasting torchvision's own map at the service's box tells.
            iou2, iou2_m, _, _ = margin_iou(paste_at(e28[i], gb[j], *gmasks[j].shape), gmasks[j])
            if iou2_m >= a.mask_iou:
                repasted += 1
                iou_m = iou2_m
        ious.append(iou)
        noise_ious.append(iou_m)
        flips += nf
        flip_margin = max(flip_margin, fm)
    min_iou = float(min(ious)) if ious else 1.0
    min_iou_outside = float(min(noise_ious)) if noise_ious else 1.0
    p_graph_only, p_eager_only = proposals_diff(graph_props, eager_props.numpy(), tol=a.box_tol)
    losses, bad = {}, []
    for m in modes:
        losses[m] = {}
        for k in LOSSES + ["loss"]:
            sv, ev = float(g["losses"][m][k]), float(eager_l[m][k])
            losses[m][k] = {"service": sv, "torchvision": ev, "rel": rel_err(sv, ev)}
            if not loss_ok(sv, ev, a.loss_tol):
                bad.append(f"{m}.{k} {rel_err(sv, ev):.1e}")
    if unmatched:
        bad.append(f"{unmatched} unmatched detections")
    if unmatched and nearest:
        bad[-1] += (f" (nearest same-label boxes {', '.join(f'{x:.1e}' for x in sorted(nearest)[:4])} px away, "
                    f"tolerance {', '.join(f'{box_tols[i]:.1e}' for i in lone_e[:4])} px)")
    if box_excess > 1.0:
        bad.append(f"box {box_d:.1e} px")
    if score_d > a.score_tol:
        bad.append(f"score {score_d:.1e}")
    if min_iou < a.mask_iou and min_iou_outside < a.mask_iou:
        bad.append(f"mask IoU {min_iou:.4f} ({min_iou_outside:.4f} outside the threshold margin)")
    rec = {"ok": not bad, "bad": bad, "eager_tie_order": "onnx" if onnx_ties else "torch",
           "detections": {"eager": len(es), "service": len(gs), "matched": len(pairs), "ties_at_cut": len(ties),
                          "unmatched": unmatched, "box_tol_px": float(box_tols.max()) if len(box_tols) else a.box_tol * scale, "max_box_diff_px": box_d,
                          "max_box_diff_of_side": box_rel, "max_box_diff_of_tol": box_excess, "max_score_diff": score_d, "min_mask_iou": min_iou,
                          "min_mask_iou_outside_margin": min_iou_outside, "flipped_pixels": flips,
                          "masks_explained_by_paste_rounding": repasted,
                          "max_flipped_margin": flip_margin},
           "proposals": {"graph": int(len(graph_props)), "eager": int(len(eager_props)),
                         "graph_only": p_graph_only, "eager_only": p_eager_only},
           "losses": losses, "seconds": {"eager_detections": t_det, "eager_losses": t_loss}}
    return rec


def check_inputs(images_dir: str, ann: dict):
    if not os.path.isdir(images_dir):
        raise VerifyError(f"--images: no such folder {images_dir}")
    files = sorted(f for f in os.listdir(images_dir) if f.lower().endswith(IMAGE_EXT))
    listed = [os.path.basename(str(e.get("file_name", ""))) for e in ann.get("images", [])]
    extra = [f for f in files if f not in set(listed)]
    missing = [f for f in listed if f not in set(files)]
    if extra:
        raise VerifyError(f"{len(extra)} image(s) in {images_dir} are not in the annotations' images[]: "
                          + ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else ""))
    if missing:
        raise VerifyError(f"{len(missing)} annotated image(s) are not in {images_dir}: "
                          + ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else ""))
    if not listed:
        raise VerifyError("the annotations list no images")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="exported model folder (manifest.json + model.onnx)")
    ap.add_argument("--checkpoint", "--weights", dest="checkpoint", required=True)
    ap.add_argument("--arch", help="override the manifest's export.arch")
    ap.add_argument("--config", help="build.py config for --arch config")
    ap.add_argument("--images", required=True)
    ap.add_argument("--annotations", required=True)
    ap.add_argument("--sampling", default="all,expected")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads (each)")
    ap.add_argument("--loss-tol", type=float, default=1e-4)
    ap.add_argument("--box-tol", type=float, default=1e-2, help="px of the model frame, every box")
    ap.add_argument("--box-rel-tol", type=float, default=1e-4,
                    help="plus this fraction of the box's larger side (model frame)")
    ap.add_argument("--score-tol", type=float, default=1e-3)
    ap.add_argument("--mask-iou", type=float, default=0.99)
    ap.add_argument("--mask-margin", type=float, default=1e-3,
                    help="a mask pixel whose eager probability is within this of 0.5 may come out either way")
    ap.add_argument("--tie-order", choices=["auto", "torch", "onnx"], default="auto",
                    help="order of exactly equal RPN logits on the eager side: torch (torch.topk's), onnx (lower "
                         "index first, the graph's), auto (torch; an image that disagrees is re-run with onnx and "
                         "passes as 'OK (tie order)' if that agrees)")
    ap.add_argument("--near-tie-proposals", type=int, default=10,
                    help="an image that disagrees with at most this many proposals exchanged (and the RPN "
                         "losses in agreement) is compared again with the RoI heads fed the graph's "
                         "proposals; it passes as 'OK (RPN near-tie)' if that agrees (0: never)")
    ap.add_argument("--json", help="write every number to this file")
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    a = ap.parse_args(argv)
    modes = [m.strip() for m in a.sampling.split(",") if m.strip()]
    try:
        for m in modes:
            if m not in ("all", "expected"):
                raise VerifyError(f"--sampling: {m!r} is not all or expected")
        man_path = os.path.join(a.model, "manifest.json")
        if not os.path.isfile(man_path):
            raise VerifyError(f"no manifest.json in {a.model}")
        manifest = json.load(open(man_path))
        if manifest.get("format") != "loss-capable":
            raise VerifyError(f"{a.model} is a {manifest.get('format')} export: verify needs the loss-capable graph")
        try:
            ann = json.load(open(a.annotations))
        except (OSError, json.JSONDecodeError) as e:
            raise VerifyError(f"cannot read --annotations: {e}") from None
        check_inputs(a.images, ann)
        torch.set_num_threads(a.threads)
        model = eager_model(a, manifest)
    except (VerifyError, ExportError) as e:
        print(f"verify.py: error: {e}", file=sys.stderr)
        return 2
    recipe = LossRecipe(model)
    det_cap = int(manifest["loss_constants"]["box_detections_per_img"])
    det_cap = min(det_cap, 100)  # the service's /evaluate keeps at most 100 detections per image

    rgb_dir = tempfile.mkdtemp(prefix="verify-rgb-")
    cmd = [a.node, "--import", "tsx", os.path.join(HERE, "run-graph.ts"), "--model", os.path.abspath(a.model),
           "--images", os.path.abspath(a.images), "--annotations", os.path.abspath(a.annotations),
           "--sampling", ",".join(modes), "--threads", str(a.threads), "--outputs", "proposals", "--rgb-dir", rgb_dir]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        return run_all(a, proc, model, recipe, modes, det_cap, rgb_dir)
    finally:
        if proc.poll() is None:
            proc.terminate()  # run-graph stops its server on SIGTERM
            proc.wait()
        __import__("shutil").rmtree(rgb_dir, ignore_errors=True)


def run_all(a, proc, model, recipe, modes, det_cap, rgb_dir):
    report = {"model": a.model, "checkpoint": os.path.basename(a.checkpoint), "tolerances": {
        "loss_rel": a.loss_tol, "loss_abs_floor": 1e-6, "box_px": a.box_tol, "score": a.score_tol, "mask_iou": a.mask_iou},
        "images": []}
    failures = tie_passes = near_tie_passes = 0
    worst = {m: {k: 0.0 for k in LOSSES + ["loss"]} for m in modes}
    t_start = time.time()
    for line in proc.stdout:
        g = json.loads(line)
        name, H, W = g["file_name"], int(g["height"]), int(g["width"])
        rgb = np.fromfile(os.path.join(rgb_dir, os.path.basename(name) + ".rgb"), dtype=np.uint8).reshape(H, W, 3)
        try:
            from PIL import Image
            pil = np.asarray(Image.open(os.path.join(a.images, os.path.basename(name))).convert("RGB"))
            decode_diff = int(np.abs(pil.astype(int) - rgb.astype(int)).max()) if pil.shape == rgb.shape else -1
        except Exception:  # noqa: BLE001 - informational only
            decode_diff = -1
        img = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0
        gts = g["gt"]
        target = {
            "boxes": torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (x["bbox"] for x in gts)],
                                  dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([int(x["category_id"]) for x in gts], dtype=torch.int64),
            "masks": torch.from_numpy(np.stack([rle_decode(rle_from_string(x["counts"]), H, W) for x in gts]).astype(np.uint8))
            if gts else torch.zeros((0, H, W), dtype=torch.uint8),
        }
        inst = g["instances"]
        graph_det = (np.array([[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3]]
                               for d in inst], dtype=np.float64).reshape(-1, 4),
                     np.array([d["category_id"] for d in inst], dtype=np.int64),
                     np.array([d["score"] for d in inst], dtype=np.float64),
                     [rle_decode(rle_from_string(d["segmentation"]["counts"]), H, W) for d in inst])
        gp = g["outputs"]["proposals"]
        graph_props = np.frombuffer(__import__("base64").b64decode(gp["b64"]), dtype="<f4").reshape(gp["dims"])
        tie_modes = {"torch": [False], "onnx": [True], "auto": [False, True]}[a.tie_order]
        first = None
        for onnx_ties in tie_modes:
            r = compare_image(model, recipe, img, target, g, graph_det, graph_props, modes, det_cap, a, onnx_ties)
            if r["ok"]:
                break
            first = first or r
        near_tie = None
        if not r["ok"] and a.near_tie_proposals > 0:
            # A few proposals exchanged at the RPN cut, the RPN's own losses in agreement: feed the RoI
            # heads the graph's proposals; if everything then agrees, the difference was the last bits
            # deciding a near-tie (which torchvision shows against itself with another thread count).
            base = first or r
            exchanged = max(base["proposals"]["graph_only"], base["proposals"]["eager_only"])
            rpn_ok = all(loss_ok(base["losses"][m][k]["service"], base["losses"][m][k]["torchvision"], a.loss_tol)
                         for m in modes for k in ("loss_objectness", "loss_rpn_box_reg"))
            if 0 < exchanged <= a.near_tie_proposals and rpn_ok:
                near_tie = {"exchanged_proposals": exchanged, "torch_proposals": {k: base[k] for k in ("bad", "detections", "losses")}}
                r = compare_image(model, recipe, img, target, g, graph_det, graph_props, modes, det_cap, a, onnx_ties,
                                  use_graph_proposals=True)
                r["near_tie"] = near_tie
        r["verdict"] = ("FAIL" if not r["ok"] else f"OK (RPN near-tie: {near_tie['exchanged_proposals']} proposal(s) exchanged)"
                        if near_tie else "OK (tie order)" if onnx_ties else "OK")
        if a.tie_order == "auto" and onnx_ties and not near_tie:
            r["exact_logit_ties"] = exact_logit_ties(model, img)
            r["torch_order"] = {k: first[k] for k in ("bad", "detections", "proposals", "losses")}
            if r["ok"]:
                r["torch_order_failed"] = ", ".join(first["bad"])
        failures += 0 if r["ok"] else 1
        near_tie_passes += 1 if r["ok"] and near_tie else 0
        tie_passes += 1 if r["ok"] and onnx_ties and a.tie_order == "auto" and not near_tie else 0
        for m in modes:
            for k in LOSSES + ["loss"]:
                worst[m][k] = max(worst[m][k], r["losses"][m][k]["rel"])
        d = r["detections"]
        print(f"{name} {H}x{W}: detections {d['matched']}/{d['eager']} eager, {d['service']} service matched"
              + (f" ({d['ties_at_cut']} tie(s) at the cut)" if d["ties_at_cut"] else "")
              + (f", {d['unmatched']} UNMATCHED" if d["unmatched"] else "")
              + f"; max |dbox| {d['max_box_diff_px']:.1e} px, max |dscore| {d['max_score_diff']:.1e}, "
              + f"min mask IoU {d['min_mask_iou']:.4f}"
              + (f" ({d['flipped_pixels']} px flipped, all within {d['max_flipped_margin']:.0e} of p=0.5)"
                 if d["flipped_pixels"] and d["max_flipped_margin"] <= a.mask_margin else "")
              + (f" ({d['masks_explained_by_paste_rounding']} mask(s) equal when torchvision's 28x28 map is pasted "
                 "at the service's box: integer paste size)" if d["masks_explained_by_paste_rounding"] else "")
              + "; "
              + "; ".join(f"{m} losses max rel {max(v['rel'] for v in r['losses'][m].values()):.1e}" for m in modes)
              + f"; proposals {r['proposals']['graph_only']}/{r['proposals']['graph']} differ"
              + (f" [torch.topk's order for {r['exact_logit_ties']} exactly tied RPN logits: "
                 f"{r['torch_order_failed']}; numbers shown: the graph's order]" if "torch_order_failed" in r else "")
              + (f" [with torchvision's own proposals: {', '.join(near_tie['torch_proposals']['bad'])}; numbers shown: "
                 "the RoI heads on the graph's proposals]" if near_tie and r["ok"] else "")
              + f"; {r['verdict']}" + ("" if r["ok"] else " " + ", ".join(r["bad"])), flush=True)
        r.update({"file_name": name, "width": W, "height": H, "gt": len(gts), "decode_max_diff_vs_pil": decode_diff})
        report["images"].append(r)
    err = proc.stderr.read()
    rc = proc.wait()
    if rc != 0:
        print(f"verify.py: error: run-graph.ts failed: {err.strip().splitlines()[-1] if err.strip() else rc}", file=sys.stderr)
        return 2
    n = len(report["images"])
    print(f"\n{n} images, {n - failures} within tolerances"
          + (f" ({tie_passes} of them with the graph's order for exactly tied RPN logits)" if tie_passes else "")
          + (f" ({near_tie_passes} of them after an RPN near-tie, the RoI heads fed the graph's proposals)"
             if near_tie_passes else "")
          + f", {failures} not ({time.time() - t_start:.0f} s)")
    print("max relative error per loss:")
    print("| sampling | " + " | ".join(LOSSES + ["loss"]) + " |")
    print("|---|" + "---|" * (len(LOSSES) + 1))
    for m in modes:
        print(f"| {m} | " + " | ".join(f"{worst[m][k]:.1e}" for k in LOSSES + ["loss"]) + " |")
    report["worst_rel"] = worst
    report["failures"] = failures
    report["tie_order_passes"] = tie_passes
    report["near_tie_passes"] = near_tie_passes
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup (stop run-graph and its server)
    sys.exit(main())
