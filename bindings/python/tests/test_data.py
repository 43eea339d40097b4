"""Data files, row selection and metrics from Python (nn.data, nn.h group "data")."""

import gzip
import math
import os
import tempfile
import unittest

from helpers import DIGITS_CSV, np
import nn


class TestDataFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def p(self, name):
        return os.path.join(self.dir.name, name)

    def test_csv_digits(self):
        path = self.p("digits.csv")  # the tests' gzipped copy, unpacked
        with gzip.open(DIGITS_CSV, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        x = nn.load_csv(path)
        self.assertEqual(x.shape, (1797, 65))
        self.assertEqual(x.dtype, nn.float32)
        self.assertEqual(x.slice(0, 0, 1).tolist()[0][:6], [0, 0, 5, 13, 9, 1])
        y = nn.load_csv(path, dtype="int64").slice(1, 64, None)
        self.assertEqual(y.shape, (1797, 1))
        self.assertEqual(y.dtype, nn.int64)

    def test_csv_error_names_line_and_column(self):
        with open(self.p("bad.csv"), "w") as f:
            f.write("h1;h2\n1;2\n3;oops\n")
        with self.assertRaises(nn.FormatError) as cm:
            nn.load_csv(self.p("bad.csv"), delimiter=";", skip_rows=1)
        self.assertIn("bad.csv: line 3, column 2", str(cm.exception))
        with self.assertRaises(ValueError):
            nn.load_csv(self.p("bad.csv"), delimiter=";;")

    def test_npy_round_trip(self):
        for dt in ("float32", "float64", "float16", "uint8", "int16", "int32", "int64"):
            t = nn.Tensor([[1, 2, 3], [4, 5, 6]], dtype=dt)
            nn.save_npy(t.transpose(0, 1), self.p("a.npy"))
            b = nn.load_npy(self.p("a.npy"))
            self.assertEqual(b.dtype, nn.as_dtype(dt))
            self.assertEqual(b.tolist(), [[1, 4], [2, 5], [3, 6]])
        t = nn.Tensor([1.5, 2.5], dtype="bfloat16")
        t.save_npy(self.p("b.npy"))
        self.assertEqual(nn.load_npy(self.p("b.npy")).dtype, nn.float32)
        with open(self.p("bad.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n")
        with self.assertRaises(nn.FormatError):
            nn.load_npy(self.p("bad.npy"))
        with self.assertRaises(nn.FileError):
            nn.load_npy(self.p("missing.npy"))

    @unittest.skipIf(np is None, "NumPy not installed")
    def test_numpy_reads_save_npy(self):
        t = nn.Tensor([[1.25, -2.0], [3.5, 4.0]], dtype="float64")
        nn.save_npy(t, self.p("n.npy"))
        a = np.load(self.p("n.npy"))
        self.assertEqual(a.dtype, np.float64)
        self.assertTrue(np.array_equal(a, [[1.25, -2.0], [3.5, 4.0]]))
        np.save(self.p("f.npy"), np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))
        self.assertEqual(nn.load_npy(self.p("f.npy")).tolist(), [[0, 1, 2], [3, 4, 5]])


class TestRows(unittest.TestCase):
    def test_slice_view_index_select_concat(self):
        t = nn.Tensor([[0, 1], [2, 3], [4, 5]], dtype="float32")
        s = t.slice(0, 1)
        self.assertEqual(s.tolist(), [[2, 3], [4, 5]])
        self.assertEqual(nn.slice(t, 0, -1).tolist(), [[4, 5]])
        self.assertEqual(t.index_select(0, [2, 0, 2]).tolist(), [[4, 5], [0, 1], [4, 5]])
        self.assertEqual(t.index_select(1, [-1]).tolist(), [[1], [3], [5]])
        c = nn.concat([t.slice(0, 0, 1), nn.Tensor([[9, 9]], dtype="int64")], dim=0)
        self.assertEqual(c.tolist(), [[0, 1], [9, 9]])
        self.assertEqual(c.dtype, nn.float32)
        with self.assertRaises(nn.InvalidArgumentError) as cm:
            t.index_select(0, [3])
        self.assertIn("index[0] is 3", str(cm.exception))
        with self.assertRaises(nn.ShapeError):
            nn.concat([t, nn.Tensor([[1, 2, 3]], dtype="float32")])


class TestMetrics(unittest.TestCase):
    # scikit-learn's definitions written out (tests/test_data.c checks them against sklearn itself)
    y = [[3.0, -0.5], [2.0, 1.0], [7.0, 2.0], [1.0, 0.5]]
    p = [[2.5, 0.0], [2.0, 1.5], [8.0, 2.5], [0.5, 0.0]]

    def test_regression(self):
        mae = (0.5 + 0 + 1 + 0.5) / 4 / 2 + (0.5 + 0.5 + 0.5 + 0.5) / 4 / 2
        self.assertAlmostEqual(nn.metric("mae", self.p, self.y), mae, places=12)
        r0 = math.sqrt((0.25 + 0 + 1 + 0.25) / 4)
        r1 = math.sqrt(4 * 0.25 / 4)
        self.assertAlmostEqual(nn.metric("rmse", self.p, self.y), (r0 + r1) / 2, places=12)
        m0 = sum(r[0] for r in self.y) / 4
        m1 = sum(r[1] for r in self.y) / 4
        tot0 = sum((r[0] - m0) ** 2 for r in self.y)
        tot1 = sum((r[1] - m1) ** 2 for r in self.y)
        r2 = ((1 - 1.5 / tot0) + (1 - 1.0 / tot1)) / 2
        self.assertAlmostEqual(nn.metric(nn.Metric.R2, self.p, self.y), r2, places=12)

    def test_classification(self):
        scores = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]
        ids = nn.Tensor([0, 1, 1, 2], dtype="int64")
        self.assertEqual(nn.metric("accuracy", scores, ids), 0.5)
        cm = nn.confusion_matrix(scores, ids, 3)
        self.assertEqual(cm.dtype, nn.int64)
        self.assertEqual(cm.tolist(), [[1, 0, 0], [0, 1, 1], [1, 0, 0]])
        with self.assertRaises(nn.DTypeError):
            nn.metric("accuracy", scores, [0.0, 1.0, 1.0, 2.0])
        with self.assertRaises(ValueError):
            nn.metric("f1", scores, ids)


if __name__ == "__main__":
    unittest.main()
