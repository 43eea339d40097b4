"""Model.export_onnx / Model.import_onnx (nn.h group "onnx")."""

import os
import tempfile
import unittest

import helpers  # noqa: F401  (sys.path, NN_LIBRARY_PATH)
import nn

# Copies of two files of tests/fixtures/onnx (torch.onnx.export output), so
# that the tests run wherever the package is installed.
FIXTURES = os.path.join(helpers.HERE, "data", "onnx")


class OnnxTest(unittest.TestCase):
    def test_round_trip(self):
        for dtype in ("float32", "float64"):
            m = nn.Model.mlp([4, 6, 3], hidden="step", output="softmax")
            m.init("xavier_uniform", seed=2)
            m.to_dtype(dtype)
            x = nn.Tensor.rand_uniform([5, 4], -1, 1, seed=3, dtype=dtype)
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "m.onnx")
                m.export_onnx(path)
                self.assertEqual(os.listdir(d), ["m.onnx"])   # atomic: no temporary left
                r = nn.Model.import_onnx(path)
            self.assertEqual(r.summary(), m.summary())
            self.assertEqual(r.dtype, m.dtype)
            self.assertEqual(r(x).tolist(), m(x).tolist())

    def test_torch_fixture(self):
        m = nn.Model.import_onnx(os.path.join(FIXTURES, "torch_gemm_mlp.onnx"), device="cpu")
        self.assertEqual(len(m.layers), 6)
        self.assertIn("Softmax", m.summary())

    def test_errors(self):
        with self.assertRaises(nn.UnsupportedError) as cm:
            nn.Model.import_onnx(os.path.join(FIXTURES, "torch_elu.onnx"))
        self.assertIn("node 1", cm.exception.message)
        self.assertIn("(op Elu)", cm.exception.message)
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.onnx")
            with open(bad, "wb") as f:
                f.write(b"\x3a\x05\x01")
            with self.assertRaises(nn.FormatError) as cm:
                nn.Model.import_onnx(bad)
            self.assertTrue(cm.exception.message.startswith("nn_model_import_onnx: "))
            with self.assertRaises(nn.FileError):
                nn.Model.import_onnx(os.path.join(d, "missing.onnx"))
            with self.assertRaises(nn.FileError):
                nn.Model.mlp([2, 2]).export_onnx(os.path.join(d, "no", "such", "dir.onnx"))


if __name__ == "__main__":
    unittest.main()
