"""nn.Tensor: creation, round trips for every dtype, operations against Python references."""

import math
import unittest

from helpers import nn, np, flat

# Values each dtype holds exactly, and what comes back.
EXACT = {
    "float32": [[0.0, -1.5, 3.25], [1e-3 * 0 + 0.125, 65536.0, -0.0]],
    "float64": [[0.1, -2.5e300, 1.0 / 3.0], [math.pi, -0.0, 5e-324]],
    "float16": [[0.5, -2.0, 65504.0], [6.103515625e-05, 1.5, -0.25]],
    "bfloat16": [[1.5, -2.0, 3.0], [0.15625, 2.0 ** 100, -(2.0 ** -100)]],
    "uint8": [[0, 1, 255], [128, 7, 200]],
    "int16": [[-32768, 0, 32767], [1, -1, 12345]],
    "int32": [[-2 ** 31, 0, 2 ** 31 - 1], [1, -1, 123456789]],
    "int64": [[-2 ** 63, 0, 2 ** 63 - 1], [1, -1, 2 ** 53 + 1]],
}


class TestCreate(unittest.TestCase):
    def test_round_trip_every_dtype_from_lists(self):
        for name, values in EXACT.items():
            with self.subTest(dtype=name):
                t = nn.Tensor(values, dtype=name)
                self.assertEqual(t.dtype, nn.as_dtype(name))
                self.assertEqual(str(t.dtype), name)
                self.assertEqual(t.shape, (2, 3))
                self.assertEqual(t.ndim, 2)
                self.assertEqual(t.numel, 6)
                self.assertEqual(t.device, "cpu")
                self.assertEqual(t.itemsize, nn.dtype_size(name))
                back = t.tolist()
                self.assertEqual(back, values)
                self.assertEqual([math.copysign(1, v) for v in flat(back)],
                                 [math.copysign(1, v) for v in flat(values)])

    @unittest.skipUnless(np is not None, "needs NumPy")
    def test_round_trip_every_dtype_numpy(self):
        for name, values in EXACT.items():
            with self.subTest(dtype=name):
                if name == "bfloat16":   # NumPy has no bfloat16: float32 in and out
                    a = np.array(values, dtype=np.float32)
                    t = nn.Tensor(a, dtype="bfloat16")
                    self.assertEqual(t.dtype, nn.bfloat16)
                    out = t.numpy()
                    self.assertEqual(out.dtype, np.float32)
                    self.assertTrue(np.array_equal(out, a))
                    continue
                a = np.array(values, dtype=name)
                t = nn.Tensor(a)
                self.assertEqual(t.dtype, nn.as_dtype(name))
                self.assertEqual(nn.as_dtype(a.dtype), t.dtype)
                out = t.numpy()
                self.assertEqual(out.dtype, a.dtype)
                self.assertEqual(out.shape, a.shape)
                self.assertEqual(out.tobytes(), a.tobytes())     # bit-identical
                self.assertEqual(np.asarray(t).tobytes(), a.tobytes())

    @unittest.skipUnless(np is not None, "needs NumPy")
    def test_numpy_layouts_and_widenings(self):
        a = np.arange(12, dtype=np.float64).reshape(3, 4)
        self.assertEqual(nn.Tensor(a.T).tolist(), a.T.tolist())          # non-contiguous
        self.assertEqual(nn.Tensor(a[:, ::2]).tolist(), a[:, ::2].tolist())
        big = a.astype(">f8")                                            # big-endian
        self.assertEqual(nn.Tensor(big).tolist(), a.tolist())
        self.assertEqual(nn.Tensor(np.array([True, False])).dtype, nn.uint8)
        self.assertEqual(nn.Tensor(np.array([-3], np.int8)).tolist(), [-3])
        self.assertEqual(nn.Tensor(np.array([65535], np.uint16)).dtype, nn.int32)
        self.assertEqual(nn.Tensor(np.float64(2.5)).shape, ())
        with self.assertRaises(TypeError):
            nn.Tensor(np.array([1 + 2j]))
        t = nn.Tensor(np.arange(6).reshape(2, 3))
        self.assertEqual(t.dtype, nn.int64)
        self.assertTrue(np.array_equal(t.numpy(), np.arange(6).reshape(2, 3)))
        self.assertTrue(np.array_equal((t @ t.T).numpy(), np.arange(6).reshape(2, 3) @ np.arange(6).reshape(2, 3).T))
        self.assertTrue(np.array_equal((t + 1).numpy(), np.arange(6).reshape(2, 3) + 1))
        self.assertTrue(np.array_equal((t + np.ones(3, np.int64)).numpy(), np.arange(6).reshape(2, 3) + 1))
        self.assertEqual(nn.Tensor(np.zeros((0, 3), np.float32)).shape, (0, 3))
        self.assertEqual(nn.Tensor(np.zeros((0, 3), np.float32)).numpy().shape, (0, 3))

    def test_inferred_dtypes_and_scalars(self):
        self.assertEqual(nn.Tensor([1, 2, 3]).dtype, nn.int64)
        self.assertEqual(nn.Tensor([1, 2.5]).dtype, nn.float32)
        self.assertEqual(nn.Tensor([True, False]).dtype, nn.int64)
        s = nn.Tensor(7)
        self.assertEqual((s.shape, s.ndim, s.numel, s.tolist(), s.item()), ((), 0, 1, 7, 7))
        self.assertEqual(nn.Tensor(2.5).tolist(), 2.5)
        self.assertEqual(nn.Tensor([]).shape, (0,))
        self.assertEqual(nn.Tensor([]).tolist(), [])
        self.assertEqual(nn.Tensor([[], []]).shape, (2, 0))
        self.assertEqual(nn.Tensor([[1, 2], [3, 4]], dtype=float).dtype, nn.float32)
        self.assertEqual(nn.Tensor([1, 2], dtype=nn.float64).tolist(), [1.0, 2.0])
        with self.assertRaises(ValueError):
            nn.Tensor([[1, 2], [3]])
        with self.assertRaises(ValueError):
            nn.Tensor([1], dtype="complex64")
        with self.assertRaises(ValueError):
            len(nn.Tensor(1)) if False else nn.Tensor([[[[[[[[[1]]]]]]]]])   # 9 dims

    def test_conversions_follow_libnn_rules(self):
        # float to integer: truncation toward zero, then wrap (300 -> 44, -1 -> 255)
        self.assertEqual(nn.Tensor([300.0, -1.0, 2.9], dtype="uint8").tolist(), [44, 255, 2])
        self.assertEqual(nn.Tensor([1.0, 2.0]).to(nn.int32).tolist(), [1, 2])
        self.assertEqual(nn.Tensor([70000.0], dtype="float16").tolist(), [math.inf])
        t = nn.Tensor([1, 2, 3], dtype="int16")
        self.assertEqual(t.to("float64").dtype, nn.float64)
        self.assertEqual(t.to(dtype="bf16", device="cpu").tolist(), [1.0, 2.0, 3.0])
        self.assertIsNot(t.to("cpu"), t)
        c = nn.Tensor(t)
        self.assertEqual(c.tolist(), [1, 2, 3])

    def test_factories(self):
        z = nn.Tensor.zeros((2, 3), dtype="int32")
        self.assertEqual(z.tolist(), [[0] * 3] * 2)
        self.assertEqual(nn.zeros(4).shape, (4,))
        self.assertEqual(nn.Tensor.full((2,), 1.5).tolist(), [1.5, 1.5])
        self.assertEqual(nn.full((), 3, dtype="int64").tolist(), 3)
        self.assertEqual(nn.Tensor.arange(5).tolist(), [0, 1, 2, 3, 4])
        self.assertEqual(nn.Tensor.arange(5).dtype, nn.int64)
        self.assertEqual(nn.arange(1, 2, 0.25).tolist(), [1.0, 1.25, 1.5, 1.75])
        self.assertEqual(nn.arange(0, 3, dtype="float64").dtype, nn.float64)
        u = nn.Tensor.rand_uniform((1000,), -2, 3, seed=7)
        vals = u.tolist()
        self.assertTrue(all(-2 <= v < 3 for v in vals))
        self.assertEqual(vals, nn.Tensor.rand_uniform((1000,), -2, 3, seed=7).tolist())
        self.assertNotEqual(vals, nn.Tensor.rand_uniform((1000,), -2, 3, seed=8).tolist())
        g = nn.Tensor.rand_normal((4000,), mean=1.0, std=2.0, seed=1, dtype="float64")
        xs = g.tolist()
        mean = sum(xs) / len(xs)
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
        self.assertAlmostEqual(mean, 1.0, delta=0.15)
        self.assertAlmostEqual(std, 2.0, delta=0.15)

    def test_views_share_storage(self):
        t = nn.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        v = t.reshape(3, 2)
        self.assertEqual(v.tolist(), [[1, 2], [3, 4], [5, 6]])
        v.copy_([[10, 20], [30, 40], [50, 60]])
        self.assertEqual(t.tolist(), [[10, 20, 30], [40, 50, 60]])
        self.assertEqual(t.reshape(-1).shape, (6,))
        self.assertEqual(t.reshape((-1, 2)).shape, (3, 2))
        self.assertEqual(t.T.tolist(), [[10, 40], [20, 50], [30, 60]])
        self.assertEqual(t.transpose(0, 1).shape, (3, 2))
        self.assertIsNotNone(t.data_ptr())
        self.assertIsNone(t.T.data_ptr())          # a transposed view is not contiguous
        c = t.clone()
        c.copy_([[0] * 3] * 2)
        self.assertEqual(t.tolist()[0][0], 10)
        cube = nn.arange(24).reshape(2, 3, 4)
        self.assertEqual(cube.T.shape, (4, 3, 2))
        with self.assertRaises(nn.ShapeError):
            t.copy_([1, 2, 3])

    def test_repr_is_pytorch_print(self):
        a = nn.Tensor([[4, 5, 6], [7, 8, 9]])
        self.assertEqual(repr(a + nn.Tensor([1, 2, 3])),
                         "tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])")
        self.assertEqual(str(nn.Tensor([0.1, 2.5])), "tensor([0.1000, 2.5000])")
        self.assertEqual(str(nn.Tensor(14)), "tensor(14)")
        self.assertIn("dtype=torch.int32", str(nn.Tensor([1], dtype="int32")))
        big = nn.zeros((2000,))
        self.assertIn("...", str(big))


def _ref_binary(op, a, b):
    return [op(x, y) for x, y in zip(a, b)]


class TestOps(unittest.TestCase):
    A = [[0.5, -1.25, 2.0], [3.0, -0.75, 1.5]]
    B = [1.5, 2.0, -4.0]

    def assertClose(self, got, want, tol=1e-6):
        g, w = flat(got), flat(want)
        self.assertEqual(len(g), len(w))
        for x, y in zip(g, w):
            if math.isnan(y):
                self.assertTrue(math.isnan(x), (got, want))
            else:
                self.assertLessEqual(abs(x - y), tol * max(1.0, abs(y)), (got, want))

    def test_binary_broadcast_against_python(self):
        a = nn.Tensor(self.A, dtype="float64")
        b = nn.Tensor(self.B, dtype="float64")
        ops = {"+": (lambda x, y: x + y), "-": (lambda x, y: x - y),
               "*": (lambda x, y: x * y), "/": (lambda x, y: x / y)}
        results = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}
        for sym, f in ops.items():
            with self.subTest(op=sym):
                want = [_ref_binary(f, row, self.B) for row in self.A]
                self.assertClose(results[sym].tolist(), want, 1e-15)
                self.assertEqual(results[sym].shape, (2, 3))
        self.assertClose(a.maximum(b).tolist(), [_ref_binary(max, r, self.B) for r in self.A])
        self.assertClose(a.minimum(b).tolist(), [_ref_binary(min, r, self.B) for r in self.A])

    def test_scalars_and_reflected(self):
        a = nn.Tensor(self.A, dtype="float64")
        for name, got, f in [
            ("t+2", a + 2, lambda x: x + 2), ("2+t", 2 + a, lambda x: 2 + x),
            ("t-2", a - 2, lambda x: x - 2), ("2-t", 2 - a, lambda x: 2 - x),
            ("t*3", a * 3, lambda x: x * 3), ("3*t", 3 * a, lambda x: 3 * x),
            ("t/4", a / 4, lambda x: x / 4), ("4/t", 4 / a, lambda x: 4 / x),
            ("-t", -a, lambda x: -x), ("abs", abs(a), abs),
        ]:
            with self.subTest(op=name):
                self.assertClose(got.tolist(), [[f(x) for x in r] for r in self.A], 1e-15)
                self.assertEqual(got.dtype, nn.float64)
        i = nn.Tensor([1, 2, 3])
        self.assertEqual((i + 1).dtype, nn.int64)
        self.assertEqual((i + 1).tolist(), [2, 3, 4])
        self.assertEqual((10 - i).tolist(), [9, 8, 7])
        self.assertEqual((10 - i).dtype, nn.int64)
        self.assertEqual((i * 0.5).dtype, nn.float32)
        self.assertEqual((0.5 * i).tolist(), [0.5, 1.0, 1.5])
        self.assertEqual((i / 2).dtype, nn.float32)
        self.assertEqual((3 / i).dtype, nn.float32)
        self.assertClose((3 / i).tolist(), [3.0, 1.5, 1.0])
        self.assertEqual((2.5 - i).dtype, nn.float32)
        self.assertEqual((2.5 - i).tolist(), [1.5, 0.5, -0.5])
        h = nn.Tensor([1, 2], dtype="float16")
        self.assertEqual((1 / h).dtype, nn.float16)
        u = nn.Tensor([1, 2], dtype="uint8")
        self.assertEqual((0 - u).tolist(), [255, 254])     # wraps as torch
        self.assertEqual((i + [10, 20, 30]).tolist(), [11, 22, 33])
        self.assertEqual(([10, 20, 30] - i).tolist(), [9, 18, 27])

    def test_promotion(self):
        self.assertEqual((nn.Tensor([1], dtype="uint8") + nn.Tensor([1], dtype="int16")).dtype, nn.int16)
        self.assertEqual((nn.Tensor([1], dtype="float16") + nn.Tensor([1], dtype="bfloat16")).dtype,
                         nn.float32)
        self.assertEqual((nn.Tensor([1], dtype="int32") + nn.Tensor(1, dtype="int64")).dtype, nn.int32)
        self.assertEqual((nn.Tensor([1], dtype="int32") + nn.Tensor(1.0, dtype="float64")).dtype,
                         nn.float64)
        self.assertEqual((nn.Tensor([1], dtype="int32") / nn.Tensor([2], dtype="int32")).dtype,
                         nn.float32)

    def test_unary_against_math(self):
        xs = [-2.0, -0.5, 0.0, 0.25, 1.0, 3.0]
        t = nn.Tensor(xs, dtype="float64")
        refs = {
            "neg": lambda x: -x, "abs": abs, "exp": math.exp,
            "log": lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
            "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
            "relu": lambda x: max(x, 0.0), "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
            "tanh": math.tanh, "step": lambda x: 1.0 if x > 0 else 0.0,
        }
        for name, f in refs.items():
            with self.subTest(op=name):
                got = getattr(t, name)()
                self.assertEqual(got.dtype, nn.float64)
                want = [f(x) for x in xs]
                g = got.tolist()
                for a, b in zip(g, want):
                    if math.isnan(b):
                        self.assertTrue(math.isnan(a))
                    elif math.isinf(b):
                        self.assertEqual(a, b)
                    else:
                        self.assertAlmostEqual(a, b, places=12)
        self.assertEqual(nn.Tensor([1, 4]).sqrt().dtype, nn.float32)
        self.assertEqual(nn.Tensor([-3, 4]).abs().tolist(), [3, 4])

    def test_reductions(self):
        rows = [[1.0, 5.0, -2.0], [4.0, 0.5, 9.0]]
        t = nn.Tensor(rows, dtype="float64")
        self.assertAlmostEqual(t.sum().item(), sum(flat(rows)))
        self.assertEqual(t.sum().shape, ())
        self.assertEqual(t.sum(dim=0).tolist(), [5.0, 5.5, 7.0])
        self.assertEqual(t.sum(dim=1, keepdim=True).tolist(), [[4.0], [13.5]])
        self.assertEqual(t.sum(keepdim=True).shape, (1, 1))
        self.assertAlmostEqual(t.mean().item(), sum(flat(rows)) / 6)
        self.assertEqual(t.mean(dim=-1).tolist(), [4.0 / 3, 4.5])
        self.assertEqual(t.max().item(), 9.0)
        self.assertEqual(t.max(dim=1).tolist(), [5.0, 9.0])
        self.assertEqual(t.min(dim=0).tolist(), [1.0, 0.5, -2.0])
        self.assertEqual(t.argmax().item(), 5)
        self.assertEqual(t.argmax(dim=1).tolist(), [1, 2])
        self.assertEqual(t.argmax(dim=1).dtype, nn.int64)
        i = nn.Tensor([[1, 2], [3, 4]], dtype="int32")
        self.assertEqual(i.sum().dtype, nn.int64)
        self.assertEqual(int(i.sum()), 10)
        with self.assertRaises(nn.DTypeError):
            i.mean()

    def test_matmul_against_python(self):
        a = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        b = [[7.0, 8.0], [9.0, 10.0], [11.0, 12.0]]
        want = [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(2)] for i in range(2)]
        ta, tb = nn.Tensor(a), nn.Tensor(b)
        self.assertEqual((ta @ tb).tolist(), want)
        self.assertEqual(ta.matmul(tb).tolist(), want)
        self.assertEqual((a @ tb).tolist(), want)                   # reflected
        self.assertEqual((ta @ [1.0, 1.0, 1.0]).tolist(), [6.0, 15.0])
        self.assertEqual((nn.Tensor([1, 2, 3]) @ nn.Tensor([4, 5, 6])).tolist(), 32)
        batch = nn.arange(24, dtype="float64").reshape(2, 3, 4) @ nn.arange(8, dtype="float64").reshape(4, 2)
        self.assertEqual(batch.shape, (2, 3, 2))
        with self.assertRaises(nn.ShapeError):
            ta @ ta

    def test_lstsq(self):
        x = nn.lstsq([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [1.0, 2.0, 3.0])
        self.assertEqual(x.shape, (2,))
        for got, want in zip(x.tolist(), [1.0, 2.0]):
            self.assertAlmostEqual(got, want, places=5)
        # y = 2x + 1 on exact points
        xs = [0.0, 1.0, 2.0, 3.0]
        a = nn.Tensor([[v, 1.0] for v in xs], dtype="float64")
        w = nn.lstsq(a, nn.Tensor([2 * v + 1 for v in xs], dtype="float64"))
        self.assertEqual(w.dtype, nn.float64)
        self.assertAlmostEqual(w.tolist()[0], 2.0, places=12)
        self.assertAlmostEqual(w.tolist()[1], 1.0, places=12)

    def test_item_and_python_numbers(self):
        self.assertEqual(float(nn.Tensor([2.5])), 2.5)
        self.assertEqual(int(nn.Tensor(3)), 3)
        self.assertEqual([10, 20, 30][nn.Tensor(1)], 20)
        self.assertTrue(bool(nn.Tensor([1])))
        with self.assertRaises(ValueError):
            bool(nn.Tensor([1, 2]))
        with self.assertRaises(ValueError):
            nn.Tensor([1, 2]).item()
        self.assertEqual(len(nn.Tensor([[1], [2], [3]])), 3)


class TestMisc(unittest.TestCase):
    def test_version_and_devices(self):
        self.assertRegex(nn.__version__, r"^\d+\.\d+\.\d+")
        major, minor, patch = nn.version_info
        self.assertEqual(nn.version(), major * 10000 + minor * 100 + patch)
        self.assertEqual(nn.device_count("cpu"), 1)
        self.assertGreaterEqual(nn.device_count("cuda"), 0)
        nn.set_num_threads(0)
        self.assertEqual(nn.dtype_size("float64"), 8)
        self.assertEqual(nn.status_string(2), nn._capi.status_string(nn.Status.ERR_SHAPE))
        self.assertEqual(nn._capi.missing_functions, [])


if __name__ == "__main__":
    unittest.main()
