"""TVRefine under torch.export (default suite), torch.compile and ONNX (slow: minutes on 2 cores).

What works here (torch 2.14, CPU): ``torch.export.export`` with dynamic batch/height/width,
``torch.compile`` (inductor, needs a C++ compiler), and ``torch.onnx.export(dynamo=True)``
(checked with onnx's reference evaluator; onnxruntime is not installed).
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest
import torch
from torch.export import Dim

from stereo_tv.refine import TVRefine


def _head(**kwargs):
    torch.manual_seed(0)
    head = TVRefine(**kwargs).eval()
    with torch.no_grad():
        head.game.weight.uniform_(0.05, 0.3)
    return head


def _inputs(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (5 + 40 * torch.rand(b, 1, h, w, generator=g), torch.randn(b, 3, h, w, generator=g),
            torch.rand(b, 1, h, w, generator=g))


def _dynamic(names):
    b, h, w = Dim("B", min=1, max=64), Dim("H", min=4, max=4096), Dim("W", min=4, max=4096)
    return {n: {0: b, 2: h, 3: w} for n in names}


def test_torch_export_with_dynamic_shapes_matches_eager():
    head = _head(iters=1, guided=True)
    d, im, _ = _inputs(2, 9, 7)          # batch 2: an example of size 1 would specialise B
    ep = torch.export.export(head, (d,), {"image": im},
                             dynamic_shapes=_dynamic(["disp", "image"]))
    d2, im2, _ = _inputs(3, 13, 11, seed=1)
    with torch.no_grad():
        assert torch.allclose(ep.module()(d2, image=im2), head(d2, image=im2), atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("clang++") is None,
                    reason="torch.compile (inductor) needs a C++ compiler, none found")
def test_torch_compile_matches_eager():
    head = _head(iters=2, guided=True, confidence=True)
    d, im, c = _inputs(1, 9, 7)
    compiled = torch.compile(head)
    with torch.no_grad():
        assert torch.allclose(compiled(d, image=im, confidence=c),
                              head(d, image=im, confidence=c), atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None
                    or importlib.util.find_spec("onnx") is None,
                    reason="ONNX export needs the onnx and onnxscript packages")
def test_onnx_export_runs_in_the_reference_evaluator():
    from onnx.reference import ReferenceEvaluator

    head = _head(iters=2, guided=True, confidence=True)
    d, im, c = _inputs(2, 9, 7)
    program = torch.onnx.export(head, (d,), kwargs={"image": im, "confidence": c}, dynamo=True,
                                dynamic_shapes=_dynamic(["disp", "image", "confidence"]))
    d2, im2, c2 = _inputs(3, 13, 11, seed=1)
    feeds = {"disp": d2.numpy(), "image": im2.numpy(), "confidence": c2.numpy()}
    out = ReferenceEvaluator(program.model_proto).run(None, feeds)[0]
    with torch.no_grad():
        ref = head(d2, image=im2, confidence=c2).numpy()
    assert abs(out - ref).max() < 1e-4
