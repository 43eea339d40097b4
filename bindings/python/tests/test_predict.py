"""Model.predict (nn_model_predict), Model.in_features / out_features and
Layer.activation (nn_layer_activation_of). Runs with NumPy and, through
test_environment's child process, without it (the list path)."""

import random
import struct
import unittest
from array import array
from concurrent.futures import ThreadPoolExecutor

from helpers import nn, np, flat
from nn import _predict

ACTS = ["identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu"]


def bits(values):
    """The float32 bit patterns of a flat list of floats (exact comparison, -0.0 != 0.0)."""
    return struct.pack("<%df" % len(values), *values)


def as_flat(y):
    """predict's result (ndarray or lists) as a flat list of Python floats."""
    return flat(y.tolist() if np is not None and isinstance(y, np.ndarray) else y)


def rows_f32(rows, width, seed):
    """rows x width floats in [-2, 2), each exactly a float32 (so an F64 model's
    forward on them sees the values predict converts from float32)."""
    r = random.Random(seed)
    v = array("f", [r.uniform(-2.0, 2.0) for _ in range(rows * width)]).tolist()
    return [v[i * width:(i + 1) * width] for i in range(rows)]


def net(hidden, output, dtype="float32", sizes=(10, 40, 33, 5)):
    m = nn.Model.mlp(list(sizes), hidden=hidden, output=output)
    m.init("xavier_uniform", seed=7)
    return m.to_dtype(dtype)


def forward_f32(m, x):
    """nn_model_forward's output on x, as float32 values (flat)."""
    return flat(m.forward(x).to(dtype=nn.float32).tolist())


def hand_net():
    """y = relu(W x + b), W = [[1, 2], [3, -4], [0.5, 0]], b = [0.25, 0, -1]."""
    lin = nn.Linear(2, 3)
    lin.weight.copy_([[1.0, 2.0], [3.0, -4.0], [0.5, 0.0]])
    lin.bias.copy_([0.25, 0.0, -1.0])
    return nn.Model([lin, nn.Activation("relu")])


class TestPredictValues(unittest.TestCase):
    def test_hand_computed(self):
        m = hand_net()
        # row 0: (3.25, -1, -0.5) -> relu; row 1: (-0.75, -8, -2) -> relu
        y = m.predict([[1.0, 1.0], [-2.0, 0.5]])
        self.assertEqual(as_flat(y), [3.25, 0.0, 0.0, 0.0, 0.0, 0.0])
        self.assertEqual(len(y), 2)
        one = m.predict([1.0, 1.0])                # one row [in] -> [out]
        self.assertEqual(as_flat(one), [3.25, 0.0, 0.0])
        self.assertEqual(len(one), 3)
        self.assertEqual(as_flat(m.predict([[0, 1]])), [2.25, 0.0, 0.0])   # Python ints are numbers
        self.assertEqual(as_flat(m.predict(nn.Tensor([[1.0, 1.0]]))), [3.25, 0.0, 0.0])
        self.assertEqual(as_flat(m.predict(array("f", [1.0, 1.0]))), [3.25, 0.0, 0.0])
        self.assertEqual(as_flat(m.predict(array("d", [1.0, 1.0]))), [3.25, 0.0, 0.0])

    def check_equal_to_forward(self, dtype):
        for i, hidden in enumerate(ACTS):
            output = "softmax" if i % 2 else "identity"
            m = net(hidden, output, dtype)
            for rows in (1, 3, 64):
                x = rows_f32(rows, 10, 100 * i + rows)
                with self.subTest(dtype=dtype, hidden=hidden, rows=rows):
                    got = as_flat(m.predict(x))
                    self.assertEqual(len(got), rows * 5)
                    self.assertEqual(bits(got), bits(forward_f32(m, x)))

    def test_equals_forward_bit_for_bit_f32(self):
        self.check_equal_to_forward("float32")

    def test_equals_forward_bit_for_bit_f64(self):
        self.check_equal_to_forward("float64")

    def test_threads(self):
        """8 threads predicting on one model at once get the single-thread bits."""
        for dtype in ("float32", "float64"):
            m = net("tanh", "softmax", dtype)
            xs = [rows_f32(1 + 37 * t, 10, 500 + t) for t in range(8)]
            want = [bits(as_flat(m.predict(x))) for x in xs]

            def job(t):
                return all(bits(as_flat(m.predict(xs[t]))) == want[t] for _ in range(20))

            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(job, range(8)))
            self.assertEqual(results, [True] * 8, dtype)


class TestPredictErrors(unittest.TestCase):
    def test_model_without_linear_layer(self):
        for m in (nn.Model(), nn.Model([nn.Activation("tanh")])):
            with self.assertRaises(nn.InvalidArgumentError) as cm:
                m.predict([[1.0, 2.0]])
            e = cm.exception
            self.assertEqual(e.status, nn.Status.ERR_INVALID_ARGUMENT)
            self.assertEqual(e.message,
                             "nn_model_predict: the model has no Linear layer, so its input width is unknown")
            self.assertIn("NN_ERR_INVALID_ARGUMENT", str(e))

    def test_wrong_width_and_rank(self):
        m = net("relu", "identity")
        with self.assertRaises(nn.ShapeError) as cm:
            m.predict([[1.0] * 7, [2.0] * 7])
        self.assertIn("[2, 7]", str(cm.exception))
        self.assertIn("7 features per row; the model takes 10", str(cm.exception))
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(nn.ShapeError):
            m.predict([1.0] * 11)
        with self.assertRaisesRegex(nn.ShapeError, r"\[rows, in_features\] or \[in_features\], not \[1, 2, 10\]"):
            m.predict([[[0.5] * 10] * 2])
        with self.assertRaises(nn.ShapeError):
            m.predict(1.5)

    def test_bad_values(self):
        m = net("relu", "identity")
        with self.assertRaises(ValueError):
            m.predict([[1.0] * 10, [1.0] * 9])    # ragged
        with self.assertRaises(TypeError):
            m.predict([[1.0] * 9 + [2j]])        # complex
        with self.assertRaises(TypeError):
            m.predict(array("i", [1] * 10))
        with self.assertRaisesRegex(TypeError, "int64"):
            m.predict(nn.Tensor([[1] * 10]))     # an integer tensor

    def test_closed_model(self):
        m = net("relu", "identity")
        m.close()
        with self.assertRaises(ValueError):
            m.predict([[0.0] * 10])
        with self.assertRaises(ValueError):
            m.in_features


@unittest.skipUnless(np is not None, "needs NumPy")
class TestPredictNumpy(unittest.TestCase):
    def setUp(self):
        self.m = net("relu", "softmax")
        self.x = np.asarray(rows_f32(6, 10, 3), dtype=np.float32)

    def test_shapes_and_dtype(self):
        m, x = self.m, self.x
        y = m.predict(x)
        self.assertIsInstance(y, np.ndarray)
        self.assertEqual((y.dtype, y.shape), (np.float32, (6, 5)))
        self.assertTrue(y.flags.c_contiguous)
        v = m.predict(x[2])
        self.assertEqual(v.shape, (5,))
        self.assertEqual(v.tobytes(), y[2].tobytes())
        z = m.predict(np.zeros((0, 10), np.float32))
        self.assertEqual((z.dtype, z.shape), (np.float32, (0, 5)))
        # an F64 model still takes and gives float32
        y64 = net("relu", "softmax", "float64").predict(x)
        self.assertEqual((y64.dtype, y64.shape), (np.float32, (6, 5)))

    def test_no_copy_of_c_contiguous_float32(self):
        x = self.x
        self.assertIs(_predict.host_rows(x), x)
        x.setflags(write=False)                                   # read-only is fine
        self.assertIs(_predict.host_rows(x), x)
        self.assertEqual(self.m.predict(x).tobytes(), self.m.predict(x.copy()).tobytes())
        view = self.x[1:4]                                        # a C-contiguous view
        self.assertIs(_predict.host_rows(view), view)
        self.assertFalse(np.shares_memory(_predict.host_rows(x.astype(np.float64)), x))

    def test_other_floating_layouts_are_converted(self):
        m, x = self.m, self.x
        want = m.predict(x).tobytes()
        for other in (x.astype(np.float64),                 # exact: x holds float32 values
                      np.asfortranarray(x),
                      x.astype(">f4"),                       # byte-swapped
                      np.repeat(x, 2, axis=1)[:, ::2],       # strided
                      x.tolist()):
            with self.subTest(kind=getattr(other, "dtype", "list")):
                self.assertEqual(m.predict(other).tobytes(), want)
        # float64 values are rounded to float32 (what nn_model_predict reads)
        x64 = x.astype(np.float64) + 1e-12
        self.assertEqual(m.predict(x64).tobytes(), m.predict(x64.astype(np.float32)).tobytes())
        h = x.astype(np.float16)
        self.assertEqual(m.predict(h).tobytes(), m.predict(h.astype(np.float32)).tobytes())

    def test_integer_bool_complex_refused(self):
        for dt in (np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128):
            with self.subTest(dtype=np.dtype(dt).name):
                with self.assertRaises(TypeError) as cm:
                    self.m.predict(np.ones((2, 10), dtype=dt))
                self.assertIn(np.dtype(dt).name, str(cm.exception))
        with self.assertRaisesRegex(TypeError, "<U"):
            self.m.predict(np.array([["1.0"] * 10]))

    def test_threads_numpy(self):
        m = net("sigmoid", "softmax")
        xs = [np.asarray(rows_f32(1 + 41 * t, 10, 900 + t), np.float32) for t in range(8)]
        want = [m.predict(x).tobytes() for x in xs]
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda t: all(m.predict(xs[t]).tobytes() == want[t] for _ in range(20)),
                                range(8)))
        self.assertEqual(got, [True] * 8)


class TestIntrospection(unittest.TestCase):
    def test_in_out_features(self):
        m = net("relu", "softmax")
        self.assertEqual((m.in_features, m.out_features), (10, 5))
        empty = nn.Model()
        self.assertEqual((empty.in_features, empty.out_features), (None, None))
        m2 = nn.Model([nn.Activation("sigmoid")])
        self.assertEqual((m2.in_features, m2.out_features), (None, None))
        m2.add(nn.Linear(6, 4)).add("relu").add(nn.Linear(4, 9, bias=False)).add("softmax")
        self.assertEqual((m2.in_features, m2.out_features), (6, 9))   # activations keep the width
        m2.init("zeros")
        ninth = array("f", [1.0 / 9]).tolist()
        self.assertEqual(as_flat(m2.predict([0.5] * 6)), ninth * 9)    # softmax of zeros

    def test_layer_activation(self):
        self.assertIsNone(nn.Linear(3, 2).activation)
        for name in ACTS:
            self.assertEqual(nn.Activation(name).activation, name)
        m = nn.Model.mlp([4, 8, 8, 3], hidden="leaky_relu", output="sigmoid")
        self.assertEqual([l.activation for l in m], [None, "leaky_relu", None, "leaky_relu", None, "sigmoid"])
        loaded = nn.Model.load_bytes(m.save_bytes())
        self.assertEqual([l.activation for l in loaded], [l.activation for l in m])
        layer = nn.Activation("tanh")
        layer.close()
        with self.assertRaises(ValueError):
            layer.activation


if __name__ == "__main__":
    unittest.main()
