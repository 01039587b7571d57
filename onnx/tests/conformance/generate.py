#!/usr/bin/env python3
"""Generate the ONNX conformance cases of the differentiable executor.

Run from the repository root with a Python that has ``onnx==1.23.2`` and numpy::

    python3 onnx/tests/conformance/generate.py            # all cases
    python3 onnx/tests/conformance/generate.py -k resize   # only cases whose name contains "resize"
                                                           # (writes nothing, prints a summary)

For every case it writes ``cases/<name>.onnx`` (a small float32 model) and one entry of
``cases.json`` holding the inputs, the forward outputs (the ONNX reference evaluator run on the
float32 model) and the input gradients of ``sum_k w_k * y_k`` for seeded random cotangents ``w``
(central finite differences in float64 on a float64 twin of the model). It also rewrites the
case table of ``README.md`` between its ``cases:begin`` and ``cases:end`` markers. Everything is
seeded, so a rerun gives byte-identical files. See README.md for what a case contains.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper as nph
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "cases")
MANIFEST = os.path.join(HERE, "cases.json")
README = os.path.join(HERE, "README.md")
ONNX_VERSION = "1.23.2"

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

NP_TO_TP = {
    np.dtype(np.float32): TP.FLOAT,
    np.dtype(np.float64): TP.DOUBLE,
    np.dtype(np.float16): TP.FLOAT16,
    np.dtype(np.int64): TP.INT64,
    np.dtype(np.int32): TP.INT32,
    np.dtype(np.bool_): TP.BOOL,
}
DTYPE_NAME = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.float16): "float16",
    np.dtype(np.int64): "int64",
    np.dtype(np.int32): "int32",
    np.dtype(np.bool_): "bool",
}

# Finite differences: step h = H_REL * max(1, |x|); the estimate with h/2 must agree to FD_TOL.
H_REL = 1e-6
FD_TOL = 1e-6
# float32 forward vs the float64 twin / a numpy cross-check: |a - b| <= ATOL + RTOL * max|b|.
RTOL = 2e-5
ATOL = 1e-5


# ---------------------------------------------------------------------------------------------
# Building a case's graph (once in float32 for the model file, once in float64 for gradients)
# ---------------------------------------------------------------------------------------------


class G:
    """A graph under construction, in float type ``dt`` (float32 model or its float64 twin).

    Random data comes from ``self.rng`` (seeded per case), and every float array is rounded to
    float32 first, so the float64 twin is evaluated at exactly the float32 model's point.
    """

    def __init__(self, dt, seed: int):
        self.dt = np.dtype(dt)
        self.ft = NP_TO_TP[self.dt]  # the ONNX float type of this build (for Cast `to`, etc.)
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inputs: list = []  # (name, array, differentiable)
        self.inits: list = []
        self.outputs: list[str] = []
        self._k = 0

    # -- values ---------------------------------------------------------------------------
    def f(self, a) -> np.ndarray:
        """A float array in this build's float type, rounded through float32."""
        return np.asarray(a, dtype=np.float64).astype(np.float32).astype(self.dt)

    def input(self, name: str, arr, diff: bool = True) -> str:
        """A graph input. Float arrays follow the build's float type; others keep theirs."""
        arr = np.asarray(arr)
        if arr.dtype.kind == "f":
            arr = self.f(arr)
        self.inputs.append((name, arr, diff and arr.dtype.kind == "f"))
        return name

    def init(self, name: str, arr, dtype=None) -> str:
        """An initializer. Floats follow the build's float type unless ``dtype`` pins one
        (e.g. Resize scales, which are always float32); integers default to int64."""
        if dtype is not None:
            arr = np.asarray(arr, dtype=dtype)
        else:
            arr = np.asarray(arr)
            if arr.dtype.kind == "f":
                arr = self.f(arr)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
        self.inits.append(nph.from_array(arr, name))
        return name

    def node(self, op: str, inputs, outputs=None, **attrs):
        if outputs is None:
            outputs = ["y"]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self.nodes.append(oh.make_node(op, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def output(self, *names: str):
        self.outputs.extend(names)

    def tensor_attr(self, values, dt=None):
        """A one-element-or-more tensor attribute (ConstantOfShape's ``value``)."""
        dt = self.ft if dt is None else dt
        arr = np.asarray(values, dtype=np.float64).ravel()
        return oh.make_tensor("value", dt, [arr.size], arr.tolist())

    # -- random data ----------------------------------------------------------------------
    def randn(self, *shape, scale: float = 1.0) -> np.ndarray:
        return self.rng.standard_normal(shape) * scale

    def unif(self, lo: float, hi: float, *shape) -> np.ndarray:
        return self.rng.uniform(lo, hi, size=shape)

    def away(self, *shape, kinks=(0.0,), gap: float = 0.05, lo: float = -2.0, hi: float = 2.0):
        """Uniform values in [lo, hi] at least ``gap`` from every kink."""
        a = self.rng.uniform(lo, hi, size=shape)
        kinks = np.asarray(kinks, dtype=np.float64)
        if kinks.size == 0:
            return a
        for _ in range(1000):
            bad = np.abs(a[..., None] - kinks).min(axis=-1) < gap
            if not bad.any():
                return a
            a[bad] = self.rng.uniform(lo, hi, size=int(bad.sum()))
        raise RuntimeError("away(): cannot place values")

    def away_int(self, *shape, gap: float = 0.05, lo: float = -3.0, hi: float = 3.0):
        """Values at least ``gap`` from every integer (kinks of Floor/Ceil)."""
        return self.away(*shape, kinks=np.arange(math.floor(lo) - 1, math.ceil(hi) + 2), gap=gap, lo=lo, hi=hi)

    def distinct(self, *shape, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
        """Values in [lo, hi] pairwise at least 0.7*(hi-lo)/n apart (no max/min ties)."""
        n = int(np.prod(shape)) if shape else 1
        slot = (self.rng.permutation(n) + 0.5 + self.rng.uniform(-0.15, 0.15, n)) / n
        return (lo + (hi - lo) * slot).reshape(shape)


def ir_version_for(opset: int, has_initializers: bool) -> int:
    """The lowest IR version that knows ``opset`` (onnx.helper.VERSION_TABLE), raised to 4 when the
    graph has initializers (IR < 4 requires every initializer to be a graph input as well)."""
    ir = None
    for row in onnx.helper.VERSION_TABLE:
        if row[2] >= opset:
            ir = row[1]
            break
    if ir is None:
        raise ValueError(f"opset {opset} is newer than onnx {onnx.__version__} knows")
    return max(ir, 4) if has_initializers else ir


def make_model(g: G, name: str, opset: int, out_types=None) -> onnx.ModelProto:
    inputs = [oh.make_tensor_value_info(n, NP_TO_TP[a.dtype], list(a.shape)) for n, a, _ in g.inputs]
    if out_types is None:
        outputs = [onnx.ValueInfoProto(name=n) for n in g.outputs]
    else:
        outputs = [oh.make_tensor_value_info(n, t, s) for n, (t, s) in zip(g.outputs, out_types)]
    graph = oh.make_graph(g.nodes, name, inputs, outputs, initializer=g.inits)
    model = oh.make_model(
        graph,
        opset_imports=[oh.make_opsetid("", opset)],
        ir_version=ir_version_for(opset, bool(g.inits)),
        producer_name="netlens-conformance",
    )
    return model


class ErfF64(OpRun):
    """Erf at the input's precision. The reference Erf rounds through float32
    (``np.vectorize(erf, otypes=["f"])``), too coarse for finite differences of the float64 twin."""

    op_domain = ""

    def _run(self, x):
        return (np.vectorize(math.erf, otypes=[x.dtype])(x),)


ErfF64.__name__ = "Erf"
F64_OPS = [ErfF64]


class Evaluator64(ReferenceEvaluator):
    """The reference evaluator with F64_OPS, also inside expanded function bodies (Gelu's Erf)."""

    def __init__(self, proto, *args, **kwargs):
        if kwargs.get("new_ops") is None and len(args) < 4:
            kwargs["new_ops"] = F64_OPS
        super().__init__(proto, *args, **kwargs)


def session(model: onnx.ModelProto, f64: bool = False) -> ReferenceEvaluator:
    return Evaluator64(model) if f64 else ReferenceEvaluator(model)


def evaluate(model: onnx.ModelProto, g: G) -> list[np.ndarray]:
    sess = session(model, g.dt == np.float64)
    feeds = {n: a for n, a, _ in g.inputs}
    return [np.asarray(o) for o in sess.run(None, feeds)]


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    op: str
    opset: int
    build: Callable[[G], None]
    note: str = ""
    forward_only: bool = False
    # numpy cross-check: f(inputs: dict name -> float64 array) -> list of outputs.
    check: Callable | None = None
    # An equivalent graph (same inputs and outputs) whose reference-evaluator result replaces the
    # case model's, for the ops where the reference evaluator is wrong or cannot run: (builder,
    # opset, why). The case's .onnx file is still built by ``build``.
    oracle: tuple | None = None
    # Names of differentiable graph inputs to leave out of "differentiable" (e.g. Where's
    # condition source, whose gradient is identically zero).
    no_grad: tuple = ()
    skip: str = ""  # non-empty: not generated, listed in the README with this reason
    # Non-empty: the model is known not to pass check_model(full_check=True) for this reason (a case
    # the brief asks for that ONNX's checker rejects); the check is still run and its message noted.
    checker_exception: str = ""
    fixed_data: bool = False  # data does not depend on the seed: no retry with other data
    variant: str = ""
    retries: list = field(default_factory=list)


CASES: list[Case] = []


def add(prefix: str, op: str, opset: int, variant: str, build, **kw) -> Case:
    c = Case(name=f"{prefix}_opset{opset}_{variant}", op=op, opset=opset, build=build, variant=variant, **kw)
    if any(x.name == c.name for x in CASES):
        raise ValueError(f"duplicate case {c.name}")
    CASES.append(c)
    return c


def unary(op, x_fn, attrs=None):
    """A one-node case builder: y = op(x, **attrs), x from ``x_fn(g)``."""
    attrs = attrs or {}

    def build(g: G):
        g.input("x", x_fn(g))
        g.node(op, ["x"], **attrs)
        g.output("y")

    return build


# Numpy references used as cross-checks (all in float64) -----------------------------------------


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_softmax_flat(x, axis, log=False, hard=False):
    """Opset < 13 Softmax/LogSoftmax/Hardmax: flatten to [prod(d[:axis]), prod(d[axis:])]."""
    axis = axis % x.ndim
    x2 = x.reshape(int(np.prod(x.shape[:axis])), -1)
    if hard:
        y = np.zeros_like(x2)
        y[np.arange(x2.shape[0]), x2.argmax(axis=1)] = 1
    else:
        y = np_softmax(x2, 1)
        if log:
            y = np.log(y)
    return y.reshape(x.shape)


def np_pool(
    x, kind, kernel, strides=None, pads=None, dilations=None, ceil_mode=0, count_include_pad=0, auto_pad="NOTSET"
):
    """Max/average pooling over the trailing len(kernel) axes, PyTorch/ONNX semantics."""
    nd = len(kernel)
    sp = x.shape[2:]
    strides = strides or [1] * nd
    dilations = dilations or [1] * nd
    pads = list(pads or [0] * (2 * nd))
    out = []
    for i in range(nd):
        ek = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-sp[i] // strides[i])
            tot = max(0, (o - 1) * strides[i] + ek - sp[i])
            small, big = tot // 2, tot - tot // 2
            pads[i], pads[nd + i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        elif auto_pad == "VALID":
            o = (sp[i] - ek) // strides[i] + 1
            pads[i] = pads[nd + i] = 0
        else:
            num = sp[i] + pads[i] + pads[nd + i] - ek
            o = (-(-num // strides[i]) if ceil_mode else num // strides[i]) + 1
            if ceil_mode and (o - 1) * strides[i] >= sp[i] + pads[i]:
                o -= 1  # a window may not start in the end padding
        out.append(o)
    y = np.zeros(x.shape[:2] + tuple(out))
    for idx in itertools.product(*[range(o) for o in out]):
        pos_lists = []
        for i in range(nd):
            start = idx[i] * strides[i] - pads[i]
            pos = [start + k * dilations[i] for k in range(kernel[i])]
            pos_lists.append(pos)
        valid = [[p for p in pos if 0 <= p < sp[i]] for i, pos in enumerate(pos_lists)]
        padded = [[p for p in pos if -pads[i] <= p < sp[i] + pads[nd + i]] for i, pos in enumerate(pos_lists)]
        win = x[(slice(None), slice(None)) + tuple(np.ix_(*valid))] if nd > 1 else x[:, :, valid[0]]
        win = win.reshape(x.shape[0], x.shape[1], -1)
        if kind == "max":
            y[(slice(None), slice(None)) + idx] = win.max(axis=-1)
        else:
            cnt = int(np.prod([len(p) for p in padded])) if count_include_pad else win.shape[-1]
            y[(slice(None), slice(None)) + idx] = win.sum(axis=-1) / cnt
    return y


def conv_pads(sp, kernel, strides, dilations, pads, auto_pad):
    nd = len(kernel)
    pads = list(pads or [0] * (2 * nd))
    for i in range(nd):
        ek = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-sp[i] // strides[i])
            tot = max(0, (o - 1) * strides[i] + ek - sp[i])
            small, big = tot // 2, tot - tot // 2
            pads[i], pads[nd + i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        elif auto_pad == "VALID":
            pads[i] = pads[nd + i] = 0
    return pads


def np_conv(x, w, b=None, strides=None, pads=None, dilations=None, group=1, auto_pad="NOTSET"):
    nd = x.ndim - 2
    kernel = w.shape[2:]
    strides = strides or [1] * nd
    dilations = dilations or [1] * nd
    pads = conv_pads(x.shape[2:], kernel, strides, dilations, pads, auto_pad)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    out = [(xp.shape[2 + i] - ((kernel[i] - 1) * dilations[i] + 1)) // strides[i] + 1 for i in range(nd)]
    N, C = x.shape[:2]
    M = w.shape[0]
    y = np.zeros((N, M) + tuple(out))
    cg, mg = C // group, M // group
    for kidx in itertools.product(*[range(k) for k in kernel]):
        sl = tuple(
            slice(kidx[i] * dilations[i], kidx[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
            for i in range(nd)
        )
        patch = xp[(slice(None), slice(None)) + sl]
        for gi in range(group):
            wk = w[(slice(gi * mg, (gi + 1) * mg), slice(None)) + kidx]  # [mg, cg]
            y[:, gi * mg : (gi + 1) * mg] += np.einsum("nc...,mc->nm...", patch[:, gi * cg : (gi + 1) * cg], wk)
    if b is not None:
        y += b.reshape((1, M) + (1,) * nd)
    return y


def np_conv_transpose(
    x,
    w,
    b=None,
    strides=None,
    pads=None,
    dilations=None,
    group=1,
    output_padding=None,
    output_shape=None,
    auto_pad="NOTSET",
):
    nd = x.ndim - 2
    kernel = w.shape[2:]
    sp = x.shape[2:]
    strides = strides or [1] * nd
    dilations = dilations or [1] * nd
    output_padding = output_padding or [0] * nd
    pads = list(pads or [0] * (2 * nd))
    full = [(sp[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 + output_padding[i] for i in range(nd)]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = output_shape if output_shape is not None else [sp[i] * strides[i] for i in range(nd)]
        for i in range(nd):
            tot = full[i] - target[i]
            if auto_pad == "SAME_UPPER":
                pads[i], pads[nd + i] = tot // 2, tot - tot // 2
            else:
                pads[i], pads[nd + i] = tot - tot // 2, tot // 2
    N, C = x.shape[:2]
    mg = w.shape[1]
    M = mg * group
    cg = C // group
    yfull = np.zeros((N, M) + tuple(full))
    for kidx in itertools.product(*[range(k) for k in kernel]):
        sl = tuple(
            slice(kidx[i] * dilations[i], kidx[i] * dilations[i] + (sp[i] - 1) * strides[i] + 1, strides[i])
            for i in range(nd)
        )
        for gi in range(group):
            wk = w[(slice(gi * cg, (gi + 1) * cg), slice(None)) + kidx]  # [cg, mg]
            yfull[(slice(None), slice(gi * mg, (gi + 1) * mg)) + sl] += np.einsum(
                "nc...,cm->nm...", x[:, gi * cg : (gi + 1) * cg], wk
            )
    crop = tuple(slice(pads[i], full[i] - pads[nd + i]) for i in range(nd))
    y = yfull[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.reshape((1, M) + (1,) * nd)
    return y


def _cubic(t, a):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def resize_matrix(
    n,
    m,
    scale,
    ctm,
    mode,
    nearest_mode="round_prefer_floor",
    roi=(0.0, 1.0),
    cubic_a=-0.75,
    exclude_outside=0,
    antialias=0,
):
    """(m x n) interpolation matrix of one axis and the mask of extrapolated output positions,
    written from the Resize spec text (independently of onnx.reference)."""
    W = np.zeros((m, n))
    extrap = np.zeros(m, dtype=bool)
    for x in range(m):
        if ctm == "half_pixel":
            xo = (x + 0.5) / scale - 0.5
        elif ctm == "half_pixel_symmetric":
            adj = m / (scale * n)
            xo = (n / 2) * (1 - adj) + (x + 0.5) / scale - 0.5
        elif ctm == "pytorch_half_pixel":
            xo = (x + 0.5) / scale - 0.5 if m > 1 else 0.0
        elif ctm == "align_corners":
            xo = x * (n - 1) / (m - 1) if m > 1 else 0.0
        elif ctm == "asymmetric":
            xo = x / scale
        elif ctm == "tf_half_pixel_for_nn":
            xo = (x + 0.5) / scale
        elif ctm == "tf_crop_and_resize":
            s, e = roi
            xo = s * (n - 1) + x * (e - s) * (n - 1) / (m - 1) if m > 1 else 0.5 * (s + e) * (n - 1)
            if xo < 0 or xo > n - 1:
                extrap[x] = True
                continue
        else:
            raise ValueError(ctm)
        if mode == "nearest":
            i = {
                "round_prefer_floor": math.ceil(xo - 0.5),
                "round_prefer_ceil": math.floor(xo + 0.5),
                "floor": math.floor(xo),
                "ceil": math.ceil(xo),
            }[nearest_mode]
            W[x, min(max(i, 0), n - 1)] += 1
            continue
        s_eff = min(scale, 1.0) if antialias else 1.0
        support = (1.0 if mode == "linear" else 2.0) / s_eff
        taps = range(math.floor(xo - support) - 1, math.ceil(xo + support) + 2)
        wts = []
        for i in taps:
            t = (i - xo) * s_eff
            wv = max(0.0, 1 - abs(t)) if mode == "linear" else _cubic(t, cubic_a)
            if exclude_outside and not 0 <= i < n:
                wv = 0.0
            wts.append((i, wv))
        tot = sum(v for _, v in wts)
        if antialias or exclude_outside:
            wts = [(i, v / tot) for i, v in wts]
        for i, v in wts:
            W[x, min(max(i, 0), n - 1)] += v
    return W, extrap


def np_resize(x, out_shape, scales, ctm="half_pixel", mode="nearest", roi=None, extrapolation_value=0.0, **kw):
    y = x
    mask = np.zeros(out_shape, dtype=bool)
    for ax in range(x.ndim):
        n, m = x.shape[ax], out_shape[ax]
        r = (roi[ax], roi[x.ndim + ax]) if roi is not None else (0.0, 1.0)
        if n == m and scales[ax] == 1.0 and r == (0.0, 1.0):
            continue
        W, ex = resize_matrix(n, m, scales[ax], ctm, mode, roi=r, **kw)
        y = np.moveaxis(np.tensordot(W, np.moveaxis(y, ax, 0), axes=1), 0, ax)
        shp = [1] * x.ndim
        shp[ax] = m
        mask = mask | ex.reshape(shp)
    return np.where(mask, extrapolation_value, y)


def np_lrn(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    C = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(C):
        lo = max(0, c - (size - 1) // 2)
        hi = min(C - 1, c + int(math.ceil((size - 1) / 2)))
        sq[:, c] = (x[:, lo : hi + 1] ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


def np_group_norm(x, G_, scale, bias, eps, per_group):
    N, C = x.shape[:2]
    xg = x.reshape(N, G_, -1)
    xn = (xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)
    xn = xn.reshape(x.shape)
    shp = (1, C) + (1,) * (x.ndim - 2)
    if per_group:
        scale = np.repeat(scale, C // G_)
        bias = np.repeat(bias, C // G_)
    return xn * scale.reshape(shp) + bias.reshape(shp)


def np_layer_norm(x, axis, scale, bias, eps):
    axes = tuple(range(axis % x.ndim, x.ndim))
    xn = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    y = xn * scale
    return y + bias if bias is not None else y


def np_reduce(op, x, axes, keepdims):
    ax = None if axes is None else tuple(axes)
    f = {
        "ReduceSum": lambda a: a.sum(axis=ax, keepdims=keepdims),
        "ReduceMean": lambda a: a.mean(axis=ax, keepdims=keepdims),
        "ReduceMax": lambda a: a.max(axis=ax, keepdims=keepdims),
        "ReduceMin": lambda a: a.min(axis=ax, keepdims=keepdims),
        "ReduceProd": lambda a: a.prod(axis=ax, keepdims=keepdims),
        "ReduceL1": lambda a: np.abs(a).sum(axis=ax, keepdims=keepdims),
        "ReduceL2": lambda a: np.sqrt((a * a).sum(axis=ax, keepdims=keepdims)),
        "ReduceSumSquare": lambda a: (a * a).sum(axis=ax, keepdims=keepdims),
        "ReduceLogSumExp": lambda a: np.log(np.exp(a).sum(axis=ax, keepdims=keepdims)),
    }[op]
    return f(x)


# ---------------------------------------------------------------------------------------------
# Running a case: forward values, numpy cross-check, finite-difference gradients
# ---------------------------------------------------------------------------------------------


class CaseError(Exception):
    pass


class Kink(Exception):
    """The h and h/2 central differences disagree: an input sits at (or near) a kink."""


class Skip(Exception):
    pass


def close(a, b, rtol=RTOL, atol=ATOL) -> bool:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    if a.size == 0:
        return True
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return bool(np.all(np.abs(a - b) <= atol + rtol * max(1.0, float(np.abs(b).max()))))


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _feeds(g: G) -> dict:
    return {n: a for n, a, _ in g.inputs}


def _same_inputs(a: G, b: G, what: str):
    if [(n, x.dtype, x.shape) for n, x, _ in a.inputs] != [(n, x.dtype, x.shape) for n, x, _ in b.inputs] or any(
        not np.array_equal(x, y) for (_, x, _), (_, y, _) in zip(a.inputs, b.inputs)
    ):
        raise CaseError(f"{what} has other inputs than the case model")


@dataclass
class Result:
    case: Case
    model: onnx.ModelProto
    inputs: list  # (name, array)
    outputs: list  # (name, array)
    diff: list
    cotangents: list  # (name, array)
    gradients: list  # (name, array)
    note: str
    oracle_status: str = ""


def compute(c: Case, seed: int) -> Result:
    cw = zlib.crc32((c.name + "#cotangent").encode())
    g32 = G(np.float32, seed)
    c.build(g32)
    prov = make_model(g32, c.name, c.opset)
    ref_err = None
    try:
        ref = evaluate(prov, g32)
    except Exception as e:  # noqa: BLE001 - any evaluator failure
        ref, ref_err = None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    oracle_status = ""
    oracle = c.oracle
    if oracle is not None:
        obuild, oopset, why = oracle
        if oopset == "numpy":  # a numpy function of the float64 inputs
            f64 = {n: (a.astype(np.float64) if a.dtype.kind == "f" else a) for n, a in _feeds(g32).items()}
            base = [np.asarray(v) for v in _as_list(obuild(f64))]
            base = [v.astype(np.float32) if v.dtype.kind == "f" else v for v in base]
        else:
            og32 = G(np.float32, seed)
            obuild(og32)
            _same_inputs(g32, og32, "the oracle")
            base = evaluate(make_model(og32, c.name + "_oracle", oopset), og32)
        if ref_err is not None:
            oracle_status = f"reference evaluator fails ({ref_err}); values from {why}"
        elif len(ref) == len(base) and all(close(r, b) for r, b in zip(ref, base)):
            oracle, base = None, ref  # the evaluator is right here: use its own values
        else:
            oracle_status = f"reference evaluator DISAGREES; values from {why}"
    else:
        if ref_err is not None:
            raise Skip(f"reference evaluator cannot run it ({ref_err})")
        base = ref
    if len(base) != len(g32.outputs):
        raise CaseError("output count mismatch")
    out_types = [(NP_TO_TP[o.dtype], list(o.shape)) for o in base]
    model = make_model(g32, c.name, c.opset, out_types)
    checker_note = ""
    try:
        onnx.checker.check_model(model, full_check=True)
        if c.checker_exception:
            raise CaseError("checker_exception set but the model passes check_model(full_check=True)")
    except CaseError:
        raise
    except Exception as e:  # noqa: BLE001
        if not c.checker_exception:
            raise CaseError(f"checker: {e}") from e
        msg = str(e).strip().splitlines()[0]
        try:
            onnx.checker.check_model(model)
            checker_note = f"passes check_model but not full_check ({msg})"
        except Exception as e2:  # noqa: BLE001
            checker_note = f"fails check_model ({str(e2).strip().splitlines()[0]})"
        checker_note += f": {c.checker_exception}"

    feeds32 = _feeds(g32)
    if c.check is not None:
        f64 = {n: (a.astype(np.float64) if a.dtype.kind == "f" else a) for n, a in feeds32.items()}
        exp = _as_list(c.check(f64))
        for name, got, want in zip(g32.outputs, base, exp):
            want = np.asarray(want)
            if got.dtype.kind == "f":
                want = want.astype(np.float64)
            if not close(got, want, rtol=1e-4, atol=1e-5):
                raise CaseError(
                    f"numpy cross-check disagrees on {name}: got {np.asarray(got).ravel()[:8]} shape {got.shape}, "
                    f"numpy {want.ravel()[:8]} shape {want.shape}"
                )

    diff = [] if c.forward_only else [n for n, _, d in g32.inputs if d and n not in c.no_grad]
    float_idx = [i for i, o in enumerate(base) if o.dtype.kind == "f"]
    rng_w = np.random.default_rng(cw)
    ws = {i: rng_w.standard_normal(base[i].shape).astype(np.float32) for i in float_idx}
    grads = []
    if diff:
        g64 = G(np.float64, seed)
        numpy_oracle = oracle is not None and oracle[1] == "numpy"
        (oracle[0] if oracle is not None and not numpy_oracle else c.build)(g64)
        _same_inputs_values(g32, g64)
        feeds64 = _feeds(g64)
        if numpy_oracle:

            def run64(fd):
                return [np.asarray(v, dtype=np.float64) for v in _as_list(oracle[0](fd))]
        else:
            m64 = make_model(g64, c.name + "_f64", oracle[1] if oracle is not None else c.opset)
            sess = session(m64, f64=True)

            def run64(fd):
                return [np.asarray(o) for o in sess.run(None, fd)]

        y64 = run64(feeds64)
        for i in float_idx:
            if y64[i].dtype != np.float64:
                raise CaseError(f"float64 twin gives {y64[i].dtype} output")
            if not close(base[i], y64[i]):
                raise CaseError(f"float64 twin disagrees with the float32 model on output {i}")
        wl = {i: ws[i].astype(np.float64).ravel() for i in float_idx}

        def loss(fd):
            outs = run64(fd)
            return math.fsum(float(np.dot(wl[i], np.asarray(outs[i], dtype=np.float64).ravel())) for i in float_idx)

        for name in diff:
            x = feeds64[name]
            gr = np.zeros(x.shape)
            for k in range(x.size):
                xk = float(x.flat[k])
                est = []
                for h in (H_REL * max(1.0, abs(xk)), 0.5 * H_REL * max(1.0, abs(xk))):
                    xp = x.copy()
                    xp.flat[k] = xk + h
                    xm = x.copy()
                    xm.flat[k] = xk - h
                    fp = loss({**feeds64, name: xp})
                    fm = loss({**feeds64, name: xm})
                    est.append((fp - fm) / (float(xp.flat[k]) - float(xm.flat[k])))
                if abs(est[0] - est[1]) > FD_TOL * max(1.0, abs(est[0]), abs(est[1])):
                    raise Kink(f"{name}[{k}] = {xk:.6g}: h gives {est[0]:.9g}, h/2 gives {est[1]:.9g}")
                gr.flat[k] = est[0]
            grads.append((name, gr))
        if c.check is not None:
            _cross_check_gradients(c, feeds64, float_idx, wl, grads)
    note = c.note
    if checker_note:
        note = (note + " " if note else "") + f"[checker: {checker_note}]"
    if oracle_status:
        note = (note + " " if note else "") + f"[{oracle_status}]"
    return Result(
        case=c,
        model=model,
        inputs=[(n, a) for n, a, _ in g32.inputs],
        outputs=list(zip(g32.outputs, base)),
        diff=diff,
        cotangents=[(g32.outputs[i], ws[i]) for i in float_idx] if diff else [],
        gradients=grads,
        note=note,
        oracle_status=oracle_status,
    )


def _cross_check_gradients(c: Case, feeds64: dict, float_idx: list, wl: dict, grads: list):
    """The same central differences on the case's numpy cross-check: an independent implementation
    of the op must give the same gradients (a guard against a wrong float64 twin or oracle)."""

    def loss(fd):
        ys = _as_list(c.check(fd))
        return math.fsum(float(np.dot(wl[i], np.asarray(ys[i], dtype=np.float64).ravel())) for i in float_idx)

    for name, gr in grads:
        x = feeds64[name]
        ref = np.zeros(x.shape)
        for k in range(x.size):
            h = H_REL * max(1.0, abs(float(x.flat[k])))
            xp = x.copy()
            xp.flat[k] += h
            xm = x.copy()
            xm.flat[k] -= h
            ref.flat[k] = (loss({**feeds64, name: xp}) - loss({**feeds64, name: xm})) / (
                float(xp.flat[k]) - float(xm.flat[k])
            )
        err = float(np.abs(ref - gr).max()) / max(1.0, float(np.abs(gr).max()))
        if err > 1e-5:
            raise CaseError(f"gradient of {name} disagrees with the numpy cross-check (relative error {err:.2e})")


def _same_inputs_values(g32: G, g64: G):
    a = [(n, x.astype(np.float64) if x.dtype.kind == "f" else x) for n, x, _ in g32.inputs]
    b = [(n, x) for n, x, _ in g64.inputs]
    if [n for n, _ in a] != [n for n, _ in b] or any(not np.array_equal(x, y) for (_, x), (_, y) in zip(a, b)):
        raise CaseError("the float64 twin has other inputs than the float32 model")


def run_case(c: Case) -> Result:
    seed0 = zlib.crc32(c.name.encode())
    tries = 1 if c.fixed_data else 8
    last = None
    for t in range(tries):
        try:
            return compute(c, seed0 + 7919 * t)
        except Kink as e:
            last = e
            c.retries.append(str(e))
            print(f"    {c.name}: kink ({e}); new data", flush=True)
    raise CaseError(f"no kink-free data after {tries} tries: {last}")


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def fmt_f32(v) -> str:
    s = str(np.float32(v))  # shortest text that reads back as the same float32
    if s in ("nan", "inf", "-inf"):
        raise CaseError(f"non-finite value {s}")
    return s


def fmt_f64(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        raise CaseError("non-finite gradient")
    if abs(v) < 1e-9:  # finite-difference noise around an exact zero
        return "0"
    return "%.9g" % v


def fmt_data(a: np.ndarray, grad: bool = False) -> str:
    a = np.asarray(a)
    if grad:
        items = [fmt_f64(v) for v in a.ravel()]
    elif a.dtype.kind == "f":
        items = [fmt_f32(v) for v in a.ravel()]
    elif a.dtype.kind == "b":
        items = ["1" if v else "0" for v in a.ravel()]
    else:
        items = [str(int(v)) for v in a.ravel()]
    return "[" + ",".join(items) + "]"


def tensor_json(name: str, a: np.ndarray) -> str:
    a = np.asarray(a)
    return (
        '{"name":'
        + json.dumps(name)
        + ',"shape":'
        + json.dumps(list(a.shape), separators=(",", ":"))
        + ',"dtype":'
        + json.dumps(DTYPE_NAME[a.dtype])
        + ',"data":'
        + fmt_data(a)
        + "}"
    )


def entry_json(r: Result) -> str:
    c = r.case
    parts = [
        '"name":' + json.dumps(c.name),
        '"op":' + json.dumps(c.op),
        '"opset":' + str(c.opset),
        '"model":' + json.dumps(f"cases/{c.name}.onnx"),
        '"inputs":[' + ",".join(tensor_json(n, a) for n, a in r.inputs) + "]",
        '"outputs":[' + ",".join(tensor_json(n, a) for n, a in r.outputs) + "]",
        '"differentiable":' + json.dumps(r.diff),
        '"cotangent":['
        + ",".join('{"name":' + json.dumps(n) + ',"data":' + fmt_data(w) + "}" for n, w in r.cotangents)
        + "]",
        '"gradients":['
        + ",".join('{"name":' + json.dumps(n) + ',"data":' + fmt_data(gv, grad=True) + "}" for n, gv in r.gradients)
        + "]",
        '"note":' + json.dumps(r.note),
    ]
    return "{" + ",".join(parts) + "}"


def readme_table(results: dict, cases: list) -> str:
    rows = ["| Op | Opset | Cases (variant) |", "| --- | --- | --- |"]
    groups: dict = {}
    order = []
    for c in cases:
        key = (c.op, c.opset)
        if key not in groups:
            groups[key] = []
            order.append(key)
        if c.skip or c.name not in results:
            groups[key].append(f"`{c.variant}` (skipped: {c.skip or 'failed'})")
        else:
            mark = " †" if results[c.name].oracle_status else ""
            fo = " (forward only)" if not results[c.name].diff else ""
            groups[key].append(f"`{c.variant}`{mark}{fo}")
    for op, opset in sorted(order, key=lambda k: (k[0].lower(), k[1])):
        rows.append(f"| {op} | {opset} | " + ", ".join(groups[(op, opset)]) + " |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default=None, help="only cases whose name contains this (dry run: writes nothing)")
    args = ap.parse_args(argv)
    if onnx.__version__ != ONNX_VERSION:
        print(f"warning: onnx {onnx.__version__}, the cases are made with onnx=={ONNX_VERSION}", file=sys.stderr)
    np.seterr(all="ignore")
    define_cases()
    cases = [c for c in CASES if args.k is None or args.k in c.name]
    results: dict = {}
    failed = []

    for c in cases:
        if c.skip:
            print(f"  SKIP {c.name}: {c.skip}", flush=True)
            continue
        t0 = time.time()
        try:
            r = run_case(c)
        except Skip as e:
            c.skip = str(e)
            print(f"  SKIP {c.name}: {e}", flush=True)
            continue
        except Exception as e:  # noqa: BLE001 - report every broken case, not just the first
            e = f"{type(e).__name__}: {e}" if not isinstance(e, CaseError) else str(e)
            failed.append((c.name, e))
            print(f"  FAIL {c.name}: {e}", flush=True)
            continue
        results[c.name] = r
        extra = f" [{r.oracle_status}]" if r.oracle_status else ""
        print(f"  ok   {c.name} ({time.time() - t0:.1f}s){extra}", flush=True)
    print(f"{len(results)} cases, {sum(1 for c in cases if c.skip)} skipped, {len(failed)} failed")
    if failed:
        for n, e in failed:
            print(f"FAILED {n}: {e}")
    if args.k is not None:
        return 1 if failed else 0
    if failed:
        print("not writing anything: fix the failed cases first", file=sys.stderr)
        return 1
    os.makedirs(CASES_DIR, exist_ok=True)
    keep = set()
    for c in cases:
        if c.name in results:
            path = os.path.join(CASES_DIR, c.name + ".onnx")
            keep.add(c.name + ".onnx")
            data = results[c.name].model.SerializeToString(deterministic=True)
            with open(path, "wb") as fh:
                fh.write(data)
    for fn in os.listdir(CASES_DIR):
        if fn.endswith(".onnx") and fn not in keep:
            os.remove(os.path.join(CASES_DIR, fn))
    with open(MANIFEST, "w") as fh:
        fh.write("[\n" + ",\n".join(entry_json(results[c.name]) for c in cases if c.name in results) + "\n]\n")
    if os.path.exists(README):
        text = open(README).read()
        b, e = "<!-- cases:begin -->", "<!-- cases:end -->"
        if b in text and e in text:
            head, rest = text.split(b, 1)
            _, tail = rest.split(e, 1)
            n_ok = len(results)
            n_skip = sum(1 for c in cases if c.skip)
            table = f"{n_ok} cases generated, {n_skip} skipped.\n\n" + readme_table(results, cases)
            with open(README, "w") as fh:
                fh.write(head + b + "\n" + table + "\n" + e + tail)
    return 0


# ---------------------------------------------------------------------------------------------
# The case definitions
# ---------------------------------------------------------------------------------------------


verf = np.vectorize(math.erf)


def cases_activations():
    S = (2, 3, 4)

    def away0(lo=-3.0, hi=3.0, kinks=(0.0,)):
        return lambda g: g.away(*S, kinks=kinks, lo=lo, hi=hi)

    def smooth(lo=-3.0, hi=3.0):
        return lambda g: g.unif(lo, hi, *S)

    def pos(lo=0.2, hi=3.0):
        return lambda g: g.unif(lo, hi, *S)

    def u(prefix, op, opsets, variant, xf, attrs=None, check=None, **kw):
        for o in opsets:
            add(prefix, op, o, variant, unary(op, xf, attrs), check=check, **kw)

    u("relu", "Relu", (6, 13, 14), "basic", away0(), check=lambda i: np.maximum(i["x"], 0))
    u(
        "leakyrelu",
        "LeakyRelu",
        (6, 16),
        "alpha0p1",
        away0(),
        {"alpha": 0.1},
        check=lambda i: np.where(i["x"] > 0, i["x"], 0.1 * i["x"]),
    )
    u(
        "leakyrelu",
        "LeakyRelu",
        (16,),
        "default_alpha",
        away0(),
        check=lambda i: np.where(i["x"] > 0, i["x"], 0.01 * i["x"]),
    )

    # PRelu: slope is an initializer, broadcast unidirectionally to x.
    def prelu(slope_shape, xshape=(2, 3, 3, 3)):
        def build(g: G):
            g.input("x", g.away(*xshape, lo=-3, hi=3))
            g.init("slope", g.unif(0.05, 0.6, *slope_shape))
            g.node("PRelu", ["x", "slope"])
            g.output("y")

        return build

    def add_prelu(o, variant, slope_shape, note):
        b = prelu(slope_shape)
        name = f"prelu_opset{o}_{variant}"

        def chk(i):
            g = G(np.float64, zlib.crc32(name.encode()))
            b(g)
            slope = nph.to_array(g.inits[0])
            return np.where(i["x"] > 0, i["x"], slope * i["x"])

        add("prelu", "PRelu", o, variant, b, check=chk, note=note, fixed_data=True)

    for o in (7, 9, 16):
        add_prelu(o, "slope_c11", (3, 1, 1), "slope [C,1,1] broadcast over [N,C,H,W]")
    for o in (9, 16):
        add_prelu(o, "scalar_slope", (), "slope is a 0-d tensor")
    add_prelu(6, "slope_1", (1,), "opset 6: slope of one element shared by all channels")

    u(
        "elu",
        "Elu",
        (6, 22),
        "alpha0p5",
        away0(),
        {"alpha": 0.5},
        check=lambda i: np.where(i["x"] > 0, i["x"], 0.5 * (np.exp(i["x"]) - 1)),
    )
    u("elu", "Elu", (6,), "default_alpha", smooth(), check=lambda i: np.where(i["x"] > 0, i["x"], np.exp(i["x"]) - 1))
    selu_a, selu_g = 1.67326319217681884765625, 1.05070102214813232421875
    u(
        "selu",
        "Selu",
        (6, 22),
        "default",
        away0(),
        check=lambda i: selu_g * np.where(i["x"] > 0, i["x"], selu_a * (np.exp(i["x"]) - 1)),
    )
    u(
        "selu",
        "Selu",
        (6,),
        "alpha1p5_gamma1p1",
        away0(),
        {"alpha": 1.5, "gamma": 1.1},
        check=lambda i: 1.1 * np.where(i["x"] > 0, i["x"], 1.5 * (np.exp(i["x"]) - 1)),
    )
    u(
        "celu",
        "Celu",
        (12,),
        "default",
        smooth(),
        check=lambda i: np.maximum(0, i["x"]) + np.minimum(0, np.exp(i["x"]) - 1),
    )
    u(
        "celu",
        "Celu",
        (12, 28),
        "alpha2",
        smooth(),
        {"alpha": 2.0},
        check=lambda i: np.maximum(0, i["x"]) + np.minimum(0, 2.0 * (np.exp(i["x"] / 2.0) - 1)),
    )
    u(
        "gelu",
        "Gelu",
        (20,),
        "approximate_none",
        smooth(),
        check=lambda i: 0.5 * i["x"] * (1 + verf(i["x"] / math.sqrt(2))),
    )
    u(
        "gelu",
        "Gelu",
        (20,),
        "approximate_tanh",
        smooth(),
        {"approximate": "tanh"},
        check=lambda i: 0.5 * i["x"] * (1 + np.tanh(math.sqrt(2 / math.pi) * (i["x"] + 0.044715 * i["x"] ** 3))),
    )
    u("erf", "Erf", (9, 13), "basic", smooth(-2.5, 2.5), check=lambda i: verf(i["x"]))
    u(
        "hardsigmoid",
        "HardSigmoid",
        (6,),
        "default",
        away0(-4, 4, kinks=(-2.5, 2.5)),
        check=lambda i: np.clip(0.2 * i["x"] + 0.5, 0, 1),
    )
    u(
        "hardsigmoid",
        "HardSigmoid",
        (6, 22),
        "alpha0p3_beta0p4",
        away0(-4, 4, kinks=(-0.4 / 0.3, 0.6 / 0.3)),
        {"alpha": 0.3, "beta": 0.4},
        check=lambda i: np.clip(0.3 * i["x"] + 0.4, 0, 1),
    )
    u(
        "hardswish",
        "HardSwish",
        (14, 22),
        "basic",
        away0(-5, 5, kinks=(-3.0, 3.0)),
        check=lambda i: i["x"] * np.clip(i["x"] / 6 + 0.5, 0, 1),
    )
    u("softplus", "Softplus", (1, 22), "basic", smooth(-4, 4), check=lambda i: np.log1p(np.exp(i["x"])))
    u("softsign", "Softsign", (1, 22), "basic", smooth(-4, 4), check=lambda i: i["x"] / (1 + np.abs(i["x"])))
    mish = lambda i: i["x"] * np.tanh(np.log1p(np.exp(i["x"])))  # noqa: E731
    u("mish", "Mish", (18, 22), "basic", smooth(-4, 4), check=mish)

    def mish_comp(g: G):
        g.input("x", g.unif(-4, 4, *S))
        g.node("Softplus", ["x"], "sp")
        g.node("Tanh", ["sp"], "t")
        g.node("Mul", ["x", "t"])
        g.output("y")

    add(
        "mish",
        "Softplus+Tanh+Mul",
        18,
        "composition",
        mish_comp,
        check=mish,
        note="Mish written as x * Tanh(Softplus(x)), as exporters emit it before opset 18",
    )
    u("sigmoid", "Sigmoid", (6, 13), "basic", smooth(-4, 4), check=lambda i: 1 / (1 + np.exp(-i["x"])))
    u("tanh", "Tanh", (6, 13), "basic", smooth(-3, 3), check=lambda i: np.tanh(i["x"]))
    u("exp", "Exp", (6, 13), "basic", smooth(-2, 2), check=lambda i: np.exp(i["x"]))
    u("log", "Log", (6, 13), "positive", pos(), check=lambda i: np.log(i["x"]))
    u("sqrt", "Sqrt", (6, 13), "positive", pos(), check=lambda i: np.sqrt(i["x"]))
    u("neg", "Neg", (6, 13), "basic", smooth(), check=lambda i: -i["x"])
    u("reciprocal", "Reciprocal", (6, 13), "away_from_zero", away0(-3, 3, kinks=(0.0,)), check=lambda i: 1 / i["x"])
    u("abs", "Abs", (6, 13), "basic", away0(), check=lambda i: np.abs(i["x"]))
    u("sin", "Sin", (7, 22), "basic", smooth(-4, 4), check=lambda i: np.sin(i["x"]))
    u("cos", "Cos", (7, 22), "basic", smooth(-4, 4), check=lambda i: np.cos(i["x"]))

    # Pow
    def pow_tensor(yshape):
        def build(g: G):
            g.input("x", g.unif(0.3, 2.5, *S))
            g.input("e", g.unif(-2, 2, *yshape))
            g.node("Pow", ["x", "e"])
            g.output("y")

        return build

    for o in (7, 13, 15):
        add(
            "pow",
            "Pow",
            o,
            "tensor_exponent",
            pow_tensor(S),
            check=lambda i: i["x"] ** i["e"],
            note="x > 0; exponent is a second graph input of the same shape",
        )
    add(
        "pow",
        "Pow",
        13,
        "broadcast_exponent",
        pow_tensor((4,)),
        check=lambda i: i["x"] ** i["e"],
        note="exponent [4] broadcast against x [2,3,4]",
    )

    def pow_const(e, x_fn, dtype=None):
        def build(g: G):
            g.input("x", x_fn(g))
            g.init("e", np.array(e), dtype=dtype)
            g.node("Pow", ["x", "e"])
            g.output("y")

        return build

    for o in (7, 13):
        add(
            "pow",
            "Pow",
            o,
            "square_initializer",
            pow_const(2.0, smooth()),
            check=lambda i: i["x"] ** 2,
            note="exponent: 0-d float initializer 2.0",
        )
        add(
            "pow",
            "Pow",
            o,
            "sqrt_initializer",
            pow_const(0.5, pos()),
            check=lambda i: np.sqrt(i["x"]),
            note="exponent: 0-d float initializer 0.5, x > 0",
        )
    for o in (12, 15):
        add(
            "pow",
            "Pow",
            o,
            "int_exponent",
            pow_const(3, smooth(), dtype=np.int64),
            check=lambda i: i["x"] ** 3,
            note="exponent: 0-d int64 initializer 3 (a second type T1 allowed since opset 12)",
        )


def cases_elementwise():
    S = (2, 3, 4)

    # Clip
    def clip_build(lo, hi, how, opset_kinks):
        def build(g: G):
            g.input("x", g.away(*S, kinks=opset_kinks, lo=-2, hi=2))
            if how == "attrs":
                attrs = {}
                if lo is not None:
                    attrs["min"] = lo
                if hi is not None:
                    attrs["max"] = hi
                g.node("Clip", ["x"], **attrs)
            else:
                ins = ["x", g.init("min", np.array(lo)) if lo is not None else ""]
                if hi is not None:
                    ins.append(g.init("max", np.array(hi)))
                while ins and ins[-1] == "":
                    ins.pop()
                g.node("Clip", ins)
            g.output("y")

        return build

    def clip_check(lo, hi):
        return lambda i: np.clip(i["x"], -np.inf if lo is None else lo, np.inf if hi is None else hi)

    add(
        "clip",
        "Clip",
        6,
        "min_max_attrs",
        clip_build(-0.5, 0.6, "attrs", (-0.5, 0.6)),
        check=clip_check(-0.5, 0.6),
        note="opset < 11: min and max are attributes",
    )
    add("clip", "Clip", 6, "max_attr_only", clip_build(None, 0.6, "attrs", (0.6,)), check=clip_check(None, 0.6))
    for o in (11, 12, 13):
        add(
            "clip",
            "Clip",
            o,
            "min_max_inputs",
            clip_build(-0.5, 0.6, "inputs", (-0.5, 0.6)),
            check=clip_check(-0.5, 0.6),
            note="min and max are 0-d initializer inputs",
        )
    for o in (11, 13):
        add(
            "clip",
            "Clip",
            o,
            "max_only",
            clip_build(None, 0.6, "inputs", (0.6,)),
            check=clip_check(None, 0.6),
            note="min is the empty-string input, only max given",
        )
    add("clip", "Clip", 13, "min_only", clip_build(-0.5, None, "inputs", (-0.5,)), check=clip_check(-0.5, None))
    add(
        "clip",
        "Clip",
        13,
        "no_bounds",
        clip_build(None, None, "inputs", ()),
        check=clip_check(None, None),
        note="neither min nor max: identity",
    )

    # Add/Sub/Mul/Div
    X4 = (2, 3, 4, 5)
    fns = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}

    def bin_build(op, ashape, bshape, b_init=None, scalar_lhs=None, attrs=None):
        def build(g: G):
            den = op == "Div"
            if scalar_lhs is not None:
                a = g.init("a", np.array(scalar_lhs))
                b = g.input("x", g.away(*bshape, kinks=(0,), gap=0.3) if den else g.randn(*bshape))
                g.node(op, [a, b], **(attrs or {}))
            else:
                a = g.input("a", g.randn(*ashape))
                if b_init is not None:
                    b = g.init("b", np.asarray(b_init))
                else:
                    b = g.input("b", g.away(*bshape, kinks=(0,), gap=0.3) if den else g.randn(*bshape))
                g.node(op, [a, b], **(attrs or {}))
            g.output("y")

        return build

    for op, f in fns.items():
        p = op.lower()
        chk = lambda i, f=f: f(i["a"], i["b"])  # noqa: E731
        for o in (7, 13, 14):
            add(
                p,
                op,
                o,
                "bcast_c11",
                bin_build(op, X4, (3, 1, 1)),
                check=chk,
                note="a [2,3,4,5] with b [3,1,1] (numpy broadcasting); both are graph inputs",
            )
        add(p, op, 13, "same_shape", bin_build(op, S, S), check=chk)
        add(
            p,
            op,
            13,
            "bcast_both",
            bin_build(op, (2, 1, 4), (3, 1)),
            check=chk,
            note="a [2,1,4] with b [3,1]: both operands broadcast, output [2,3,4]",
        )
        add(
            p,
            op,
            13,
            "scalar_initializer",
            bin_build(op, S, None, b_init=np.array(1.7)),
            check=lambda i, f=f: f(i["a"], np.float32(1.7)),
            note="b is a 0-d initializer 1.7",
        )
        if op in ("Sub", "Div"):
            add(
                p,
                op,
                13,
                "scalar_lhs",
                bin_build(op, None, S, scalar_lhs=1.3),
                check=lambda i, f=f: f(np.float32(1.3), i["x"]),
                note="y = 1.3 (0-d initializer) op x",
            )

        def legacy_oracle(g: G, op=op):
            g.input("a", g.randn(*X4))
            g.input("b", g.away(3, kinks=(0,), gap=0.3) if op == "Div" else g.randn(3))
            g.node("Reshape", ["b", g.init("shape", np.array([3, 1, 1]))], "b3")
            g.node(op, ["a", "b3"])
            g.output("y")

        add(
            p,
            op,
            6,
            "legacy_broadcast_axis1",
            bin_build(op, X4, (3,), attrs={"broadcast": 1, "axis": 1}),
            check=lambda i, f=f: f(i["a"], i["b"].reshape(3, 1, 1)),
            oracle=(legacy_oracle, 13, "Reshape(b, [3,1,1]) then numpy broadcasting"),
            note="opset < 7: broadcast=1, axis=1 aligns b [3] with axis 1 of a [2,3,4,5]",
        )

    # Max/Min/Sum/Mean with three inputs
    def nary(op, shapes):
        def build(g: G):
            sizes = [int(np.prod(s)) for s in shapes]
            pool = g.distinct(sum(sizes), lo=-3, hi=3)
            off = 0
            names = []
            for k, s in enumerate(shapes):
                names.append(g.input("abc"[k], pool[off : off + sizes[k]].reshape(s)))
                off += sizes[k]
            g.node(op, names)
            g.output("y")

        return build

    red = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}

    def nary_check(op):
        def chk(i):
            a, b, c = i["a"], i["b"], i["c"]
            if op == "Mean":
                return (a + b + c) / 3
            f = red[op]
            return f(f(a, b), c)

        return chk

    for op in ("Max", "Min", "Sum", "Mean"):
        for o in (8, 13):
            add(
                op.lower(),
                op,
                o,
                "three_inputs_bcast",
                nary(op, [(2, 3, 4), (3, 1), (4,)]),
                check=nary_check(op),
                note="inputs [2,3,4], [3,1], [4] (multidirectional broadcasting since opset 8); distinct values",
            )
        add(
            op.lower(),
            op,
            6,
            "three_inputs_same_shape",
            nary(op, [S, S, S]),
            check=nary_check(op),
            note="opset < 8: all inputs have the same shape",
        )

    # Comparison and logic (forward only)
    def cmp_build(op, bshape, ties=True):
        def build(g: G):
            a = g.randn(*S)
            b = g.randn(*bshape)
            if ties:  # make some elements equal
                bb = np.broadcast_to(b, S)
                mask = g.rng.random(S) < 0.3
                a = np.where(mask, bb, a)
            g.input("a", a)
            g.input("b", b)
            g.node(op, ["a", "b"])
            g.output("y")

        return build

    cmpf = {
        "Equal": np.equal,
        "Less": np.less,
        "Greater": np.greater,
        "LessOrEqual": np.less_equal,
        "GreaterOrEqual": np.greater_equal,
    }
    for op, opsets in (
        ("Equal", (11, 13, 19)),
        ("Less", (9, 13)),
        ("Greater", (9, 13)),
        ("LessOrEqual", (12, 16)),
        ("GreaterOrEqual", (12, 16)),
    ):
        for o in opsets:
            add(
                op.lower(),
                op,
                o,
                "float_with_ties",
                cmp_build(op, S),
                forward_only=True,
                check=lambda i, f=cmpf[op]: f(i["a"], i["b"]),
                note="about 30% of the elements are equal",
            )
        add(
            op.lower(),
            op,
            opsets[-1],
            "bcast",
            cmp_build(op, (4,)),
            forward_only=True,
            check=lambda i, f=cmpf[op]: f(i["a"], i["b"]),
            note="a [2,3,4] with b [4]",
        )
    add(
        "equal",
        "Equal",
        11,
        "int64",
        lambda g: (
            g.input("a", g.rng.integers(-3, 3, S)),
            g.input("b", g.rng.integers(-3, 3, (4,))),
            g.node("Equal", ["a", "b"]),
            g.output("y"),
        ),
        forward_only=True,
        check=lambda i: i["a"] == i["b"],
    )
    add(
        "greater",
        "Greater",
        7,
        "float",
        cmp_build("Greater", S),
        forward_only=True,
        check=lambda i: i["a"] > i["b"],
        note="opset 7: float inputs, broadcasting",
    )

    def logic_from_cmp(op):
        def build(g: G):
            g.input("a", g.away(*S, kinks=(0,), gap=0.05))
            if op == "Not":
                g.node("Greater", ["a", g.init("zero", np.array(0.0))], "p")
                g.node("Not", ["p"])
            else:
                g.input("b", g.away(*S, kinks=(0,), gap=0.05))
                g.node("Greater", ["a", g.init("zero", np.array(0.0))], "p")
                g.node("Less", ["b", g.init("half", np.array(0.5))], "q")
                g.node(op, ["p", "q"])
            g.output("y")

        return build

    def logic_bool(op):
        def build(g: G):
            g.input("a", g.rng.random(S) < 0.5)
            if op == "Not":
                g.node("Not", ["a"])
            else:
                g.input("b", g.rng.random((4,)) < 0.5)
                g.node(op, ["a", "b"])
            g.output("y")

        return build

    add(
        "not",
        "Not",
        1,
        "from_greater",
        logic_from_cmp("Not"),
        forward_only=True,
        check=lambda i: ~(i["a"] > 0),
        note="Not(Greater(a, 0)): the model has a float input",
    )
    add("not", "Not", 1, "bool_input", logic_bool("Not"), forward_only=True, check=lambda i: ~i["a"])
    for op, f in (("And", np.logical_and), ("Or", np.logical_or)):
        add(
            op.lower(),
            op,
            7,
            "from_comparisons",
            logic_from_cmp(op),
            forward_only=True,
            check=lambda i, f=f: f(i["a"] > 0, i["b"] < 0.5),
            note=f"{op}(Greater(a, 0), Less(b, 0.5))",
        )
        add(
            op.lower(),
            op,
            7,
            "bool_bcast",
            logic_bool(op),
            forward_only=True,
            check=lambda i, f=f: f(i["a"], i["b"]),
            note="bool a [2,3,4] with bool b [4]",
        )

    def where_build(bshape, c_init=None):
        def build(g: G):
            g.input("a", g.away(*S, kinks=(0,), gap=0.05))
            g.input("b", g.randn(*bshape))
            if c_init is None:
                g.input("c", g.randn(*S))
            else:
                g.init("c", np.array(c_init))
            g.node("Greater", ["a", g.init("zero", np.array(0.0))], "cond")
            g.node("Where", ["cond", "b", "c"])
            g.output("y")

        return build

    for o in (9, 16):
        add(
            "where",
            "Where",
            o,
            "cond_from_greater",
            where_build(S),
            no_grad=("a",),
            check=lambda i: np.where(i["a"] > 0, i["b"], i["c"]),
            note="Where(Greater(a, 0), b, c); gradients for the branches b and c (a's is zero)",
        )
    add(
        "where",
        "Where",
        16,
        "bcast",
        where_build((4,), c_init=-0.75),
        no_grad=("a",),
        check=lambda i: np.where(i["a"] > 0, i["b"], np.float32(-0.75)),
        note="cond [2,3,4], b [4], c a 0-d initializer -0.75",
    )

    # Rounding
    for op, f, opsets in (("Floor", np.floor, (6, 13)), ("Ceil", np.ceil, (6, 13))):
        for o in opsets:
            add(
                op.lower(),
                op,
                o,
                "basic",
                unary(op, lambda g: g.away_int(*S, lo=-3, hi=3)),
                check=lambda i, f=f: f(i["x"]),
                note="inputs away from integers; the gradient is zero",
            )

    def round_x(g: G):
        halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 0.51, -0.49, -0.51, 3.5, -3.5])
        return np.concatenate([halves, g.unif(-4, 4, 12)]).reshape(S)

    for o in (11, 22):
        add(
            "round",
            "Round",
            o,
            "halves_to_even",
            unary("Round", round_x),
            forward_only=True,
            check=lambda i: np.round(i["x"]),
            note="includes exact halves: round half to even",
        )


def cases_softmax_reduce():
    X = (2, 3, 2, 5)

    def sm_build(op, axis, opset_axis_default=None):
        def build(g: G):
            g.input("x", g.distinct(*X, lo=-3, hi=3))
            attrs = {} if axis is None else {"axis": axis}
            g.node(op, ["x"], **attrs)
            g.output("y")

        return build

    def sm_flat_oracle(op, axis):
        def build(g: G):
            g.input("x", g.distinct(*X, lo=-3, hi=3))
            a = axis % len(X)
            g.node("Reshape", ["x", g.init("shape2d", np.array([int(np.prod(X[:a])), -1]))], "x2")
            g.node(op, ["x2"], "y2", axis=1)
            g.node("Reshape", ["y2", g.init("shape", np.array(X))])
            g.output("y")

        return build

    def sm_check(op, axis, flat):
        def chk(i):
            x = i["x"]
            if flat:
                return np_softmax_flat(x, axis, log=op == "LogSoftmax", hard=op == "Hardmax")
            if op == "Hardmax":
                y = np.zeros_like(x)
                np.put_along_axis(y, np.expand_dims(x.argmax(axis=axis), axis), 1, axis=axis)
                return y
            y = np_softmax(x, axis)
            return np.log(y) if op == "LogSoftmax" else y

        return chk

    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        p = op.lower()
        fo = op == "Hardmax"
        why = f"Reshape to 2-D, {op} (opset 13) over axis 1, Reshape back"
        old = [
            (1, None, "default_axis_rank4"),
            (11, 1, "axis1_rank4"),
            (11, None, "default_axis_rank4"),
            (11, 2, "axis2_rank4"),
            (11, -1, "axis_neg1_rank4"),
        ]
        for o, axis, variant in old:
            eff = 1 if axis is None else axis
            oracle = None if eff % 4 == 3 else (sm_flat_oracle(op, eff), 13, why)
            add(
                p,
                op,
                o,
                variant,
                sm_build(op, axis),
                check=sm_check(op, eff, True),
                oracle=oracle,
                forward_only=fo,
                note=f"opset < 13: flattens to 2-D at axis {eff} ({'default ' if axis is None else ''}axis), "
                f"{op.lower()} over each row of [prod(d[:axis]), prod(d[axis:])]",
            )
        for axis, variant in ((1, "axis1_rank4"), (-1, "axis_neg1_rank4"), (None, "default_axis_rank4")):
            eff = -1 if axis is None else axis
            add(
                p,
                op,
                13,
                variant,
                sm_build(op, axis),
                check=sm_check(op, eff, False),
                forward_only=fo,
                note=f"opset >= 13: {op.lower()} along the single axis {eff}",
            )

    # Reductions
    S = (2, 3, 4)
    data = {
        "ReduceMax": lambda g: g.distinct(*S, lo=-3, hi=3),
        "ReduceMin": lambda g: g.distinct(*S, lo=-3, hi=3),
        "ReduceL1": lambda g: g.away(*S, kinks=(0,), gap=0.05, lo=-2, hi=2),
        "ReduceProd": lambda g: g.unif(0.6, 1.4, *S) * np.where(g.rng.random(S) < 0.3, -1, 1),
        "ReduceLogSumExp": lambda g: g.randn(*S),
        "ReduceL2": lambda g: g.randn(*S),
        "ReduceSumSquare": lambda g: g.randn(*S),
        "ReduceSum": lambda g: g.randn(*S),
        "ReduceMean": lambda g: g.randn(*S),
    }

    def red_build(op, axes, keepdims, as_input, noop=None):
        def build(g: G):
            g.input("x", data[op](g))
            attrs = {}
            if keepdims is not None:
                attrs["keepdims"] = keepdims
            if noop is not None:
                attrs["noop_with_empty_axes"] = noop
            ins = ["x"]
            if axes is not None:
                if as_input:
                    ins.append(g.init("axes", np.array(axes, dtype=np.int64)))
                else:
                    attrs["axes"] = list(axes)
            g.node(op, ins, **attrs)
            g.output("y")

        return build

    def red_check(op, axes, keepdims, noop=False):
        def chk(i):
            if noop:  # reduction over the empty set of axes; composite ops keep their elementwise steps
                return np_reduce(op, i["x"], [], True)
            ax = None if axes is None or len(axes) == 0 else [a % 3 for a in axes]
            return np_reduce(op, i["x"], ax, bool(1 if keepdims is None else keepdims))

        return chk

    for op in data:
        p = op.lower()
        attr_opsets = (1, 11) if op == "ReduceSum" else (11, 13)
        in_opset = 13 if op == "ReduceSum" else 18
        attr_variants = [
            ([1], 1, "axes1_keepdims1"),
            ([0, -1], 0, "axes0_neg1_keepdims0"),
            (None, None, "all_default_keepdims"),
            (None, 0, "all_keepdims0"),
        ]
        for o in attr_opsets:
            for axes, kd, variant in attr_variants:
                if o == 1 and axes is not None and min(axes) < 0:
                    continue
                if o == attr_opsets[0] and variant != "axes1_keepdims1":
                    continue
                add(
                    p,
                    op,
                    o,
                    "attr_" + variant,
                    red_build(op, axes, kd, False),
                    check=red_check(op, axes, kd),
                    note="axes as an attribute" if axes is not None else "no axes: reduce over all axes",
                )
        in_variants = [
            ([1], 1, None, "axes1_keepdims1"),
            ([-1], 0, None, "axes_neg1_keepdims0"),
            ([0, 2], 0, None, "axes0_2_keepdims0"),
            (None, 0, None, "no_axes_keepdims0"),
            (None, None, 1, "noop_with_empty_axes"),
        ]
        if op in ("ReduceSum", "ReduceMean"):
            in_variants.append(([], 1, 0, "empty_axes_tensor"))
            in_variants.append(([], None, 1, "empty_axes_tensor_noop"))
        for axes, kd, noop, variant in in_variants:
            add(
                p,
                op,
                in_opset,
                "input_" + variant,
                red_build(op, axes, kd, True, noop),
                check=red_check(op, axes, kd, noop=bool(noop)),
                note=(
                    "axes as an int64 initializer input"
                    if axes
                    else "empty axes tensor"
                    if axes == []
                    else "no axes input"
                )
                + (
                    " with noop_with_empty_axes=1: no reduction (ReduceL1 gives |x|, ReduceSumSquare x^2, ...)"
                    if noop
                    else "; reduces over all axes"
                    if not axes
                    else ""
                ),
            )
    add(
        "reducemax",
        "ReduceMax",
        20,
        "input_axes1_keepdims1",
        red_build("ReduceMax", [1], 1, True),
        check=red_check("ReduceMax", [1], 1),
    )
    add(
        "reducemin",
        "ReduceMin",
        20,
        "input_axes1_keepdims0",
        red_build("ReduceMin", [1], 0, True),
        check=red_check("ReduceMin", [1], 0),
    )


def one(op, x_shape, inits=(), attrs=None, x_fn=None, outputs=1):
    """y = op(x, *initializers); ``inits`` is a list of (name, array) or "" for an absent input."""

    def build(g: G):
        g.input("x", x_fn(g) if x_fn else g.randn(*x_shape))
        ins = ["x"]
        for it in inits:
            ins.append("" if it == "" else g.init(it[0], np.asarray(it[1])))
        outs = ["y"] if outputs == 1 else [f"y{k}" for k in range(outputs)]
        g.node(op, ins, outs, **(attrs or {}))
        g.output(*outs)

    return build


def i64(*v):
    return np.array(v, dtype=np.int64)


def cases_shape():
    S = (2, 3, 4)
    # Reshape
    add(
        "reshape",
        "Reshape",
        1,
        "shape_attr",
        one("Reshape", S, attrs={"shape": [6, 4]}),
        check=lambda i: i["x"].reshape(6, 4),
        note="opset < 5: shape is an attribute",
        oracle=(one("Reshape", S, [("shape", i64(6, 4))]), 5, "Reshape (opset 5) with the shape as an initializer"),
    )
    add(
        "reshape",
        "Reshape",
        5,
        "basic",
        one("Reshape", S, [("shape", i64(6, 4))]),
        check=lambda i: i["x"].reshape(6, 4),
    )
    add(
        "reshape",
        "Reshape",
        5,
        "zero_minus1",
        one("Reshape", S, [("shape", i64(0, -1))]),
        check=lambda i: i["x"].reshape(2, 12),
        note="0 copies the input dim, -1 is inferred",
    )
    add(
        "reshape",
        "Reshape",
        13,
        "zero_minus1_rank3",
        one("Reshape", S, [("shape", i64(0, -1, 2))]),
        check=lambda i: i["x"].reshape(2, 6, 2),
    )
    add(
        "reshape",
        "Reshape",
        14,
        "allowzero0",
        one("Reshape", S, [("shape", i64(0, 4, -1))], {"allowzero": 0}),
        check=lambda i: i["x"].reshape(2, 4, 3),
        note="allowzero=0 given explicitly: 0 copies the input dim",
    )
    add(
        "reshape",
        "Reshape",
        14,
        "allowzero1_no_zeros",
        one("Reshape", S, [("shape", i64(4, -1))], {"allowzero": 1}),
        check=lambda i: i["x"].reshape(4, 6),
    )
    add(
        "reshape",
        "Reshape",
        21,
        "minus1_first",
        one("Reshape", S, [("shape", i64(-1, 3, 2))]),
        check=lambda i: i["x"].reshape(4, 3, 2),
    )

    # Flatten
    F = (2, 3, 2, 2)
    for o, axis in ((1, None), (9, 0), (11, 2), (11, -1), (11, 0), (13, 1), (13, 3)):
        eff = 1 if axis is None else axis % 4
        add(
            "flatten",
            "Flatten",
            o,
            "default_axis" if axis is None else f"axis{axis}".replace("-", "_neg"),
            one("Flatten", F, attrs={} if axis is None else {"axis": axis}),
            check=lambda i, eff=eff: i["x"].reshape(int(np.prod(F[:eff])), -1),
        )

    # Transpose
    for o in (1, 13):
        add(
            "transpose",
            "Transpose",
            o,
            "perm0231",
            one("Transpose", F, attrs={"perm": [0, 2, 3, 1]}),
            check=lambda i: i["x"].transpose(0, 2, 3, 1),
        )
        add(
            "transpose",
            "Transpose",
            o,
            "default_perm",
            one("Transpose", S),
            check=lambda i: i["x"].transpose(),
            note="no perm: reverses the axes",
        )

    # Squeeze / Unsqueeze
    Q = (2, 1, 3, 1)
    add(
        "squeeze",
        "Squeeze",
        1,
        "axes_attr",
        one("Squeeze", Q, attrs={"axes": [1]}),
        check=lambda i: i["x"].reshape(2, 3, 1),
    )
    add(
        "squeeze",
        "Squeeze",
        11,
        "axes_attr_neg",
        one("Squeeze", Q, attrs={"axes": [1, -1]}),
        check=lambda i: i["x"].reshape(2, 3),
    )
    add(
        "squeeze",
        "Squeeze",
        11,
        "no_axes",
        one("Squeeze", Q),
        check=lambda i: i["x"].reshape(2, 3),
        note="no axes: removes every dim of size 1",
    )
    add(
        "squeeze",
        "Squeeze",
        13,
        "axes_input",
        one("Squeeze", Q, [("axes", i64(-1))]),
        check=lambda i: i["x"].reshape(2, 1, 3),
    )
    add(
        "squeeze",
        "Squeeze",
        13,
        "no_axes",
        one("Squeeze", Q),
        check=lambda i: i["x"].reshape(2, 3),
        note="no axes input: removes every dim of size 1",
    )
    U = (2, 3)
    add(
        "unsqueeze",
        "Unsqueeze",
        1,
        "axes_attr",
        one("Unsqueeze", U, attrs={"axes": [0, 3]}),
        check=lambda i: i["x"].reshape(1, 2, 3, 1),
        note="axes index the output",
    )
    add(
        "unsqueeze",
        "Unsqueeze",
        11,
        "axes_attr_neg",
        one("Unsqueeze", U, attrs={"axes": [0, -1]}),
        check=lambda i: i["x"].reshape(1, 2, 3, 1),
    )
    add(
        "unsqueeze",
        "Unsqueeze",
        13,
        "axes_input",
        one("Unsqueeze", U, [("axes", i64(1, -1))]),
        check=lambda i: i["x"].reshape(2, 1, 3, 1),
    )
    add(
        "unsqueeze",
        "Unsqueeze",
        13,
        "axes_input_unsorted",
        one("Unsqueeze", U, [("axes", i64(3, 0))]),
        check=lambda i: i["x"].reshape(1, 2, 3, 1),
    )

    # Concat
    def concat(shapes, axis):
        def build(g: G):
            names = [g.input(f"x{k}", g.randn(*s)) for k, s in enumerate(shapes)]
            g.node("Concat", names, axis=axis)
            g.output("y")

        return build

    cshapes = [(2, 3, 2), (2, 3, 1), (2, 3, 3)]
    add(
        "concat",
        "Concat",
        4,
        "axis2",
        concat(cshapes, 2),
        check=lambda i: np.concatenate([i["x0"], i["x1"], i["x2"]], 2),
    )
    for o in (11, 13):
        add(
            "concat",
            "Concat",
            o,
            "axis_neg1",
            concat(cshapes, -1),
            check=lambda i: np.concatenate([i["x0"], i["x1"], i["x2"]], -1),
        )
    add(
        "concat",
        "Concat",
        13,
        "axis0",
        concat([(1, 3), (2, 3)], 0),
        check=lambda i: np.concatenate([i["x0"], i["x1"]], 0),
    )

    # Split
    def split_check(sizes, axis):
        def chk(i):
            idx = np.cumsum(sizes)[:-1]
            return np.split(i["x"], idx, axis=axis)

        return chk

    X6, X7 = (2, 6), (2, 7)
    add(
        "split",
        "Split",
        2,
        "split_attr",
        one("Split", X6, attrs={"axis": 1, "split": [2, 4]}, outputs=2),
        check=split_check([2, 4], 1),
    )
    add(
        "split",
        "Split",
        11,
        "split_attr",
        one("Split", X6, attrs={"axis": 1, "split": [2, 4]}, outputs=2),
        check=split_check([2, 4], 1),
        note="split sizes as an attribute",
    )
    add(
        "split",
        "Split",
        11,
        "equal_three",
        one("Split", X6, attrs={"axis": -1}, outputs=3),
        check=split_check([2, 2, 2], 1),
        note="no split: equal parts, one per output",
    )
    add(
        "split",
        "Split",
        11,
        "axis0_split_attr",
        one("Split", (3, 4), attrs={"split": [1, 2]}, outputs=2),
        check=split_check([1, 2], 0),
        note="default axis 0",
    )
    add(
        "split",
        "Split",
        13,
        "split_input",
        one("Split", X6, [("split", i64(2, 4))], {"axis": 1}, outputs=2),
        check=split_check([2, 4], 1),
        note="split sizes as an int64 initializer input",
    )
    add(
        "split",
        "Split",
        13,
        "equal_three",
        one("Split", X6, attrs={"axis": 1}, outputs=3),
        check=split_check([2, 2, 2], 1),
    )
    add(
        "split",
        "Split",
        18,
        "num_outputs",
        one("Split", X6, attrs={"axis": 1, "num_outputs": 3}, outputs=3),
        check=split_check([2, 2, 2], 1),
    )
    add(
        "split",
        "Split",
        18,
        "num_outputs_uneven",
        one("Split", X7, attrs={"axis": 1, "num_outputs": 3}, outputs=3),
        check=split_check([3, 3, 1], 1),
        note="7 split in 3: ceil(7/3)=3, so [3,3,1]",
    )
    add(
        "split",
        "Split",
        18,
        "split_input",
        one("Split", X7, [("split", i64(3, 4))], {"axis": -1}, outputs=2),
        check=split_check([3, 4], 1),
    )

    # Slice
    L = (3, 4, 5)
    add(
        "slice",
        "Slice",
        1,
        "attrs",
        one("Slice", L, attrs={"starts": [0, 1], "ends": [2, 4], "axes": [0, 2]}),
        check=lambda i: i["x"][0:2, :, 1:4],
        note="opset 1: starts/ends/axes attributes",
    )
    add(
        "slice",
        "Slice",
        1,
        "attrs_no_axes_clamped",
        one("Slice", L, attrs={"starts": [1, 0, -3], "ends": [1000, 2, -1]}),
        check=lambda i: i["x"][1:, 0:2, -3:-1],
        note="no axes; an end past the dim is clamped; negative starts/ends",
    )

    def sl(starts, ends, axes=None, steps=None):
        its = [("starts", i64(*starts)), ("ends", i64(*ends))]
        if axes is not None or steps is not None:
            its.append(("axes", i64(*axes)) if axes is not None else "")
        if steps is not None:
            its.append(("steps", i64(*steps)))
        return its

    sl_cases = [
        ("inputs_axes_steps", sl([0, 1], [2, 4], [0, 2], [1, 2]), lambda x: x[0:2, :, 1:4:2]),
        ("neg_start_int64max_end", sl([-2], [INT64_MAX], [1]), lambda x: x[:, -2:]),
        ("step2", sl([-4], [INT64_MAX], [2], [2]), lambda x: x[:, :, -4::2]),
        ("step_neg1_reverse", sl([-1], [INT64_MIN], [2], [-1]), lambda x: x[:, :, ::-1]),
        ("step_neg1_partial", sl([3], [0], [1], [-1]), lambda x: x[:, 3:0:-1]),
        ("step_neg2", sl([4, 2], [-6, 0], [2, 0], [-2, -1]), lambda x: x[2:0:-1, :, 4::-2]),
        ("no_axes", sl([1, 0, 0], [3, 3, 5]), lambda x: x[1:3, 0:3, 0:5]),
        ("neg_axes", sl([1], [-1], [-1]), lambda x: x[:, :, 1:-1]),
    ]
    for o in (10, 11, 13):
        for variant, its, f in sl_cases:
            if o == 10 and variant == "neg_axes":
                continue  # negative axes from opset 11
            if o == 11 and variant not in ("neg_axes", "step_neg1_reverse"):
                continue
            add(
                "slice",
                "Slice",
                o,
                variant,
                one("Slice", L, its),
                check=lambda i, f=f: f(i["x"]),
                note="starts/ends/axes/steps as int64 initializer inputs",
            )

    # Gather / GatherElements
    def gather(dshape, idx, axis=None):
        def build(g: G):
            g.input("x", g.randn(*dshape))
            g.init("indices", np.asarray(idx, dtype=np.int64))
            g.node("Gather", ["x", "indices"], **({} if axis is None else {"axis": axis}))
            g.output("y")

        return build

    def gcheck(idx, axis):
        return lambda i: np.take(i["x"], np.asarray(idx), axis=axis)

    add(
        "gather",
        "Gather",
        1,
        "axis0_repeated",
        gather((5, 3), [[0, 2], [4, 2]]),
        check=gcheck([[0, 2], [4, 2]], 0),
        note="indices [2,2] with a repeated index (gradients add up)",
    )
    for o in (11, 13):
        add(
            "gather",
            "Gather",
            o,
            "axis1_negative",
            gather((3, 5), [-1, 0, -2], 1),
            check=gcheck([-1, 0, -2], 1),
            note="negative indices count from the end (opset 11+)",
        )
    add("gather", "Gather", 13, "axis0", gather((4, 3), [3, 1, 3]), check=gcheck([3, 1, 3], 0))
    add(
        "gather",
        "Gather",
        13,
        "scalar_index",
        gather((3, 4, 2), 2, 1),
        check=gcheck(2, 1),
        note="0-d index on axis 1: that dim disappears, output [3,2]",
    )
    add("gather", "Gather", 13, "axis_neg1", gather((2, 3, 4), [[1], [3]], -1), check=gcheck([[1], [3]], -1))

    def gather_el(idx, axis):
        def build(g: G):
            g.input("x", g.randn(3, 4))
            g.init("indices", np.asarray(idx, dtype=np.int64))
            g.node("GatherElements", ["x", "indices"], axis=axis)
            g.output("y")

        return build

    ge_idx = [[0, 3], [2, 2], [1, 0]]
    add(
        "gatherelements",
        "GatherElements",
        11,
        "axis1",
        gather_el(ge_idx, 1),
        check=lambda i: np.take_along_axis(i["x"], np.array(ge_idx), 1),
    )
    ge_neg = [[-1, 0, 1, -2], [2, -3, 0, 0]]
    add(
        "gatherelements",
        "GatherElements",
        13,
        "axis0_negative",
        gather_el(ge_neg, 0),
        check=lambda i: np.take_along_axis(i["x"], np.array(ge_neg) % 3, 0),
    )

    # GatherND / ScatterND (Swin's attention mask, LeViT's and CoAtNet's relative-position
    # tables in the dynamo export)
    def np_gather_nd(x, idx, b=0):
        idx = np.asarray(idx)
        lead = idx.shape[:-1]
        out = []
        for pos in np.ndindex(*lead):
            batch = pos[:b]
            out.append(x[batch + tuple(int(i) for i in idx[pos])])
        return np.array(out).reshape(lead + x.shape[b + idx.shape[-1]:])

    def gather_nd(dshape, idx, b=None):
        def build(g: G):
            g.input("x", g.randn(*dshape))
            g.init("indices", np.asarray(idx, dtype=np.int64))
            g.node("GatherND", ["x", "indices"], **({} if b is None else {"batch_dims": b}))
            g.output("y")

        return build

    nd_pairs = [[0, 1], [2, 0], [1, 1]]
    add(
        "gathernd",
        "GatherND",
        11,
        "pairs",
        gather_nd((3, 2, 4), nd_pairs),
        check=lambda i: np_gather_nd(i["x"], nd_pairs),
        note="index pairs into a [3,2,4] tensor: output [3,4] (slices of the last axis)",
    )
    nd_neg = [[[-1], [0]], [[1], [-2]]]
    add(
        "gathernd",
        "GatherND",
        13,
        "rows_negative",
        gather_nd((3, 4), nd_neg),
        check=lambda i: np_gather_nd(i["x"], np.array(nd_neg) % 3),
        note="1-tuples with negative indices: whole rows, output [2,2,4]",
    )
    nd_batch = [[[1, 0]], [[0, 2]]]
    add(
        "gathernd",
        "GatherND",
        12,
        "batch_dims1",
        gather_nd((2, 2, 3), nd_batch, 1),
        check=lambda i: np_gather_nd(i["x"], nd_batch, 1),
        note="batch_dims = 1: each batch row indexes its own [2,3] slice",
    )

    def scatter_nd(dshape, idx, ushape, reduction=None):
        def build(g: G):
            g.input("x", g.randn(*dshape))
            g.init("indices", np.asarray(idx, dtype=np.int64))
            g.input("updates", g.randn(*ushape))
            g.node("ScatterND", ["x", "indices", "updates"], **({} if reduction is None else {"reduction": reduction}))
            g.output("y")

        return build

    def np_scatter_nd(x, idx, u):
        y = x.copy()
        idx = np.asarray(idx)
        for pos in np.ndindex(*idx.shape[:-1]):
            y[tuple(int(i) for i in idx[pos])] = u[pos]
        return y

    sc_el = [[1, 0], [2, 3], [0, -1]]
    add(
        "scatternd",
        "ScatterND",
        11,
        "elements",
        scatter_nd((3, 4), sc_el, (3,)),
        check=lambda i: np_scatter_nd(i["x"], np.array(sc_el) % [3, 4], i["updates"]),
        note="three single elements replaced; gradients reach both data (elsewhere) and updates",
    )
    sc_rows = [[[2]], [[0]]]
    add(
        "scatternd",
        "ScatterND",
        16,
        "rows",
        scatter_nd((3, 2, 2), sc_rows, (2, 1, 2, 2), "none"),
        check=lambda i: np_scatter_nd(i["x"], sc_rows, i["updates"]),
        note="whole [2,2] slices replaced, reduction = none spelt out",
    )

    # Expand / Tile
    for o in (8, 13):
        add(
            "expand",
            "Expand",
            o,
            "to_rank3",
            one("Expand", (3, 1), [("shape", i64(2, 3, 4))]),
            check=lambda i: np.broadcast_to(i["x"], (2, 3, 4)),
        )
    add(
        "expand",
        "Expand",
        13,
        "shape_smaller_rank",
        one("Expand", (2, 1, 4), [("shape", i64(3, 1))]),
        check=lambda i: np.broadcast_to(i["x"], (2, 3, 4)),
        note="bidirectional: shape [3,1] with input [2,1,4] gives [2,3,4]",
    )
    for o in (6, 13):
        add(
            "tile",
            "Tile",
            o,
            "repeats",
            one("Tile", (2, 3), [("repeats", i64(2, 3))]),
            check=lambda i: np.tile(i["x"], (2, 3)),
        )
    add(
        "tile",
        "Tile",
        13,
        "rank3",
        one("Tile", (2, 1, 3), [("repeats", i64(1, 3, 2))]),
        check=lambda i: np.tile(i["x"], (1, 3, 2)),
    )

    # ConstantOfShape / Range / Shape / Size / Identity / Cast
    def cos_init(value):
        def build(g: G):
            g.init("shape", i64(2, 3))
            attrs = {} if value is None else {"value": g.tensor_attr([value])}
            g.node("ConstantOfShape", ["shape"], **attrs)
            g.output("y")

        return build

    for o in (9, 20, 21):
        add(
            "constantofshape",
            "ConstantOfShape",
            o,
            "value_float",
            cos_init(1.5),
            forward_only=True,
            check=lambda i: np.full((2, 3), 1.5),
            note="shape from an int64 initializer; float value attribute 1.5",
        )
    add(
        "constantofshape",
        "ConstantOfShape",
        9,
        "default_value",
        cos_init(None),
        forward_only=True,
        check=lambda i: np.zeros((2, 3)),
        note="no value: float32 zeros",
    )

    def cos_from_shape(g: G):
        g.input("x", g.randn(2, 3, 4))
        g.node("Shape", ["x"], "s")
        g.node("ConstantOfShape", ["s"], value=g.tensor_attr([-0.25]))
        g.output("y")

    add(
        "constantofshape",
        "ConstantOfShape",
        20,
        "from_shape_of_input",
        cos_from_shape,
        forward_only=True,
        check=lambda i: np.full((2, 3, 4), -0.25),
        note="ConstantOfShape(Shape(x), value=-0.25)",
    )

    def rng_build(start, limit, delta, dtype):
        def build(g: G):
            names = [
                g.init(n, np.array(v), dtype=dtype) for n, v in (("start", start), ("limit", limit), ("delta", delta))
            ]
            g.node("Range", names)
            g.output("y")

        return build

    add(
        "range",
        "Range",
        11,
        "float",
        rng_build(0.5, 3.1, 0.4, np.float32),
        forward_only=True,
        check=lambda i: np.arange(np.float32(0.5), np.float32(3.1), np.float32(0.4)),
        note="start/limit/delta: 0-d float32 initializers; no graph input",
    )
    add(
        "range",
        "Range",
        11,
        "float_negative_delta",
        rng_build(3.0, -1.0, -0.7, np.float32),
        forward_only=True,
        check=lambda i: np.arange(np.float32(3.0), np.float32(-1.0), np.float32(-0.7)),
    )
    add(
        "range",
        "Range",
        11,
        "int64",
        rng_build(2, 11, 3, np.int64),
        forward_only=True,
        check=lambda i: np.arange(2, 11, 3),
    )

    for o in (1, 13):
        add("shape", "Shape", o, "basic", one("Shape", S), forward_only=True, check=lambda i: np.array(S))
    for attrs, variant, exp in (
        ({"start": 1, "end": -1}, "start1_end_neg1", [3]),
        ({"start": -2}, "start_neg2", [3, 4]),
        ({"end": 1}, "end1", [2]),
        ({"start": 5}, "start_past_end", []),
    ):
        add(
            "shape",
            "Shape",
            15,
            variant,
            one("Shape", S, attrs=attrs),
            forward_only=True,
            check=lambda i, exp=exp: np.array(exp, dtype=np.int64),
            note="opset 15 start/end slice the shape (clamped)",
        )
    for o in (1, 13):
        add("size", "Size", o, "basic", one("Size", S), forward_only=True, check=lambda i: np.array(24))
    for o in (1, 13, 16):
        add("identity", "Identity", o, "basic", one("Identity", S), check=lambda i: i["x"])

    def cast_chain(g: G):
        g.input("x", g.randn(*S, scale=3.0))
        g.node("Cast", ["x"], "h", to=TP.FLOAT16)
        g.node("Cast", ["h"], to=TP.FLOAT)
        g.output("y")

    for o in (6, 13, 19):
        add(
            "cast",
            "Cast",
            o,
            "float_float16_float",
            cast_chain,
            forward_only=True,
            check=lambda i: i["x"].astype(np.float16).astype(np.float64),
            note="Cast to float16 and back: rounds to float16 precision",
        )
    for o in (6, 13):
        add(
            "cast",
            "Cast",
            o,
            "int64_to_float",
            lambda g: (
                g.input("x", g.rng.integers(-50, 50, S)),
                g.node("Cast", ["x"], to=TP.FLOAT if g.dt == np.float32 else g.ft),
                g.output("y"),
            ),
            forward_only=True,
            check=lambda i: i["x"].astype(np.float64),
        )
    add(
        "cast",
        "Cast",
        13,
        "float_to_float",
        lambda g: (g.input("x", g.randn(*S)), g.node("Cast", ["x"], to=g.ft), g.output("y")),
        check=lambda i: i["x"],
        note="Cast float -> float (identity; gradient 1); the float64 twin casts to double",
    )

    # Einsum
    def einsum(eq, ashape, bshape=None):
        def build(g: G):
            ins = [g.input("a", g.randn(*ashape))]
            if bshape is not None:
                ins.append(g.input("b", g.randn(*bshape)))
            g.node("Einsum", ins, equation=eq)
            g.output("y")

        return build

    for eq, a, b, v in (
        ("bij,bjk->bik", (2, 3, 4), (2, 4, 5), "batched_matmul"),
        ("bhqd,bhkd->bhqk", (1, 2, 3, 4), (1, 2, 5, 4), "attention_scores"),
        ("ij->ji", (3, 4), None, "transpose"),
        ("bi,i->b", (3, 4), (4,), "matvec"),
    ):
        add(
            "einsum",
            "Einsum",
            12,
            v,
            einsum(eq, a, b),
            note=f"equation {eq!r}",
            check=lambda i, eq=eq, b=b: np.einsum(eq, i["a"], i["b"]) if b is not None else np.einsum(eq, i["a"]),
        )


def cases_pad():
    P = (3, 4)
    npmode = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}

    def pad_check(pads, mode, value=0.0, axes=None, rank=2):
        def chk(i):
            x = i["x"]
            ax = list(range(rank)) if axes is None else [a % rank for a in axes]
            n = len(ax)
            width = [(0, 0)] * rank
            for k, a in enumerate(ax):
                width[a] = (pads[k], pads[n + k])
            # negative pads crop
            crop = tuple(slice(max(0, -b), x.shape[d] - max(0, -e)) for d, (b, e) in enumerate(width))
            x = x[crop]
            width = [(max(0, b), max(0, e)) for b, e in width]
            if mode == "constant":
                return np.pad(x, width, mode="constant", constant_values=value)
            return np.pad(x, width, mode=npmode[mode])

        return chk

    def pad_attr(pads, mode, value=None, key="pads"):
        def build(g: G):
            g.input("x", g.randn(*P))
            attrs = {key: pads, "mode": mode}
            if value is not None:
                attrs["value"] = value
            g.node("Pad", ["x"], **attrs)
            g.output("y")

        return build

    def pad_in(pads, mode, value=None, axes=None, x=None):
        def build(g: G):
            g.input("x", g.randn(*P) if x is None else np.array(x))
            ins = ["x", g.init("pads", i64(*pads))]
            if value is not None or axes is not None:
                ins.append(g.init("constant_value", np.array(value)) if value is not None else "")
            if axes is not None:
                ins.append(g.init("axes", i64(*axes)))
            g.node("Pad", ins, **({} if mode is None else {"mode": mode}))
            g.output("y")

        return build

    pads = [1, 2, 0, 1]  # x1_begin, x2_begin, x1_end, x2_end
    add(
        "pad",
        "Pad",
        1,
        "constant_paddings_attr",
        pad_attr(pads, "constant", 0.5, key="paddings"),
        check=pad_check(pads, "constant", 0.5),
        note="opset 1: `paddings` and `value` attributes",
    )
    for mode in ("constant", "reflect", "edge"):
        add(
            "pad",
            "Pad",
            2,
            mode,
            pad_attr(pads, mode, 0.5 if mode == "constant" else None),
            check=pad_check(pads, mode, 0.5),
            note="opset 2: `pads` and `value` attributes; pads [1,2,0,1]",
        )
    for o in (11, 13):
        add(
            "pad",
            "Pad",
            o,
            "constant_value_input",
            pad_in(pads, "constant", 0.5),
            check=pad_check(pads, "constant", 0.5),
            note="pads and constant_value as initializer inputs",
        )
        add(
            "pad",
            "Pad",
            o,
            "constant_default_value",
            pad_in(pads, None),
            check=pad_check(pads, "constant", 0.0),
            note="no mode, no constant_value: zeros",
        )
        for mode in ("reflect", "edge"):
            add("pad", "Pad", o, mode, pad_in([2, 1, 1, 3], mode), check=pad_check([2, 1, 1, 3], mode))
    neg_chk = pad_check([-1, 2, 0, -2], "constant", 0.25)
    add(
        "pad",
        "Pad",
        13,
        "negative_pads_crop",
        pad_in([-1, 2, 0, -2], "constant", 0.25),
        check=neg_chk,
        oracle=(neg_chk, "numpy", "numpy: crop for the negative pads, then numpy.pad"),
        note="negative pads remove elements",
    )
    add(
        "pad",
        "Pad",
        18,
        "constant_axes",
        pad_in([1, 2], "constant", -1.5, axes=[1]),
        check=pad_check([1, 2], "constant", -1.5, axes=[1]),
        note="opset 18 axes input: pads only axis 1",
    )
    add(
        "pad",
        "Pad",
        18,
        "reflect_axes_neg",
        pad_in([2, 1], "reflect", axes=[-1]),
        check=pad_check([2, 1], "reflect", axes=[-1]),
    )
    add("pad", "Pad", 18, "edge_axes0", pad_in([0, 2], "edge", axes=[0]), check=pad_check([0, 2], "edge", axes=[0]))
    add("pad", "Pad", 18, "edge", pad_in([1, 0, 2, 3], "edge"), check=pad_check([1, 0, 2, 3], "edge"))

    X = [[1.0, 1.2], [2.3, 3.4], [4.5, 5.7]]
    want = np.array([[1.0, 1.2, 1.0, 1.2], [2.3, 3.4, 2.3, 3.4], [4.5, 5.7, 4.5, 5.7]], dtype=np.float32)

    def exact_check(i):
        got = np.pad(i["x"], [(0, 0), (2, 0)], mode="reflect")
        assert np.allclose(got, want), got  # numpy.pad agrees with the expected values
        return got

    add(
        "pad",
        "Pad",
        18,
        "reflect_pad_equals_axis",
        pad_in([0, 2, 0, 0], "reflect", x=X),
        check=exact_check,
        fixed_data=True,
        note="reflect with a pad equal to the axis length (2): numpy.pad reflects again, giving "
        "[[1,1.2,1,1.2],[2.3,3.4,2.3,3.4],[4.5,5.7,4.5,5.7]]",
    )
    for o in (19, 21):
        add("pad", "Pad", o, "wrap", pad_in([1, 2, 2, 1], "wrap"), check=pad_check([1, 2, 2, 1], "wrap"))
    add("pad", "Pad", 19, "wrap_axes", pad_in([3, 1], "wrap", axes=[1]), check=pad_check([3, 1], "wrap", axes=[1]))
    add("pad", "Pad", 21, "reflect", pad_in([1, 3, 2, 2], "reflect"), check=pad_check([1, 3, 2, 2], "reflect"))


def cases_resize():
    UP = (1, 2, 3, 4)
    DOWN = (1, 2, 5, 6)

    def out_shape(xs, scales=None, sizes=None):
        if sizes is not None:
            return list(sizes)
        return [int(math.floor(n * s)) for n, s in zip(xs, scales)]

    def check_resize(xs, scales=None, sizes=None, axes=None, policy="stretch", roi=None, **kw):
        def chk(i):
            r = len(xs)
            ax = list(range(r)) if axes is None else [a % r for a in axes]
            sc = [1.0] * r
            osz = list(xs)
            full_roi = None
            if roi is not None:
                full_roi = [0.0] * r + [1.0] * r
                for k, a in enumerate(ax):  # the model stores roi as float32
                    full_roi[a] = float(np.float32(roi[k]))
                    full_roi[r + a] = float(np.float32(roi[len(ax) + k]))
            if sizes is not None:
                if policy == "stretch":
                    for k, a in enumerate(ax):
                        osz[a] = sizes[k]
                        sc[a] = sizes[k] / xs[a]
                else:
                    rat = [sizes[k] / xs[a] for k, a in enumerate(ax)]
                    s = min(rat) if policy == "not_larger" else max(rat)
                    for a in ax:
                        sc[a] = s
                        osz[a] = int(math.floor(s * xs[a] + 0.5))
            else:
                for k, a in enumerate(ax):
                    sc[a] = float(np.float32(scales[k]))
                    osz[a] = int(math.floor(xs[a] * sc[a]))
            return np_resize(i["x"], osz, sc, roi=full_roi, **kw)

        return chk

    def resize(xs, opset, mode=None, scales=None, sizes=None, roi=None, style="inputs", empty_tensors=False, **attrs):
        """Resize (or Upsample, style="upsample_attr"/"upsample_input") of x with shape xs."""

        def build(g: G):
            g.input("x", g.randn(*xs))
            a = dict(attrs)
            if mode is not None:
                a["mode"] = mode
            if style == "upsample_attr":
                a["scales"] = [float(v) for v in scales]
                g.node("Upsample", ["x"], **a)
            elif style == "upsample_input":
                g.node("Upsample", ["x", g.init("scales", np.array(scales), dtype=np.float32)], **a)
            elif opset == 10:
                g.node("Resize", ["x", g.init("scales", np.array(scales), dtype=np.float32)], **a)
            else:
                req = opset == 11 or empty_tensors  # roi and scales are required inputs at opset 11
                ins = ["x"]
                if roi is not None:
                    ins.append(g.init("roi", np.array(roi)))
                else:
                    ins.append(g.init("roi", np.zeros(0)) if req else "")
                if scales is not None:
                    ins.append(g.init("scales", np.array(scales), dtype=np.float32))
                else:
                    ins.append(g.init("scales", np.zeros(0), dtype=np.float32) if req else "")
                if sizes is not None:
                    ins.append(g.init("sizes", i64(*sizes)))
                while ins[-1] == "":
                    ins.pop()
                g.node("Resize", ins, **a)
            g.output("y")

        return build

    def rz(opset, variant, xs, note="", oracle=None, check_kw=None, np_oracle=None, **kw):
        ck = dict(kw)
        for k in ("style", "empty_tensors"):
            ck.pop(k, None)
        ck.setdefault("mode", "nearest")
        if opset >= 11 and ck.get("ctm") is None:
            ck["ctm"] = "half_pixel"
        attrs = {}
        for k in (
            "ctm",
            "nearest_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "antialias",
            "keep_aspect_ratio_policy",
            "axes",
            "extrapolation_value",
        ):
            if k in kw:
                attrs["coordinate_transformation_mode" if k == "ctm" else k] = kw.pop(k)
        if check_kw:
            ck.update(check_kw)
        if "keep_aspect_ratio_policy" in ck:
            ck["policy"] = ck.pop("keep_aspect_ratio_policy")
        if "cubic_coeff_a" in ck:
            ck["cubic_a"] = ck.pop("cubic_coeff_a")
        op = "Upsample" if kw.get("style", "").startswith("upsample") else "Resize"
        chk = check_resize(xs, **ck)
        if np_oracle:
            oracle = (chk, "numpy", f"a numpy Resize written from the spec ({np_oracle})")
        add(op.lower(), op, opset, variant, resize(xs, opset, **kw, **attrs), check=chk, note=note, oracle=oracle)

    # Upsample (opset 7: scales attribute, opset 9: scales input): asymmetric coordinates, nearest = floor.
    def up_oracle(xs, mode, scales):
        nm = {"nearest_mode": "floor"} if mode == "nearest" else {}
        return (
            resize(xs, 11, mode=mode, scales=scales, coordinate_transformation_mode="asymmetric", **nm),
            11,
            f"Resize (opset 11, {mode}, asymmetric{', floor' if nm else ''})",
        )

    for o, style in ((7, "upsample_attr"), (9, "upsample_input")):
        for mode, scales, v in (
            ("nearest", [1, 1, 2, 2], "nearest_x2"),
            ("nearest", [1, 1, 3, 2], "nearest_3x2"),
            ("linear", [1, 1, 2, 2], "linear_x2"),
            ("linear", [1, 1, 1.5, 2.5], "linear_fractional"),
            ("nearest", [1, 1, 1.5, 2.5], "nearest_fractional"),
        ):
            rz(
                o,
                v,
                UP,
                mode=mode,
                scales=scales,
                style=style,
                oracle=up_oracle(UP, mode, scales),
                check_kw={"ctm": "asymmetric", "nearest_mode": "floor"},
                note="Upsample: x_original = x_resized / scale; nearest takes floor",
            )

    # Resize opset 10: scales input only; same coordinate rule as Upsample.
    for mode, scales, xs, v in (
        ("nearest", [1, 1, 2, 2], UP, "nearest_up2"),
        ("linear", [1, 1, 2, 2], UP, "linear_up2"),
        ("linear", [1, 1, 1.5, 2.5], UP, "linear_fractional"),
        ("nearest", [1, 1, 0.5, 0.5], DOWN, "nearest_down"),
        ("linear", [1, 1, 0.6, 0.5], DOWN, "linear_down"),
    ):
        rz(
            10,
            v,
            xs,
            mode=mode,
            scales=scales,
            check_kw={"ctm": "asymmetric", "nearest_mode": "floor"},
            oracle=up_oracle(xs, mode, scales),
            note="opset 10: asymmetric coordinates (x_resized / scale); scales where floor and round agree for nearest",
        )

    # Resize 11 and 13
    for o in (11, 13):
        for ctm in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
            rz(o, f"linear_{ctm}_up_scales", UP, mode="linear", scales=[1, 1, 2, 1.5], ctm=ctm)
        rz(o, "linear_half_pixel_down_sizes", DOWN, mode="linear", sizes=[1, 2, 3, 4], ctm="half_pixel")
        rz(o, "linear_align_corners_down_scales", DOWN, mode="linear", scales=[1, 1, 0.6, 0.5], ctm="align_corners")
        rz(
            o,
            "linear_pytorch_half_pixel_down_to_1",
            DOWN,
            mode="linear",
            sizes=[1, 2, 1, 3],
            ctm="pytorch_half_pixel",
            note="an output axis of length 1: pytorch_half_pixel samples x_original = 0",
        )
        rz(
            o,
            "linear_half_pixel_fractional_scale",
            (1, 1, 4, 3),
            mode="linear",
            scales=[1, 1, 1.7, 1],
            ctm="half_pixel",
            note="scale 1.7 on 4 gives 6 outputs; coordinates use 1.7, not 6/4",
        )
        roi1 = [0, 0, 0.2, 0.1, 1, 1, 0.8, 0.9]
        rz(
            o,
            "linear_tf_crop_and_resize_sizes",
            DOWN,
            mode="linear",
            sizes=[1, 2, 4, 5],
            roi=roi1,
            ctm="tf_crop_and_resize",
        )
        roi2 = [0, 0, -0.2, 0.1, 1, 1, 1.1, 0.9]
        rz(
            o,
            "linear_tf_crop_and_resize_extrapolate",
            UP,
            mode="linear",
            sizes=[1, 2, 4, 5],
            roi=roi2,
            ctm="tf_crop_and_resize",
            extrapolation_value=10.0,
            note="roi beyond [0,1] on axis 2: those rows take extrapolation_value 10",
        )
        for nmode in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
            rz(
                o,
                f"nearest_asymmetric_{nmode}_up",
                UP,
                scales=[1, 1, 2, 2],
                ctm="asymmetric",
                nearest_mode=nmode,
                note="x_original = x/2 hits exact halves, so the four nearest_modes differ",
            )
        rz(o, "nearest_half_pixel_up_scales", UP, scales=[1, 1, 1.5, 3])
        rz(
            o,
            "nearest_half_pixel_round_prefer_ceil_down_sizes",
            DOWN,
            sizes=[1, 2, 2, 3],
            ctm="half_pixel",
            nearest_mode="round_prefer_ceil",
        )
        rz(o, "nearest_align_corners_up_sizes", UP, sizes=[1, 2, 5, 7], ctm="align_corners")
        rz(
            o,
            "nearest_tf_half_pixel_for_nn",
            UP,
            scales=[1, 1, 2, 1.5],
            ctm="tf_half_pixel_for_nn",
            np_oracle="x_original = (x_resized + 0.5) / scale",
            note="tf_half_pixel_for_nn exists at opsets 11-17",
        )
        roi3 = [0, 0, 0.15, 0.12, 1, 1, 0.8, 0.85]
        rz(
            o,
            "nearest_tf_crop_and_resize",
            DOWN,
            sizes=[1, 2, 3, 4],
            roi=roi3,
            ctm="tf_crop_and_resize",
            note="roi chosen so that no sampling coordinate is near a rounding tie",
        )
    rz(11, "cubic_half_pixel_up_scales", UP, mode="cubic", scales=[1, 1, 2, 1.5], ctm="half_pixel")
    rz(
        11,
        "cubic_align_corners_a_neg0p5",
        UP,
        mode="cubic",
        sizes=[1, 2, 5, 6],
        ctm="align_corners",
        cubic_coeff_a=-0.5,
    )
    rz(13, "cubic_exclude_outside", DOWN, mode="cubic", scales=[1, 1, 0.8, 0.7], ctm="half_pixel", exclude_outside=1)
    rz(
        13,
        "cubic_pytorch_half_pixel_down_to_1",
        DOWN,
        mode="cubic",
        sizes=[1, 2, 1, 4],
        ctm="pytorch_half_pixel",
        np_oracle="x_original = 0 on an output axis of length 1",
        note="an output axis of length 1: pytorch_half_pixel samples x_original = 0 "
        "(the reference evaluator uses -0.5)",
    )
    rz(
        13,
        "linear_empty_roi_scales_tensors",
        DOWN,
        mode="linear",
        sizes=[1, 2, 3, 4],
        ctm="pytorch_half_pixel",
        empty_tensors=True,
        note="roi and scales given as empty tensors (as PyTorch exports), sizes used",
    )

    # Resize 18/19
    for o in (18, 19):
        rz(o, "linear_half_pixel_up_scales", UP, mode="linear", scales=[1, 1, 2, 1.5])
        rz(
            o,
            "linear_antialias_down_scales",
            DOWN,
            mode="linear",
            scales=[1, 1, 0.5, 0.6],
            antialias=1,
            note="antialias: the linear kernel is stretched by 1/scale when downsampling",
        )
        rz(o, "linear_antialias_down_sizes", DOWN, mode="linear", sizes=[1, 2, 2, 3], antialias=1)
        rz(o, "nearest_up_scales", UP, scales=[1, 1, 2, 1.5])
    rz(18, "cubic_antialias_down_scales", DOWN, mode="cubic", scales=[1, 1, 0.6, 0.5], antialias=1)
    rz(
        18,
        "linear_antialias_up_no_effect",
        UP,
        mode="linear",
        scales=[1, 1, 2, 1.5],
        antialias=1,
        note="antialias only changes downsampling",
    )
    KA = (1, 1, 4, 6)
    for pol in ("not_larger", "not_smaller"):
        rz(
            18,
            f"linear_keep_aspect_{pol}",
            KA,
            mode="linear",
            sizes=[6, 12],
            axes=[2, 3],
            keep_aspect_ratio_policy=pol,
            note="sizes [6,12] for axes [2,3] of [1,1,4,6]: one scale min/max(1.5, 2) for both axes",
        )
        rz(18, f"nearest_keep_aspect_{pol}", KA, sizes=[6, 12], axes=[2, 3], keep_aspect_ratio_policy=pol)
    rz(
        18,
        "linear_axes_scales",
        UP,
        mode="linear",
        scales=[2, 1.5],
        axes=[2, 3],
        note="axes [2,3]: scales has 2 entries",
    )
    rz(
        18,
        "linear_axes_last_only",
        UP,
        mode="linear",
        scales=[2.5],
        axes=[-1],
        oracle=(resize(UP, 18, mode="linear", scales=[2.5], axes=[3]), 18, "the same Resize with axes=[3]"),
        note="negative axes=[-1]: only the last axis is resized",
    )
    rz(18, "nearest_axes_sizes", DOWN, sizes=[3, 4], axes=[2, 3], nearest_mode="floor")
    rz(
        19,
        "linear_half_pixel_symmetric_up",
        (1, 1, 4, 3),
        mode="linear",
        scales=[1, 1, 1.7, 2.5],
        ctm="half_pixel_symmetric",
        note="half_pixel_symmetric with fractional scales (6.8 -> 6 and 7.5 -> 7 outputs)",
    )
    rz(
        19,
        "linear_half_pixel_symmetric_down",
        DOWN,
        mode="linear",
        scales=[1, 1, 0.7, 0.55],
        ctm="half_pixel_symmetric",
    )
    rz(19, "nearest_half_pixel_symmetric_up", (1, 1, 4, 3), scales=[1, 1, 1.7, 2.5], ctm="half_pixel_symmetric")


def cases_normalization():
    # BatchNormalization (inference unless training_mode=1)
    BN = (2, 3, 2, 2)

    def bn(xshape, opset_attrs=None, x=None, stats=None):
        def build(g: G):
            C = xshape[1]
            g.input("x", g.randn(*xshape) if x is None else np.array(x))
            if stats is None:
                sc, bi, me, va = g.unif(0.5, 1.5, C), g.randn(C, scale=0.5), g.randn(C, scale=0.5), g.unif(0.5, 2.0, C)
            else:
                sc, bi, me, va = stats
            names = [g.init(n, np.asarray(v)) for n, v in (("scale", sc), ("bias", bi), ("mean", me), ("var", va))]
            g.node("BatchNormalization", ["x"] + names, **(opset_attrs or {}))
            g.output("y")

        return build

    def bn_check(eps, training=False, stats_fn=None):
        def chk(i):
            # rebuild the same initializers: run the builder once more on a float64 graph
            x = i["x"]
            sc, bi, me, va = stats_fn()
            shp = (1, -1) + (1,) * (x.ndim - 2)
            if training:
                ax = tuple(k for k in range(x.ndim) if k != 1)
                me, va = x.mean(axis=ax), x.var(axis=ax)
            return (x - me.reshape(shp)) / np.sqrt(va.reshape(shp) + eps) * sc.reshape(shp) + bi.reshape(shp)

        return chk

    def stats_of(case_name, build):
        """The float initializers of the case, as the check needs them (same seed as the case)."""

        def get():
            g = G(np.float64, zlib.crc32(case_name.encode()))
            build(g)
            return [nph.to_array(t).astype(np.float64) for t in g.inits]

        return get

    def add_bn(opset, variant, xshape, attrs, eps, training=False, note="", x=None, stats=None, **kw):
        b = bn(xshape, attrs, x=x, stats=stats)
        name = f"batchnorm_opset{opset}_{variant}"
        add(
            "batchnorm",
            "BatchNormalization",
            opset,
            variant,
            b,
            check=bn_check(eps, training, stats_of(name, b)),
            note=note,
            fixed_data=True,
            **kw,
        )

    def bn_oracle(xshape, attrs):
        a = {k: v for k, v in attrs.items() if k == "epsilon"}
        return (bn(xshape, a), 15, "the same BatchNormalization at opset 15 (training_mode=0)")

    add_bn(
        7,
        "inference",
        BN,
        {"epsilon": 1e-3},
        1e-3,
        note="inference: running mean/var initializers",
        oracle=bn_oracle(BN, {"epsilon": 1e-3}),
    )
    add_bn(
        9,
        "inference",
        BN,
        {"epsilon": 1e-3},
        1e-3,
        note="one output: inference with the running mean/var initializers",
        oracle=bn_oracle(BN, {"epsilon": 1e-3}),
    )
    add_bn(
        9,
        "inference_rank3",
        (2, 3, 4),
        {},
        1e-5,
        note="[N,C,L] input, default epsilon",
        oracle=bn_oracle((2, 3, 4), {}),
    )
    add_bn(14, "inference", BN, {"epsilon": 1e-3}, 1e-3)
    add_bn(15, "inference", BN, {"epsilon": 1e-3, "training_mode": 0}, 1e-3, note="training_mode=0 given explicitly")
    add_bn(15, "inference_rank2", (4, 3), {}, 1e-5, note="[N,C] input")

    def bn_train(xshape, x=None, stats=None, three=True):
        def build(g: G):
            C = xshape[1]
            g.input("x", g.randn(*xshape) if x is None else np.array(x))
            if stats is None:
                st = (g.unif(0.5, 1.5, C), g.randn(C, scale=0.5), g.randn(C, scale=0.5), g.unif(0.5, 2.0, C))
            else:
                st = stats
            names = [g.init(n, np.asarray(v)) for n, v in zip(("scale", "bias", "mean", "var"), st)]
            outs = ["y", "running_mean", "running_var"] if three else ["y"]
            g.node("BatchNormalization", ["x"] + names, outs, training_mode=1, momentum=0.8)
            g.output(*outs)

        return build

    def bn_train_check(get_stats, three):
        def chk(i):
            x = i["x"]
            sc, bi, me, va = get_stats()
            ax = tuple(k for k in range(x.ndim) if k != 1)
            bm, bv = x.mean(axis=ax), x.var(axis=ax)
            shp = (1, -1) + (1,) * (x.ndim - 2)
            y = (x - bm.reshape(shp)) / np.sqrt(bv.reshape(shp) + 1e-5) * sc.reshape(shp) + bi.reshape(shp)
            return [y, me * 0.8 + bm * 0.2, va * 0.8 + bv * 0.2] if three else [y]

        return chk

    for o in (14, 15):
        b = bn_train((4, 3, 2))
        nm = f"batchnorm_opset{o}_training_mode_three_outputs"
        add(
            "batchnorm",
            "BatchNormalization",
            o,
            "training_mode_three_outputs",
            b,
            fixed_data=True,
            check=bn_train_check(stats_of(nm, b), True),
            note="training_mode=1, momentum 0.8: Y uses the batch mean and biased variance; "
            "running_mean = 0.8*mean + 0.2*batch_mean, running_var likewise",
        )
    X = [[1.7641, 0.4002, 0.9787], [2.2409, 1.8676, -0.9773], [0.9501, -0.1514, -0.1032]]
    want = np.array([[0.2109, -0.3583, 1.2657], [1.1056, 1.3639, -1.1791], [-1.3165, -1.0056, -0.0866]])
    one_stats = (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))

    def exact(i):
        got = bn_train_check(lambda: [np.asarray(v, dtype=np.float64) for v in one_stats], False)(i)[0]
        assert np.abs(got - want).max() < 1e-4, got
        return got

    def bn_one_out(g: G):
        g.input("x", np.array(X))
        names = [g.init(n, np.asarray(v)) for n, v in zip(("scale", "bias", "mean", "var"), one_stats)]
        g.node("BatchNormalization", ["x"] + names, ["y"], training_mode=1)
        g.output("y")

    add(
        "batchnorm",
        "BatchNormalization",
        15,
        "training_mode",
        bn_one_out,
        check=exact,
        fixed_data=True,
        checker_exception="ONNX shape inference wants all three outputs when training_mode=1; "
        "batchnorm_opset15_training_mode_three_outputs is the valid form",
        note="training_mode=1 and only the Y output; scale 1, bias 0, mean 0, var 1: the batch statistics are used, "
        "giving [[0.2109,-0.3583,1.2657],[1.1056,1.3639,-1.1791],[-1.3165,-1.0056,-0.0866]]",
    )

    # LayerNormalization (opset 17)
    LN = (2, 3, 4)

    def ln(axis, bias, eps):
        def build(g: G):
            g.input("x", g.randn(*LN))
            nshape = LN[axis % 3 :]
            ins = ["x", g.init("scale", g.unif(0.5, 1.5, *nshape))]
            if bias:
                ins.append(g.init("bias", g.randn(*nshape, scale=0.5)))
            attrs = {"axis": axis}
            if eps is not None:
                attrs["epsilon"] = eps
            g.node("LayerNormalization", ins, **attrs)
            g.output("y")

        return build

    for axis, bias, eps, v in (
        (-1, True, None, "axis_neg1_bias"),
        (-1, False, None, "axis_neg1_no_bias"),
        (1, True, 1e-3, "axis1_bias_eps1e-3"),
        (1, False, 1e-2, "axis1_no_bias_eps1e-2"),
    ):
        b = ln(axis, bias, eps)
        nm = f"layernorm_opset17_{v}"
        st = stats_of(nm, b)
        add(
            "layernorm",
            "LayerNormalization",
            17,
            v,
            b,
            fixed_data=True,
            check=lambda i, st=st, axis=axis, bias=bias, eps=eps: np_layer_norm(
                i["x"], axis, st()[0], st()[1] if bias else None, 1e-5 if eps is None else eps
            ),
            note=f"normalises over axes {axis}..-1; scale{' and bias' if bias else ''} of shape x.shape[axis:]",
        )

    # InstanceNormalization
    IN = (2, 3, 2, 3)

    def inorm(g: G):
        g.input("x", g.randn(*IN))
        g.node(
            "InstanceNormalization",
            ["x", g.init("scale", g.unif(0.5, 1.5, 3)), g.init("bias", g.randn(3))],
            epsilon=1e-3,
        )
        g.output("y")

    for o in (6, 22):
        nm = f"instancenorm_opset{o}_basic"
        st = stats_of(nm, inorm)

        def in_chk(i, st=st):
            sc, bi = st()
            x = i["x"]
            m = x.mean(axis=(2, 3), keepdims=True)
            v = x.var(axis=(2, 3), keepdims=True)
            return (x - m) / np.sqrt(v + 1e-3) * sc.reshape(1, 3, 1, 1) + bi.reshape(1, 3, 1, 1)

        add(
            "instancenorm",
            "InstanceNormalization",
            o,
            "basic",
            inorm,
            check=in_chk,
            fixed_data=True,
            note="epsilon 1e-3",
        )

    # GroupNormalization: scale/bias per group at opset 18, per channel at opset 21
    GN = (2, 4, 2, 3)

    def gn(groups, per_group, eps=1e-3):
        def build(g: G):
            g.input("x", g.randn(*GN))
            n = groups if per_group else GN[1]
            # stash_type (opset 21) sets the precision of the statistics, float32 by default: the
            # float64 twin asks for double so that its finite differences are not float32 noise.
            extra = {"stash_type": TP.DOUBLE} if not per_group and g.dt == np.float64 else {}
            g.node(
                "GroupNormalization",
                ["x", g.init("scale", g.unif(0.5, 1.5, n)), g.init("bias", g.randn(n, scale=0.5))],
                num_groups=groups,
                epsilon=eps,
                **extra,
            )
            g.output("y")

        return build

    for o, groups, per_group, v in (
        (18, 2, True, "groups2_scale_per_group"),
        (18, 1, True, "groups1"),
        (21, 2, False, "groups2_scale_per_channel"),
        (21, 4, False, "groups4_per_channel"),
    ):
        b = gn(groups, per_group)
        st = stats_of(f"groupnorm_opset{o}_{v}", b)
        add(
            "groupnorm",
            "GroupNormalization",
            o,
            v,
            b,
            fixed_data=True,
            checker_exception="GroupNormalization-18 is marked deprecated (its scale/bias per group was replaced "
            "at opset 21), so the checker refuses it"
            if o == 18
            else "",
            check=lambda i, st=st, groups=groups, per_group=per_group: np_group_norm(
                i["x"], groups, st()[0], st()[1], 1e-3, per_group
            ),
            note=(
                "opset 18: scale and bias have one entry per group"
                if per_group
                else "opset 21: scale and bias have one entry per channel"
            )
            + f"; C=4, num_groups={groups}",
        )

    # LRN
    LR = (2, 5, 2, 2)
    for o, size, alpha, beta, bias, v in (
        (1, 3, 0.5, 0.75, 1.0, "size3"),
        (13, 3, 0.5, 0.75, 1.0, "size3"),
        (13, 5, 0.3, 0.6, 2.0, "size5"),
        (13, 4, 0.5, 0.75, 1.0, "size4_even"),
        (13, 3, None, None, None, "size3_default_attrs"),
    ):
        attrs = {"size": size}
        for k, val in (("alpha", alpha), ("beta", beta), ("bias", bias)):
            if val is not None:
                attrs[k] = val
        lrn_np = lambda i, size=size, a=alpha, b=beta, c=bias: np_lrn(  # noqa: E731
            i["x"], size, 1e-4 if a is None else a, 0.75 if b is None else b, 1.0 if c is None else c
        )
        add(
            "lrn",
            "LRN",
            o,
            v,
            one("LRN", LR, attrs=attrs),
            check=lrn_np,
            oracle=(lrn_np, "numpy", "numpy LRN (square sums over the channel window)"),
            note=f"size {size}: window over channels [c - floor((size-1)/2), c + ceil((size-1)/2)]",
        )

    # LpNormalization
    for o in (1, 22):
        add(
            "lpnorm",
            "LpNormalization",
            o,
            "p2_axis_neg1",
            one("LpNormalization", (2, 3, 4), attrs={"p": 2, "axis": -1}),
            check=lambda i: i["x"] / np.sqrt((i["x"] ** 2).sum(-1, keepdims=True)),
        )
    lp1 = lambda i: i["x"] / np.abs(i["x"]).sum(1, keepdims=True)  # noqa: E731
    add(
        "lpnorm",
        "LpNormalization",
        1,
        "p1_axis1",
        one(
            "LpNormalization",
            (2, 3, 4),
            attrs={"p": 1, "axis": 1},
            x_fn=lambda g: g.away(2, 3, 4, kinks=(0,), gap=0.05),
        ),
        check=lp1,
        oracle=(lp1, "numpy", "numpy x / sum(|x|)"),
        note="p=1: the norm is the sum of absolute values",
    )


def cases_conv_pool():
    def conv(xs, ws, bias=True, op="Conv", **attrs):
        def build(g: G):
            g.input("x", g.randn(*xs))
            ins = ["x", g.init("w", g.randn(*ws, scale=0.5))]
            if bias:
                M = ws[0] if op == "Conv" else ws[1] * attrs.get("group", 1)
                ins.append(g.init("b", g.randn(M, scale=0.5)))
            g.node(op, ins, **attrs)
            g.output("y")

        return build

    def conv_check(name, build, op, **attrs):
        def chk(i):
            g = G(np.float64, zlib.crc32(name.encode()))
            build(g)
            ts = [nph.to_array(t).astype(np.float64) for t in g.inits]
            w, b = ts[0], (ts[1] if len(ts) > 1 else None)
            a = {k: v for k, v in attrs.items() if k != "kernel_shape"}
            return (np_conv if op == "Conv" else np_conv_transpose)(i["x"], w, b, **a)

        return chk

    def addc(opset, variant, xs, ws, bias=True, op="Conv", note="", np_oracle=None, **attrs):
        b = conv(xs, ws, bias, op, **attrs)
        pre = op.lower()
        name = f"{pre}_opset{opset}_{variant}"
        chk = conv_check(name, b, op, **attrs)
        oracle = (chk, "numpy", f"a numpy {op} written from the spec ({np_oracle})") if np_oracle else None
        add(pre, op, opset, variant, b, check=chk, note=note, fixed_data=True, oracle=oracle)

    addc(1, "basic_pads1", (1, 2, 5, 5), (3, 2, 3, 3), pads=[1, 1, 1, 1])
    addc(11, "basic_pads1", (1, 2, 5, 5), (3, 2, 3, 3), pads=[1, 1, 1, 1], note="W [3,2,3,3] and B [3] initializers")
    addc(22, "basic_pads1", (1, 2, 5, 5), (3, 2, 3, 3), pads=[1, 1, 1, 1])
    addc(
        11, "no_bias_no_pads", (2, 2, 4, 5), (2, 2, 3, 3), bias=False, kernel_shape=[3, 3], note="explicit kernel_shape"
    )
    addc(11, "depthwise", (1, 3, 5, 5), (3, 1, 3, 3), group=3, pads=[1, 1, 1, 1], note="group = C = 3")
    addc(11, "group2", (1, 4, 4, 4), (4, 2, 3, 3), group=2, pads=[1, 1, 1, 1])
    addc(11, "dilations2", (1, 2, 6, 6), (2, 2, 3, 3), dilations=[2, 2], pads=[1, 2, 1, 2])
    addc(11, "strides2", (1, 2, 6, 5), (2, 2, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1])
    addc(
        11,
        "asymmetric_pads",
        (1, 2, 4, 5),
        (2, 2, 3, 3),
        pads=[0, 1, 2, 0],
        note="pads [h_begin=0, w_begin=1, h_end=2, w_end=0]",
    )
    addc(
        11,
        "auto_pad_same_upper_strides2",
        (1, 2, 6, 5),
        (2, 2, 3, 3),
        strides=[2, 2],
        auto_pad="SAME_UPPER",
        note="odd total padding on H goes at the end",
    )
    addc(
        11,
        "auto_pad_same_lower_strides2",
        (1, 2, 6, 5),
        (2, 2, 3, 3),
        strides=[2, 2],
        auto_pad="SAME_LOWER",
        note="odd total padding on H goes at the beginning",
    )
    addc(11, "auto_pad_valid", (1, 2, 5, 6), (2, 2, 3, 2), auto_pad="VALID")
    addc(11, "kernel_2x3_strides_1x2", (1, 2, 5, 6), (3, 2, 2, 3), strides=[1, 2], pads=[1, 0, 0, 1])
    addc(11, "conv1d", (1, 2, 9), (3, 2, 3), strides=[2], pads=[1, 1])

    addc(1, "strides2", (1, 2, 3, 3), (2, 3, 3, 3), op="ConvTranspose", strides=[2, 2])
    addc(
        11,
        "strides2",
        (1, 2, 3, 3),
        (2, 3, 3, 3),
        op="ConvTranspose",
        strides=[2, 2],
        note="W [C_in=2, M=3, 3, 3]; output (3-1)*2+3 = 7",
    )
    addc(
        11,
        "strides2_pads1_output_padding1",
        (1, 2, 3, 3),
        (2, 3, 3, 3),
        op="ConvTranspose",
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        output_padding=[1, 1],
        note="output (3-1)*2 + 1 + 3 - 2 = 6",
    )
    addc(11, "dilations2", (1, 2, 3, 3), (2, 2, 2, 2), op="ConvTranspose", dilations=[2, 2], bias=False)
    addc(
        11,
        "group2",
        (1, 4, 3, 3),
        (4, 1, 3, 3),
        op="ConvTranspose",
        group=2,
        strides=[2, 1],
        np_oracle="group=2",
        note="group 2: W [4, 1, 3, 3], M = 2",
    )
    addc(
        11,
        "output_shape",
        (1, 2, 3, 3),
        (2, 2, 3, 3),
        op="ConvTranspose",
        strides=[2, 2],
        output_shape=[6, 6],
        np_oracle="output_shape",
        note="output_shape [6,6]: total padding 1; with auto_pad NOTSET the spec puts total - total/2 = 1 "
        "at the beginning",
    )
    addc(
        11,
        "output_shape_even_padding",
        (1, 2, 3, 3),
        (2, 2, 3, 3),
        op="ConvTranspose",
        strides=[2, 2],
        output_shape=[5, 5],
        np_oracle="output_shape",
        note="output_shape [5,5]: total padding 2, one on each side",
    )
    addc(
        11,
        "auto_pad_same_upper",
        (1, 2, 3, 3),
        (2, 2, 3, 3),
        op="ConvTranspose",
        strides=[2, 2],
        auto_pad="SAME_UPPER",
        note="output = input * stride = 6; the odd padding goes at the end",
    )
    addc(11, "strides3_1d", (1, 2, 4), (2, 3, 3), op="ConvTranspose", strides=[3], pads=[1, 0])
    addc(22, "strides2", (1, 2, 3, 3), (2, 3, 3, 3), op="ConvTranspose", strides=[2, 2])

    # Pooling
    def pool(op, xs, outputs=("y",), dist=True, **attrs):
        def build(g: G):
            g.input("x", g.distinct(*xs, lo=-3, hi=3) if dist else g.randn(*xs))
            g.node(op, ["x"], list(outputs), **attrs)
            g.output(*outputs)

        return build

    def pool_check(kind, **attrs):
        def chk(i):
            return np_pool(
                i["x"],
                kind,
                attrs["kernel_shape"],
                attrs.get("strides"),
                attrs.get("pads"),
                attrs.get("dilations"),
                attrs.get("ceil_mode", 0),
                attrs.get("count_include_pad", 0),
                attrs.get("auto_pad", "NOTSET"),
            )

        return chk

    X5, X6 = (1, 2, 5, 5), (1, 2, 6, 6)
    mp = [
        ("k2s2", X5, dict(kernel_shape=[2, 2], strides=[2, 2]), (1, 8, 10, 12, 22)),
        ("k3s2_pads1", X6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (1, 8, 10, 12)),
        ("k3_default_strides", X5, dict(kernel_shape=[3, 3]), (8, 12)),
        ("k2s1_asymmetric_pads", X5, dict(kernel_shape=[3, 2], strides=[1, 2], pads=[0, 1, 1, 0]), (8, 12)),
        ("auto_pad_same_upper", X5, dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), (8, 12)),
        ("auto_pad_same_lower", X5, dict(kernel_shape=[2, 2], auto_pad="SAME_LOWER"), (8, 12)),
        ("auto_pad_valid", X5, dict(kernel_shape=[2, 3], strides=[2, 1], auto_pad="VALID"), (12,)),
        ("ceil_mode", X5, dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), (10, 12)),
        ("ceil_mode_pads1", X6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1), (10, 12)),
        ("dilations2", X5, dict(kernel_shape=[2, 2], dilations=[2, 2]), (10, 12)),
        (
            "dilations2_strides2_pads1",
            X6,
            dict(kernel_shape=[2, 2], dilations=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
            (12,),
        ),
        ("pool1d", (1, 3, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1]), (12,)),
    ]
    for v, xs, attrs, opsets in mp:
        for o in opsets:
            add(
                "maxpool",
                "MaxPool",
                o,
                v,
                pool("MaxPool", xs, **attrs),
                check=pool_check("max", **attrs),
                note="distinct input values (no ties)",
            )

    def mp_idx_check(i):
        x = i["x"]
        y = np_pool(x, "max", [2, 2], [2, 2])
        N, C, H, W = x.shape
        idx = np.zeros(y.shape, dtype=np.int64)
        for n, c, a, b in itertools.product(*[range(d) for d in y.shape]):
            win = x[n, c, 2 * a : 2 * a + 2, 2 * b : 2 * b + 2]
            r, q = np.unravel_index(win.argmax(), win.shape)
            idx[n, c, a, b] = ((n * C + c) * H + 2 * a + r) * W + 2 * b + q
        return [y, idx]

    add(
        "maxpool",
        "MaxPool",
        12,
        "with_indices",
        pool("MaxPool", (1, 2, 4, 4), ("y", "indices"), kernel_shape=[2, 2], strides=[2, 2]),
        check=mp_idx_check,
        note="second output Indices (int64, flat NCHW row-major positions)",
    )

    ap = [
        ("k2s2", X5, dict(kernel_shape=[2, 2], strides=[2, 2]), (1, 7, 11, 19, 22)),
        ("pads1_count_include_pad0", X5, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (7, 11, 19)),
        (
            "pads1_count_include_pad1",
            X5,
            dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
            (7, 11, 19),
        ),
        (
            "asymmetric_pads_count_include_pad1",
            X5,
            dict(kernel_shape=[2, 3], pads=[0, 1, 1, 2], count_include_pad=1),
            (11,),
        ),
        ("ceil_mode", X5, dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), (10, 11, 17, 19)),
        (
            "ceil_mode_pads1_count_include_pad0",
            X6,
            dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
            (10, 11, 19),
        ),
        (
            "ceil_mode_pads1_count_include_pad1",
            X6,
            dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
            (10, 11, 19),
        ),
        ("auto_pad_same_upper", X5, dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), (11, 19)),
        (
            "auto_pad_same_lower_count_include_pad1",
            X5,
            dict(kernel_shape=[2, 2], auto_pad="SAME_LOWER", count_include_pad=1),
            (11,),
        ),
        ("dilations2", X5, dict(kernel_shape=[2, 2], dilations=[2, 2]), (19,)),
        (
            "dilations2_pads1_count_include_pad1",
            X5,
            dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
            (19,),
        ),
        ("pool1d", (1, 3, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1]), (11,)),
    ]
    for v, xs, attrs, opsets in ap:
        for o in opsets:
            # ceil_mode at opset 17 too: averagepool_opset17_ceil_mode (onnx-ir refused ceil_mode below 19)
            add(
                "averagepool",
                "AveragePool",
                o,
                v,
                pool("AveragePool", xs, dist=False, **attrs),
                check=pool_check("avg", **attrs),
                note=(
                    "ceil_mode=1: the last window runs past the input; only the part inside the (padded) input counts"
                    if attrs.get("ceil_mode")
                    else ""
                ),
            )
    for o in (1, 22):
        add(
            "globalaveragepool",
            "GlobalAveragePool",
            o,
            "basic",
            pool("GlobalAveragePool", (2, 3, 2, 3), dist=False),
            check=lambda i: i["x"].mean(axis=(2, 3), keepdims=True),
        )
        add(
            "globalmaxpool",
            "GlobalMaxPool",
            o,
            "basic",
            pool("GlobalMaxPool", (2, 3, 2, 3)),
            check=lambda i: i["x"].max(axis=(2, 3), keepdims=True),
        )
    add(
        "globalaveragepool",
        "GlobalAveragePool",
        1,
        "rank3",
        pool("GlobalAveragePool", (2, 3, 5), dist=False),
        check=lambda i: i["x"].mean(axis=2, keepdims=True),
    )


def cases_gemm_matmul():
    M, K, N = 3, 4, 5

    def gemm(ta=0, tb=0, alpha=None, beta=None, cshape=(N,), b_input=False, extra=None):
        def build(g: G):
            g.input("a", g.randn(*((K, M) if ta else (M, K))))
            bsh = (N, K) if tb else (K, N)
            ins = ["a", g.input("b", g.randn(*bsh)) if b_input else g.init("b", g.randn(*bsh, scale=0.5))]
            if cshape is not None:
                ins.append(g.init("c", g.randn(*cshape)))
            attrs = dict(extra or {})
            for k, v in (("transA", ta), ("transB", tb), ("alpha", alpha), ("beta", beta)):
                if v:
                    attrs[k] = v
            g.node("Gemm", ins, **attrs)
            g.output("y")

        return build

    def gemm_check(name, build, ta, tb, alpha, beta, b_input, has_c):
        def chk(i):
            g = G(np.float64, zlib.crc32(name.encode()))
            build(g)
            ts = [nph.to_array(t).astype(np.float64) for t in g.inits]
            a = i["a"].T if ta else i["a"]
            if b_input:
                b = i["b"]
                c = ts[0] if has_c else 0.0
            else:
                b = ts[0]
                c = ts[1] if has_c else 0.0
            b = b.T if tb else b
            return (1.0 if alpha is None else alpha) * a @ b + (1.0 if beta is None else beta) * c

        return chk

    def addg(opset, variant, ta=0, tb=0, alpha=None, beta=None, cshape=(N,), b_input=False, note="", extra=None):
        b = gemm(ta, tb, alpha, beta, cshape, b_input, extra)
        name = f"gemm_opset{opset}_{variant}"
        add(
            "gemm",
            "Gemm",
            opset,
            variant,
            b,
            check=gemm_check(name, b, ta, tb, alpha, beta, b_input, cshape is not None),
            fixed_data=True,
            note=note,
        )

    addg(6, "broadcast_c_n", extra={"broadcast": 1}, note="opset 6: broadcast=1 lets C [N] broadcast")
    addg(7, "c_n", note="C [N]")
    addg(9, "c_n", note="A [3,4] graph input; B [4,5] and C [5] initializers")
    addg(
        9, "transb_alpha_beta_c_1n", tb=1, alpha=0.5, beta=2.0, cshape=(1, N), note="transB, alpha 0.5, beta 2, C [1,N]"
    )
    addg(9, "transa_c_scalar", ta=1, cshape=(), note="transA, C a 0-d tensor")
    addg(11, "no_c", cshape=None, note="C omitted (optional since opset 11)")
    addg(11, "c_m1", cshape=(M, 1), alpha=1.5, note="C [M,1]")
    addg(13, "transa_transb_c_scalar", ta=1, tb=1, alpha=0.7, beta=0.3, cshape=(), note="")
    addg(13, "c_mn", cshape=(M, N), beta=-1.0)
    addg(13, "c_n", cshape=(N,))
    addg(13, "b_input", b_input=True, tb=1, note="B is a second graph input (gradient for both A and B)")

    def mm(ash, bsh, b_init=False):
        def build(g: G):
            g.input("a", g.randn(*ash))
            if b_init:
                g.init("b", g.randn(*bsh, scale=0.5))
            else:
                g.input("b", g.randn(*bsh))
            g.node("MatMul", ["a", "b"])
            g.output("y")

        return build

    def mm_check(name, build, b_init):
        def chk(i):
            b = i.get("b")
            if b_init:
                g = G(np.float64, zlib.crc32(name.encode()))
                build(g)
                b = nph.to_array(g.inits[0]).astype(np.float64)
            return np.matmul(i["a"], b)

        return chk

    for o, v, ash, bsh, bi, note in (
        (1, "2d_b_initializer", (M, K), (K, N), True, ""),
        (9, "2d_b_initializer", (M, K), (K, N), True, ""),
        (13, "2d_b_initializer", (M, K), (K, N), True, "B [4,5] initializer"),
        (13, "3d_2d_b_initializer", (2, M, K), (K, N), True, "A [2,3,4] with an initializer B [4,5] (a linear layer)"),
        (13, "batched_3d", (2, M, K), (2, K, N), False, "both [2,...] graph inputs"),
        (13, "broadcast_4d_3d", (2, 1, M, K), (3, K, 2), False, "A [2,1,3,4] x B [3,4,2] -> [2,3,3,2]"),
        (13, "1d_2d", (K,), (K, N), False, "1-D A is promoted to [1,K] and the 1 removed"),
        (13, "2d_1d", (M, K), (K,), False, "1-D B is promoted to [K,1] and the 1 removed"),
        (13, "1d_3d", (K,), (2, K, N), False, "[4] x [2,4,5] -> [2,5]"),
        (13, "1d_1d", (K,), (K,), False, "dot product: a 0-d output"),
    ):
        b = mm(ash, bsh, bi)
        add("matmul", "MatMul", o, v, b, check=mm_check(f"matmul_opset{o}_{v}", b, bi), fixed_data=True, note=note)

    # Dropout in inference: identity
    def dropout(ratio_attr=None, ratio_in=None, training=None, mask=False, is_test=None):
        def build(g: G):
            g.input("x", g.randn(2, 3, 4))
            ins = ["x"]
            attrs = {}
            if ratio_attr is not None:
                attrs["ratio"] = ratio_attr
            if is_test is not None:
                attrs["is_test"] = is_test
            if ratio_in is not None:
                ins.append(g.init("ratio", np.array(ratio_in), dtype=np.float32))
            if training is not None:
                if ratio_in is None:
                    ins.append("")
                ins.append(g.init("training_mode", np.array(training, dtype=np.bool_), dtype=np.bool_))
            outs = ["y", "mask"] if mask else ["y"]
            g.node("Dropout", ins, outs, **attrs)
            g.output(*outs)

        return build

    ident = lambda i: i["x"]  # noqa: E731
    add(
        "dropout",
        "Dropout",
        6,
        "is_test",
        dropout(ratio_attr=0.3, is_test=1),
        check=ident,
        note="opset 6: is_test=1",
        oracle=(ident, "numpy", "identity"),
    )
    add("dropout", "Dropout", 7, "ratio_attr", dropout(ratio_attr=0.3), check=ident, note="inference: identity")
    add("dropout", "Dropout", 10, "ratio_attr", dropout(ratio_attr=0.3), check=ident)
    add(
        "dropout",
        "Dropout",
        12,
        "ratio_input",
        dropout(ratio_in=0.4),
        check=ident,
        note="ratio as an initializer input; no training_mode: identity",
    )
    add(
        "dropout",
        "Dropout",
        12,
        "training_mode_false",
        dropout(ratio_in=0.4, training=False),
        check=ident,
        note="training_mode input false: identity",
    )
    add(
        "dropout",
        "Dropout",
        13,
        "with_mask",
        dropout(ratio_in=0.5, mask=True),
        check=lambda i: [i["x"], np.ones(i["x"].shape, dtype=bool)],
        note="inference with the mask output: all true",
    )
    add("dropout", "Dropout", 22, "no_ratio", dropout(), check=ident)


def define_cases():
    for fn in (
        cases_activations,
        cases_elementwise,
        cases_softmax_reduce,
        cases_shape,
        cases_pad,
        cases_resize,
        cases_normalization,
        cases_conv_pool,
        cases_gemm_matmul,
    ):
        fn()


if __name__ == "__main__":
    sys.exit(main())
