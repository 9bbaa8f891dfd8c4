"""Tests of export.py's command line on the checkpoints people have (Python is not in CI: run here).

  /usr/bin/python3 tools/model/test_export_cli.py [--work work/export-cli] [--keep]

Builds seeded random-init torchvision checkpoints in --work (a few hundred MB, gitignored), then runs
`export.py` as a subprocess for every layout it accepts (--check: everything but the ONNX export)
and every refusal (exit code 2, one line on stderr naming the problem, nothing written), plus one
full export, a failing re-export over it (files unchanged) and an export into a folder holding
other files (kept). Prints one line per case and a summary; exit code 1 if any case fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT = os.path.join(HERE, "export.py")
PY = sys.executable
V1, V2 = "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"


def run(*args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([PY, EXPORT, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.strip()


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_fixtures(w):
    os.makedirs(w, exist_ok=True)
    p = lambda n: os.path.join(w, n)  # noqa: E731
    if os.path.exists(p("done")):
        return p
    torch.manual_seed(11)
    v1 = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=4)
    sd = v1.state_dict()
    torch.save(sd, p("bare.pth"))
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": []}, "lr_scheduler": {"last_epoch": 25},
                "args": argparse.Namespace(model=V1, weights=None, rpn_score_thresh=None, epochs=26), "epoch": 25},
               p("train_ckpt.pth"))
    torch.save({"model": sd, "iter": 1200}, p("iter_ckpt.pth"))
    torch.save({"module." + k: v for k, v in sd.items()}, p("dataparallel.pth"))
    frozen = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    torch.save({"model": frozen, "optimizer": {}, "args": argparse.Namespace(
        model=V1, weights="MaskRCNN_ResNet50_FPN_Weights.COCO_V1", rpn_score_thresh=None), "epoch": 3}, p("coco_finetune.pth"))
    torch.save(frozen, p("frozen_bn.pth"))
    legacy = {}
    for k, v in frozen.items():
        k = k.replace("rpn.head.conv.0.0.", "rpn.head.conv.")
        for blk in ("inner_blocks", "layer_blocks"):
            for i in range(4):
                k = k.replace(f"backbone.fpn.{blk}.{i}.0.", f"backbone.fpn.{blk}.{i}.")
        for i in range(4):
            k = k.replace(f"roi_heads.mask_head.{i}.0.", f"roi_heads.mask_head.mask_fcn{i + 1}.")
        legacy[k] = v
    torch.save(legacy, p("legacy_names.pth"))
    pickled = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=4,
                                                                 min_size=640, max_size=1024, box_detections_per_img=50)
    pickled.load_state_dict(sd)
    torch.save(pickled, p("pickled_model.pth"))
    torch.save(torch.nn.DataParallel(pickled), p("pickled_dataparallel.pth"))
    torch.jit.save(torch.jit.script(pickled.eval()), p("torchscript.pt"))
    torch.manual_seed(12)
    torch.save(torchvision.models.detection.maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None,
                                                                     num_classes=4).state_dict(), p("v2.pth"))
    bad = dict(sd)
    bad["backbone.fpn.layer_blocks.0.0.weight"] = torch.zeros(256, 256, 1, 1)
    torch.save(bad, p("bad_shape.pth"))
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), p("resnet50_classifier.pth"))
    torch.save(torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                                    num_classes=4).state_dict(), p("faster_rcnn.pth"))
    torch.save({"weights": sd, "step": 5, "note": "x"}, p("unknown_layout.pth"))
    torch.save([sd], p("a_list.pth"))
    with open(p("not_torch.pth"), "w") as f:
        f.write("hello\n")
    with open(p("classes.txt"), "w") as f:
        f.write("square\n\ncircle\ntriangle\n\n")
    with open(p("classes4.txt"), "w") as f:
        f.write("a\nb\nc\nd\n")
    with open(p("empty.txt"), "w") as f:
        f.write("\n  \n")
    with open(p("dup.txt"), "w") as f:
        f.write("a\nb\na\n")
    json.dump({"categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "circle"}, {"id": 3, "name": "triangle"}]},
              open(p("coco123.json"), "w"))
    json.dump({"categories": [{"id": 9, "name": "triangle"}, {"id": 1, "name": "square"}, {"id": 5, "name": "circle"}]},
              open(p("coco159.json"), "w"))
    json.dump({"categories": [{"id": 1, "name": "square"}, {"id": 3, "name": "triangle"}]}, open(p("coco13.json"), "w"))
    json.dump({"categories": [{"id": i, "name": f"c{i}"} for i in (1, 2, 3, 4)]}, open(p("coco1234.json"), "w"))
    json.dump({"images": []}, open(p("coco_nocats.json"), "w"))
    open(p("a_file"), "w").write("x")
    open(p("done"), "w").write("")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="work/export-cli")
    ap.add_argument("--keep", action="store_true", help="keep the exported model folder")
    a = ap.parse_args()
    t0 = time.time()
    p = make_fixtures(a.work)
    out = p("out")
    shutil.rmtree(out, ignore_errors=True)
    cls = ["--classes", p("classes.txt")]
    results = []

    def case(name, args, rc, *expect, absent=None):
        code, so, se = run(*args)
        text = so + se
        ok = code == rc and all(e in text for e in expect) and (absent is None or not os.path.exists(absent))
        if rc != 0:
            ok = ok and len(se.splitlines()) == 1 and se.startswith("export.py: error:")
        leftovers = [f for f in os.listdir(a.work) if ".export-" in f]
        ok = ok and not leftovers
        results.append((name, ok))
        shown = se if rc != 0 else so.strip().splitlines()[0] if so.strip() else se
        print(f"{'PASS' if ok else 'FAIL'} {name}: rc {code}: {shown}" + (f" [leftovers {leftovers}]" if leftovers else ""),
              flush=True)
        if not ok and rc == 0:
            print(se[-2000:])

    chk = ["--out", out, "--check"]
    # layouts
    case("bare state_dict, arch detected", ["--checkpoint", p("bare.pth"), *cls, *chk], 0,
         "checkpoint: state_dict; arch maskrcnn_resnet50_fpn (detected from the keys); num_classes 4", absent=out)
    case("bare state_dict, --arch given", ["--arch", V1, "--weights", p("bare.pth"), *cls, *chk], 0, "(--arch)")
    case("references train.py checkpoint", ["--arch", V1, "--checkpoint", p("train_ckpt.pth"), *cls, *chk], 0,
         "training checkpoint dict (keys model, optimizer, lr_scheduler, args, epoch")
    case("no --arch, training checkpoint", ["--checkpoint", p("train_ckpt.pth"), *cls, *chk], 0, "arch maskrcnn_resnet50_fpn")
    case("repo train.py {model, iter}", ["--arch", V1, "--checkpoint", p("iter_ckpt.pth"), *cls, *chk], 0, "keys model, iter")
    case("DataParallel module. prefix", ["--arch", V1, "--checkpoint", p("dataparallel.pth"), *cls, *chk], 0,
         'keys prefixed "module." (removed)')
    case("FrozenBatchNorm checkpoint (no counters)", ["--arch", V1, "--checkpoint", p("frozen_bn.pth"), *cls, *chk], 0,
         "norm frozen eps 1e-05")
    case("fine-tuned from COCO_V1 (eps 0)", ["--arch", V1, "--checkpoint", p("coco_finetune.pth"), *cls, *chk], 0,
         "norm frozen eps 0.0")
    case("--frozen-bn-eps overrides", ["--arch", V1, "--checkpoint", p("coco_finetune.pth"), "--frozen-bn-eps", "1e-5",
                                       *cls, *chk], 0, "eps 1e-05")
    case("torchvision < 0.13 key names", ["--arch", V1, "--checkpoint", p("legacy_names.pth"), *cls, *chk], 0,
         "torchvision < 0.13 key names (renamed)")
    case("pickled full model (its own settings)", ["--arch", V1, "--checkpoint", p("pickled_model.pth"), *cls, *chk], 0,
         "pickled MaskRCNN model", "transform 640/1024")
    case("pickled model, --min-size overrides", ["--arch", V1, "--checkpoint", p("pickled_model.pth"), "--min-size", "800",
                                                 "--max-size", "1333", *cls, *chk], 0, "transform 800/1333")
    case("pickled DataParallel model", ["--arch", V1, "--checkpoint", p("pickled_dataparallel.pth"), *cls, *chk], 0,
         "pickled MaskRCNN model")
    case("TorchScript archive (its own settings)", ["--arch", V1, "--checkpoint", p("torchscript.pt"), *cls, *chk], 0,
         "TorchScript module", "transform 640/1024")
    case("v2 detected", ["--checkpoint", p("v2.pth"), *cls, *chk], 0, "arch maskrcnn_resnet50_fpn_v2 (detected")
    case("COCO JSON classes ids 1..3", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes", p("coco123.json"), *chk], 0,
         "3 classes + background")
    case("COCO JSON ids 1,5,9 -> labels by position", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes",
                                                       p("coco159.json"), *chk], 0, "COCO ids [1, 5, 9] -> labels 1..3")
    case("COCO JSON ids 1,3 with 3 labels -> label = id", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes",
                                                           p("coco13.json"), *chk], 0, "3 classes + background")
    case("config arch unchanged", ["--config", os.path.join(HERE, "config.json"), "--weights",
                                   os.path.join(HERE, "..", "..", "models", "shapes", "weights.pt"), *chk], 0, "arch config (--config)")
    # refusals
    case("v1 weights, --arch v2", ["--arch", V2, "--checkpoint", p("bare.pth"), *cls, *chk], 2,
         "weights do not fit --arch maskrcnn_resnet50_fpn_v2", "missing", "unexpected", "look like --arch maskrcnn_resnet50_fpn")
    case("v2 weights, --arch v1", ["--arch", V1, "--checkpoint", p("v2.pth"), *cls, *chk], 2,
         "weights do not fit --arch maskrcnn_resnet50_fpn:", "look like --arch maskrcnn_resnet50_fpn_v2")
    case("one tensor of the wrong shape", ["--arch", V1, "--checkpoint", p("bad_shape.pth"), *cls, *chk], 2,
         "first mismatch backbone.fpn.layer_blocks.0.0.weight: checkpoint [256, 256, 1, 1], architecture [256, 256, 3, 3]")
    case("4 names for 3 classes", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes", p("classes4.txt"), *chk], 2,
         "has 4 class names but the checkpoint has num_classes 4 = 3 classes + background")
    case("COCO JSON 4 categories for 3 classes", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes",
                                                  p("coco1234.json"), *chk], 2, "has 4 categories (ids 1..4)")
    case("COCO JSON without categories", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes", p("coco_nocats.json"),
                                          *chk], 2, "non-empty \"categories\"")
    case("empty classes file", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes", p("empty.txt"), *chk], 2, "is empty")
    case("duplicate class name", ["--arch", V1, "--checkpoint", p("bare.pth"), "--classes", p("dup.txt"), *chk], 2,
         "appears twice")
    case("no --classes", ["--arch", V1, "--checkpoint", p("bare.pth"), *chk], 2, "--classes FILE is required")
    case("ResNet classifier", ["--arch", V1, "--checkpoint", p("resnet50_classifier.pth"), *cls, *chk], 2,
         "image classifier")
    case("Faster R-CNN", ["--arch", V1, "--checkpoint", p("faster_rcnn.pth"), *cls, *chk], 2,
         "Faster R-CNN without a mask head")
    case("wrong --arch value", ["--arch", "maskrcnn_resnet101_fpn", "--checkpoint", p("bare.pth"), *cls, *chk], 2,
         "unknown --arch 'maskrcnn_resnet101_fpn'")
    case("unknown dict layout", ["--arch", V1, "--checkpoint", p("unknown_layout.pth"), *cls, *chk], 2,
         "unknown checkpoint layout", "top-level keys [weights, step, note]")
    case("a list", ["--arch", V1, "--checkpoint", p("a_list.pth"), *cls, *chk], 2, "a list, not a state_dict")
    case("not a torch file", ["--arch", V1, "--checkpoint", p("not_torch.pth"), *cls, *chk], 2, "cannot read checkpoint")
    case("missing checkpoint", ["--arch", V1, "--checkpoint", p("nope.pth"), *cls, *chk], 2, "checkpoint not found")
    case("transform flag with --arch config", ["--config", os.path.join(HERE, "config.json"), "--weights", p("bare.pth"),
                                               "--min-size", "600", *chk], 2, "--min-size applies to the torchvision")
    case("bad --image-mean", ["--arch", V1, "--checkpoint", p("bare.pth"), *cls, "--image-mean", "0.5,0.5", *chk], 2,
         "--image-mean wants three numbers")
    case("bad --min-size type", ["--arch", V1, "--checkpoint", p("bare.pth"), *cls, "--min-size", "big", *chk], 2,
         "argument --min-size")
    case("--out is a file", ["--arch", V1, "--checkpoint", p("bare.pth"), *cls, "--out", p("a_file")], 2,
         "exists and is not a folder")
    # full export, failing re-export over it, export into a folder with other files
    case("full export", ["--arch", V1, "--checkpoint", p("bare.pth"), *cls, "--out", out, "--name", "cli-test"], 0,
         '"format": "loss-capable"')
    man = json.load(open(os.path.join(out, "manifest.json")))
    lc = man["loss_constants"]
    ok = (man["classes"] == ["square", "circle", "triangle"] and lc["num_classes"] == 4 and lc["min_size"] == 800
          and lc["max_size"] == 1333 and lc["box_detections_per_img"] == 100 and lc["box_score_thresh"] == 0.05
          and man["export"]["arch"] == V1 and man["export"]["settings"]["image_std"] == [0.229, 0.224, 0.225]
          and man["name"] == "cli-test" and digest(os.path.join(out, "model.onnx")) == man["sha256"]
          and oct(os.stat(out).st_mode & 0o777) != "0o700")
    results.append(("manifest of the full export", ok))
    print(f"{'PASS' if ok else 'FAIL'} manifest of the full export: classes {man['classes']}, num_classes {lc['num_classes']}, "
          f"{lc['min_size']}/{lc['max_size']}, export.arch {man['export']['arch']}, sha256 matches the file")
    before = {f: digest(os.path.join(out, f)) for f in os.listdir(out)}
    case("failing re-export leaves the folder alone", ["--arch", V2, "--checkpoint", p("bare.pth"), *cls, "--out", out], 2,
         "weights do not fit")
    after = {f: digest(os.path.join(out, f)) for f in os.listdir(out)}
    results.append(("folder unchanged after the refusal", before == after))
    print(f"{'PASS' if before == after else 'FAIL'} folder unchanged after the refusal: {sorted(after)}")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("my notes\n")
    case("re-export into a folder with other files", ["--checkpoint", p("v2.pth"), *cls, "--out", out, "--name", "cli-v2"], 0,
         '"name": "cli-v2"')
    kept = open(os.path.join(out, "README.md")).read() == "my notes\n"
    man2 = json.load(open(os.path.join(out, "manifest.json")))
    ok = kept and man2["export"]["arch"] == V2 and digest(os.path.join(out, "model.onnx")) == man2["sha256"]
    results.append(("other files kept, model replaced", ok))
    print(f"{'PASS' if ok else 'FAIL'} other files kept, model replaced: README.md kept {kept}, export.arch {man2['export']['arch']}")
    # a failure inside the export itself: nothing of it remains
    sys.path.insert(0, HERE)
    import export as E
    fresh = p("fresh")
    shutil.rmtree(fresh, ignore_errors=True)

    def boom(tmp):
        open(os.path.join(tmp, "model.onnx"), "w").write("partial")
        raise RuntimeError("export crashed")
    try:
        E.write_atomically(fresh, boom)
        ok = False
    except RuntimeError:
        ok = not os.path.exists(fresh) and not [f for f in os.listdir(a.work) if ".export-" in f]
    results.append(("crash during the export writes nothing", ok))
    print(f"{'PASS' if ok else 'FAIL'} crash during the export writes nothing")
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)
    n_ok = sum(ok for _, ok in results)
    print(f"\n{n_ok}/{len(results)} passed ({time.time() - t0:.0f} s)")
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
