#!/usr/bin/env python3
"""libnn's ONNX files checked by the ONNX tools themselves.

1. Exports: for every activation, F32 and F64, with and without biases,
   libnn writes a model (nn_model_export_onnx); onnx.checker (full_check)
   accepts it, it declares opset 13 and a symbolic batch dimension, and
   onnxruntime's outputs equal nn_model_forward's within 1e-6 relative
   (|ort - nn| <= 1e-6 * max(|nn|) per output, for batches of 1, 7 and 100).
2. Torch fixtures (tests/fixtures/onnx, written by make_fixtures.py with
   torch.onnx.export): onnxruntime reproduces PyTorch's stored outputs (the
   fixture is sound), libnn imports each one and reproduces them too, and
   libnn's re-export of the imported model runs in onnxruntime with the
   same outputs; the unsupported ones raise nn.UnsupportedError naming the
   node and op.

Needs numpy, onnx, onnxruntime (tests/onnx/run_check.sh installs them into a
venv under the build folder) and the Python binding (PYTHONPATH, and
NN_LIBRARY_PATH naming the libnn.so under test).
"""
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "onnx")
ACTS = ["identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(got, want, rtol, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        check(False, "%s: shape %s != %s" % (what, got.shape, want.shape))
        return
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    check(err <= rtol * scale, "%s: max |diff| %.3g > %.1g * %.3g" % (what, err, rtol, scale))
    return err / scale


def run_nn(model, x):
    """nn_model_forward (in the model's dtype, any rank; predict is F32 rows only)."""
    return np.asarray(model.forward(x).numpy())


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def check_export(model, in_features, dtype, what, tmp):
    path = os.path.join(tmp, "m.onnx")
    model.export_onnx(path)
    proto = onnx.load(path)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: onnx.checker: %s" % (what, e))
        return
    opsets = {o.domain: o.version for o in proto.opset_import}
    check(opsets.get("", opsets.get("ai.onnx")) == 13, "%s: opset %s" % (what, opsets))
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    check(dim0.dim_param == "batch", "%s: batch dimension %r" % (what, dim0))
    sess = session(path)
    rng = np.random.default_rng(5)
    worst = 0.0
    for rows in (1, 7, 100):
        x = rng.uniform(-3, 3, size=(rows, in_features)).astype(dtype)
        x[0, 0] = 0.0  # STEP at 0
        y_ort = sess.run(None, {"input": x})[0]
        y_nn = run_nn(model, x)
        check(y_ort.dtype == dtype, "%s: onnxruntime gives %s" % (what, y_ort.dtype))
        worst = max(worst, close(y_ort, y_nn, 1e-6, "%s rows=%d" % (what, rows)) or 0.0)
    return worst


def main():
    print("onnx %s, onnxruntime %s, numpy %s" % (onnx.__version__, ort.__version__, np.__version__))
    n_exports = 0
    worst = {"float32": 0.0, "float64": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, act in enumerate(ACTS):
            for dtype in ("float32", "float64"):
                m = nn.Model.mlp([5, 16, 9, 4], hidden=act, output=ACTS[(i + 2) % len(ACTS)])
                m.init("xavier_uniform", seed=3 + i)
                m.to_dtype(dtype)
                w = check_export(m, 5, np.dtype(dtype), "export %s/%s %s" % (act, ACTS[(i + 2) % len(ACTS)], dtype), tmp)
                worst[dtype] = max(worst[dtype], w or 0.0)
                n_exports += 1
        for dtype in ("float32", "float64"):
            m = nn.Model([nn.Linear(6, 8, bias=False), nn.Activation("leaky_relu"), nn.Activation("identity"),
                          nn.Linear(8, 3), nn.Activation("softmax")])
            m.to_dtype(dtype)
            check_export(m, 6, np.dtype(dtype), "export bias-free %s" % dtype, tmp)
            n_exports += 1

        with open(os.path.join(FIXTURES, "fixtures.json")) as f:
            fx = json.load(f)
        n_fixtures = 0
        for case in fx["cases"]:
            path = os.path.join(FIXTURES, case["file"])
            name = case["name"]
            onnx.checker.check_model(onnx.load(path), full_check=True)
            if case["unsupported"]:
                try:
                    nn.Model.import_onnx(path)
                    check(False, "%s: imported, expected UnsupportedError" % name)
                except nn.UnsupportedError as e:
                    for frag in case["unsupported"]:
                        check(frag in e.message, "%s: message %r lacks %r" % (name, e.message, frag))
                n_fixtures += 1
                continue
            dtype = np.float64 if case["dtype"] == "f64" else np.float32
            rtol = 1e-12 if dtype == np.float64 else 1e-5
            x = np.array(case["x"], dtype=dtype).reshape(case["x_shape"])
            y = np.array(case["y"], dtype=np.float64).reshape(case["y_shape"])
            in_name = session(path).get_inputs()[0].name
            close(session(path).run(None, {in_name: x})[0], y, rtol, "%s: onnxruntime vs torch" % name)
            m = nn.Model.import_onnx(path)
            check(m.dtype == (nn.DType.float64 if dtype == np.float64 else nn.DType.float32),
                  "%s: dtype %s" % (name, m.dtype))
            close(run_nn(m, x), y, rtol, "%s: libnn vs torch" % name)
            if len(case["x_shape"]) == 2:
                out = os.path.join(tmp, "re.onnx")
                m.export_onnx(out)
                onnx.checker.check_model(onnx.load(out), full_check=True)
                close(session(out).run(None, {"input": x})[0], y, rtol, "%s: libnn re-export in onnxruntime" % name)
            n_fixtures += 1

    print("checked %d exports (worst relative difference to onnxruntime: f32 %.3g, f64 %.3g) and %d torch fixtures"
          % (n_exports, worst["float32"], worst["float64"], n_fixtures))
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all ONNX checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
