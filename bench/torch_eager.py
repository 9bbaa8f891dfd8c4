"""torchvision eager inference on the same weights, image and threads as the ONNX service.

Run by bench/run.ts (`npm run bench`) when /usr/bin/python3 has torch; usable alone:

    python3 bench/torch_eager.py --image test/fixtures/losses/images/sq-256.png --threads 2 --runs 20

Builds the model with tools/model/build.py from tools/model/config.json, loads
models/shapes/weights.pt (or, with --model-dir DIR --checkpoint FILE, the checkpoint in the
architecture and settings of DIR's manifest `export` block, as tools/model/verify.py does), eval mode, torch.set_num_threads(N) (interop 1), and times
`model([img])` under torch.inference_mode() after warm-up. Prints one JSON line:
{"p50_ms", "mean_ms", "min_ms", "runs", "threads", "torch", "torchvision", "instances"}.
With --serve (what the bench uses, so torch runs interleave with the service's requests under the
same machine load): prints {"ready": true, ...}, then for each "run" line on stdin times one
model([img]) and prints {"ms", "instances"}; any other line or EOF ends it.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "model"))
from build import build_model, load_config  # noqa: E402


def load_model(model_dir=None, checkpoint=None, config=os.path.join(ROOT, "tools/model/config.json"),
               weights=os.path.join(ROOT, "models/shapes/weights.pt")):
    """The eager model in eval mode: `checkpoint` built as `model_dir`'s manifest says (as verify.py
    does), or `weights` on the build.py `config` (the default model)."""
    if model_dir:
        from verify import eager_model  # tools/model/verify.py: the checkpoint as export.py loaded it
        model = eager_model(argparse.Namespace(checkpoint=checkpoint, arch=None, config=None),
                            json.load(open(os.path.join(model_dir, "manifest.json"))))
    else:
        model = build_model(load_config(config))
        state = torch.load(weights, map_location="cpu")
        model.load_state_dict(state["model"] if isinstance(state, dict) and "model" in state and "iter" in state else state)
    return model.eval()


def load_image(path):
    rgb = np.array(Image.open(path).convert("RGB"), dtype=np.uint8)  # a writable copy
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)  # torchvision to_tensor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=os.path.join(ROOT, "test/fixtures/losses/images/sq-256.png"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "models/shapes/weights.pt"))
    ap.add_argument("--config", default=os.path.join(ROOT, "tools/model/config.json"))
    ap.add_argument("--model-dir", help="an exported model folder (tools/model/export.py); needs --checkpoint")
    ap.add_argument("--checkpoint", help="the checkpoint --model-dir was exported from")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--serve", action="store_true", help="time one run per 'run' line on stdin (paired mode)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set
    model = load_model(a.model_dir, a.checkpoint, a.config, a.weights)
    img = load_image(a.image)

    times = []
    with torch.inference_mode():
        for _ in range(a.warmup):
            out = model([img])
        if a.serve:
            # Paired mode (bench/run.ts): one timed run per "run" line on stdin, one JSON line back.
            print(json.dumps({"ready": True, "threads": a.threads, "torch": torch.__version__, "torchvision": torchvision.__version__}), flush=True)
            for line in sys.stdin:
                if line.strip() != "run":
                    break
                t0 = time.perf_counter()
                out = model([img])
                ms = (time.perf_counter() - t0) * 1000
                print(json.dumps({"ms": ms, "instances": int((out[0]["scores"] >= 0.5).sum())}), flush=True)
            return
        for _ in range(a.runs):
            t0 = time.perf_counter()
            out = model([img])
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "p50_ms": statistics.median(times), "mean_ms": statistics.fmean(times), "min_ms": min(times),
        "runs": a.runs, "threads": a.threads, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "instances": int((out[0]["scores"] >= 0.5).sum()),
    }))


if __name__ == "__main__":
    main()
