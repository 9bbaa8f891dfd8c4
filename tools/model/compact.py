"""Stores an ONNX graph's large float32 weights as float16 (half the file), computing in float32.

  /usr/bin/python3 tools/model/compact.py IN.onnx OUT.onnx [--min-elements 1024]

Each float32 initializer with at least --min-elements values becomes a float16 initializer followed
by a Cast back to float32, so every operator still computes in float32 (onnxruntime folds the casts
at load time). The weights are rounded to float16 once: outputs differ from the float32 graph by that
rounding only (measured for the shipped stock graph in models/shapes-stock/README.md). Used for the
committed stock graph of the default model, where file size matters more than the last bits.
"""
from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def compact(model: onnx.ModelProto, min_elements: int) -> int:
    g = model.graph
    casts, kept, n = [], [], 0
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or arr.size < min_elements:
            kept.append(init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__to_fp32"))
        n += 1
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--min-elements", type=int, default=1024)
    a = ap.parse_args()
    m = onnx.load(a.src)
    n = compact(m, a.min_elements)
    onnx.checker.check_model(m)
    onnx.save(m, a.dst)
    print(f"{n} initializers stored as float16 -> {a.dst}")


if __name__ == "__main__":
    main()
