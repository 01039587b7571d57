"""Writes the seed corpora in ../corpus/<target>/ (run with a Python that has numpy, torch and onnx,
e.g. /tmp/zoo-venv/bin/python make_seeds.py). Deterministic: fixed seeds, no timestamps in tars."""
import gzip, io, os, struct, tarfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, "..", "corpus")
rng = np.random.default_rng(0)

def put(target, name, data):
    with open(os.path.join(C, target, name), "wb") as f:
        f.write(data)

def npy(arr, **kw):
    b = io.BytesIO(); np.lib.format.write_array(b, arr, **kw); return b.getvalue()

# ---- npy
put("npy", "u8_nhw.npy", npy(rng.integers(0, 256, (2, 4, 4), dtype=np.uint8)))
put("npy", "u8_nchw.npy", npy(rng.integers(0, 256, (1, 3, 3, 3), dtype=np.uint8)))
put("npy", "f32_nchw.npy", npy(rng.random((2, 1, 3, 3), dtype=np.float32)))
put("npy", "f32_nan.npy", npy(np.array([[[0.5, np.nan]]], dtype=np.float32)))
put("npy", "f64_nhw.npy", npy(rng.random((1, 2, 3))))
put("npy", "f16.npy", npy(rng.random((1, 2, 2)).astype(np.float16)))
put("npy", "i64_labels.npy", npy(np.array([0, 3, 9, 1], dtype=np.int64)))
put("npy", "i32_be.npy", npy(np.array([1, -2, 3], dtype=">i4")))
put("npy", "u16.npy", npy(np.array([1, 65535], dtype=np.uint16)))
put("npy", "i8.npy", npy(np.array([-1, 5], dtype=np.int8)))
put("npy", "bool.npy", npy(np.array([True, False])))
put("npy", "fortran.npy", npy(np.asfortranarray(rng.random((2, 3), dtype=np.float32))))
put("npy", "scalar.npy", npy(np.array(7, dtype=np.uint8)))
put("npy", "empty.npy", npy(np.zeros((0, 4, 4), dtype=np.uint8)))
put("npy", "v2.npy", npy(np.arange(6, dtype=np.uint8).reshape(1, 2, 3), version=(2, 0)))
put("npy", "v3.npy", npy(np.arange(4, dtype="<f4").reshape(1, 2, 2), version=(3, 0)))
put("npy", "object.npy", npy(np.array([1, "a"], dtype=object), allow_pickle=True))
put("npy", "structured.npy", npy(np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")])))

# ---- idx
def idx(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()

imgs = rng.integers(0, 256, (2, 6, 5), dtype=np.uint8)
put("idx", "images_r3.idx", idx(imgs))
put("idx", "labels_r1.idx", idx([3, 9]))
put("idx", "images_r3.idx.gz", gzip.compress(idx(imgs), mtime=0))
put("idx", "labels_r1.idx.gz", gzip.compress(idx([0, 1, 2]), mtime=0))
put("idx", "images_28.idx", idx(rng.integers(0, 256, (1, 28, 28), dtype=np.uint8)))
put("idx", "empty_r3.idx", idx(np.zeros((0, 28, 28), dtype=np.uint8)))
put("idx", "rank2.idx", idx(np.zeros((2, 2), dtype=np.uint8)))

# ---- tar.gz
def tgz(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name); info.mtime = 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE; t.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE; info.linkname = data; t.addfile(info)
            else:
                info.size = len(data); t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)

put("tar_gz", "lfw.tgz", tgz([("lfw", "dir", None), ("lfw/Ann_Lee", "dir", None),
                              ("lfw/Ann_Lee/Ann_Lee_0001.jpg", "file", b"\xff\xd8 jpeg"),
                              ("./lfw/Bo_Wu/Bo_Wu_0001.jpg", "file", b"two")]))
put("tar_gz", "long_name.tgz", tgz([("d/" + "x" * 150 + ".txt", "file", b"long")]))
put("tar_gz", "symlink.tgz", tgz([("lfw/link", "sym", "/etc"), ("lfw/a", "file", b"a")]))
put("tar_gz", "dotdot.tgz", tgz([("ok", "file", b"1"), ("../evil", "file", b"2")]))
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    info = tarfile.TarInfo("pax/\u00e9t\u00e9.txt"); info.size = 3; info.mtime = 0
    t.addfile(info, io.BytesIO(b"pax"))
put("tar_gz", "pax.tgz", gzip.compress(raw.getvalue(), mtime=0))

# ---- pth (torch.save, zip and legacy containers)
import collections, pickle
import torch

torch.manual_seed(0)

def resnet_state_dict(widths=(2, 2, 4, 4), stem=2, classes=3, blocks=(1, 1, 1, 1), dtype=torch.float32):
    sd = collections.OrderedDict()
    def bn(prefix, c):
        sd[prefix + ".weight"] = torch.rand(c, dtype=dtype)
        sd[prefix + ".bias"] = torch.rand(c, dtype=dtype)
        sd[prefix + ".running_mean"] = torch.rand(c, dtype=dtype)
        sd[prefix + ".running_var"] = torch.rand(c, dtype=dtype) + 0.5
        sd[prefix + ".num_batches_tracked"] = torch.tensor(0)
    sd["conv1.weight"] = torch.randn(stem, 3, 7, 7, dtype=dtype)
    bn("bn1", stem)
    cin = stem
    for s, (w, n) in enumerate(zip(widths, blocks), start=1):
        for b in range(n):
            p = f"layer{s}.{b}"
            sd[p + ".conv1.weight"] = torch.randn(w, cin, 3, 3, dtype=dtype)
            bn(p + ".bn1", w)
            sd[p + ".conv2.weight"] = torch.randn(w, w, 3, 3, dtype=dtype)
            bn(p + ".bn2", w)
            if b == 0 and (s > 1 or cin != w):
                sd[p + ".downsample.0.weight"] = torch.randn(w, cin, 1, 1, dtype=dtype)
                bn(p + ".downsample.1", w)
            cin = w
    sd["fc.weight"] = torch.randn(classes, cin, dtype=dtype)
    sd["fc.bias"] = torch.randn(classes, dtype=dtype)
    return sd

def save(obj, legacy=False):
    b = io.BytesIO()
    torch.save(obj, b, _use_new_zipfile_serialization=not legacy)
    return b.getvalue()

sd = resnet_state_dict()
put("pth", "resnet_zip.pth", save(sd))
put("pth", "resnet_legacy.pth", save(sd, legacy=True))
put("pth", "resnet_f16_legacy.pth", save(resnet_state_dict(dtype=torch.float16), legacy=True))
nested = {"epoch": 3, "state_dict": collections.OrderedDict(("module." + k, v) for k, v in resnet_state_dict(dtype=torch.bfloat16).items())}
put("pth", "nested_module_bf16_zip.pth", save(nested))
put("pth", "small_zip.pth", save({"w": torch.arange(6, dtype=torch.float64).reshape(2, 3), "n": torch.tensor([1, 2], dtype=torch.int32)}))
put("pth", "small_legacy.pth", save({"w": torch.ones(2), "b": torch.zeros(1, dtype=torch.uint8)}, legacy=True))
put("pth", "view_legacy.pth", save({"a": torch.arange(8.0)[2:6], "b": torch.arange(8.0).reshape(2, 4).t()}, legacy=True))
import os, subprocess
# References to unsafe callables (never called): GLOBAL (protocol 2) and STACK_GLOBAL (protocol 4).
put("pth", "unsafe_global.pth", pickle.dumps({"f": os.system}, protocol=2))
put("pth", "unsafe_stack_global.pth", pickle.dumps({"f": subprocess.Popen, "c": collections.Counter()}, protocol=4))
put("pth", "plain_pickle.pth", pickle.dumps({"a": [1, 2.5, "x", b"y", None, True]}, protocol=4))
tar_raw = io.BytesIO()
with tarfile.open(fileobj=tar_raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("sys_info", pickle.dumps({"little_endian": True}, protocol=2)),
                       ("pickle", pickle.dumps(collections.OrderedDict(a=1), protocol=2))]:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
put("pth", "legacy_tar_container.pth", tar_raw.getvalue())

# ---- onnx (onnx.helper, opset 17; input `image` [batch, C, H, W])
import onnx
from onnx import TensorProto, helper, numpy_helper

def model(nodes, inits, inp_shape, out_shape, name, opset=17, elem=TensorProto.FLOAT):
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", elem, inp_shape)],
        [helper.make_tensor_value_info("logits", elem, out_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="netlens-fuzz-seeds")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()

f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
put("onnx", "cnn.onnx", model([
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("GlobalAveragePool", ["p1"], ["g"]),
    helper.make_node("Flatten", ["g"], ["f"], axis=1),
    helper.make_node("Gemm", ["f", "fcw", "fcb"], ["logits"], transB=1),
], {"w1": f32(4, 1, 3, 3), "b1": f32(4), "fcw": f32(3, 4), "fcb": f32(3)}, ["batch", 1, 8, 8], ["batch", 3], "cnn"))
put("onnx", "resblock_bn.onnx", model([
    helper.make_node("Conv", ["image", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
    helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"], epsilon=1e-5),
    helper.make_node("Relu", ["n1"], ["r1"]),
    helper.make_node("Conv", ["r1", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Add", ["c2", "r1"], ["a"]),
    helper.make_node("Relu", ["a"], ["r2"]),
    helper.make_node("AveragePool", ["r2"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Reshape", ["ap", "shape"], ["flat"]),
    helper.make_node("MatMul", ["flat", "mw"], ["mm"]),
    helper.make_node("Add", ["mm", "mb"], ["z"]),
    helper.make_node("Softmax", ["z"], ["logits"], axis=-1),
], {"w1": f32(2, 3, 3, 3), "s": f32(2), "b": f32(2), "m": f32(2), "v": np.abs(f32(2)) + 0.5,
    "w2": f32(2, 2, 3, 3), "shape": np.array([0, -1], dtype=np.int64), "mw": f32(8, 4), "mb": f32(4)},
   ["N", 3, 4, 4], ["N", 4], "resblock"))
put("onnx", "mlp_fixed_batch.onnx", model([
    helper.make_node("Flatten", ["image"], ["f"]),
    helper.make_node("Gemm", ["f", "w", "b"], ["h"], transB=1),
    helper.make_node("Sigmoid", ["h"], ["s"]),
    helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, dtype=np.float32))),
    helper.make_node("Mul", ["s", "two"], ["logits"]),
], {"w": f32(5, 16), "b": f32(5)}, [1, 1, 4, 4], [1, 5], "mlp", opset=13))
put("onnx", "fp16.onnx", model([
    helper.make_node("Conv", ["image", "w"], ["c"], kernel_shape=[1, 1]),
    helper.make_node("ReduceMean", ["c"], ["logits"], axes=[2, 3], keepdims=0),
], {"w": f32(2, 1, 1, 1).astype(np.float16)}, ["n", 1, 2, 2], ["n", 2], "fp16", opset=13, elem=TensorProto.FLOAT16))
put("onnx", "transpose_concat.onnx", model([
    helper.make_node("Transpose", ["image"], ["t"], perm=[0, 1, 3, 2]),
    helper.make_node("Concat", ["image", "t"], ["cat"], axis=1),
    helper.make_node("Conv", ["cat", "w"], ["c"], kernel_shape=[2, 2], group=2),
    helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.1),
    helper.make_node("GlobalMaxPool", ["l"], ["g"]),
    helper.make_node("Squeeze", ["g", "axes"], ["logits"]),
], {"w": f32(2, 1, 2, 2), "axes": np.array([2, 3], dtype=np.int64)}, ["N", 1, 3, 3], ["N", 2], "tc"))

class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2 * 4 * 4, 3)
    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))

b = io.BytesIO()
torch.onnx.export(Tiny().eval(), torch.zeros(1, 1, 8, 8), b, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
put("onnx", "torch_export.onnx", b.getvalue())
