"""Target dtypes as strict as C, NumPy without copies, DLPack (NumPy; PyTorch
only when it happens to be installed)."""

import ctypes
import unittest

from helpers import nn, np

try:
    import torch
except ImportError:
    torch = None

X3 = [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]


class TestStrictTargets(unittest.TestCase):
    """No silent truncation of class ids, no integer regression targets: the
    binding hands such targets to libnn, which refuses them with its message."""

    def setUp(self):
        self.m = nn.Model.mlp([2, 3])
        self.m.init("xavier_uniform", seed=1)
        self.opt = nn.SGD(self.m, lr=0.1)

    def assert_c_error(self, call, message):
        with self.assertRaises(nn.DTypeError) as cm:
            call()
        self.assertEqual(cm.exception.status, nn.Status.ERR_DTYPE)
        self.assertEqual(cm.exception.message, message)

    def test_fractional_class_ids_are_refused(self):
        msg = ("%s: CROSS_ENTROPY target of shape [3] holds class ids and must be int64, "
               "not float32; probabilities need shape [3, 3]")
        y = [0, 1.7, 2.9]
        self.assert_c_error(lambda: self.m.fit(X3, y, optimizer=self.opt, loss="cross_entropy"),
                            msg % "nn_model_fit")
        self.assert_c_error(lambda: self.m.evaluate(X3, y, loss="cross_entropy"),
                            msg % "nn_model_evaluate")
        self.assert_c_error(lambda: nn.loss("cross_entropy", self.m(X3), y), msg % "nn_loss_compute")
        self.assert_c_error(lambda: nn.loss("cross_entropy", self.m(X3), nn.Tensor(y)),
                            msg % "nn_loss_compute")
        if np is not None:
            self.assert_c_error(lambda: self.m.fit(X3, np.array(y), optimizer=self.opt,
                                                   loss="cross_entropy"), msg % "nn_model_fit")

    def test_whole_number_float_ids_equal_integer_ids(self):
        want = nn.loss("cross_entropy", self.m(X3), [0, 1, 2])
        self.assertEqual(nn.loss("cross_entropy", self.m(X3), [0.0, 1.0, 2.0]), want)
        self.assertEqual(nn.loss("cross_entropy", self.m(X3), nn.Tensor([0.0, 1.0, 2.0])), want)
        if np is not None:   # CSV columns come back from NumPy as float64
            self.assertEqual(nn.loss("cross_entropy", self.m(X3), np.array([0.0, 1.0, 2.0])), want)
            self.assertEqual(nn.loss("cross_entropy", self.m(X3), np.array([0, 1, 2], np.uint8)), want)

    def test_integer_regression_targets_are_refused(self):
        y = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        self.assert_c_error(lambda: self.m.fit(X3, y, optimizer=self.opt, loss="mse"),
                            "nn_model_fit: target has dtype int64; MSE needs a floating target")
        self.assert_c_error(lambda: self.m.evaluate(X3, y, loss="sse"),
                            "nn_model_evaluate: target has dtype int64; SSE needs a floating target")
        self.assert_c_error(lambda: self.m.backward(X3, y, "half_mse"),
                            "nn_model_backward: target has dtype int64; HALF_MSE needs a floating target")
        self.assert_c_error(lambda: nn.loss("bce", [[0.5]], [[1]]),
                            "nn_loss_compute: target has dtype int64; BCE needs a floating target")
        if np is not None:
            self.assert_c_error(lambda: nn.loss("mse", [[0.5]], np.array([[1]], np.int32)),
                                "nn_loss_compute: target has dtype int64; MSE needs a floating target")
        # float targets of any float dtype are fine
        self.assertEqual(nn.loss("mse", [[0.5]], nn.Tensor([[1.0]], dtype="float64")), 0.25)


@unittest.skipIf(np is None, "needs NumPy")
class TestNumpyWithoutCopies(unittest.TestCase):
    def test_asarray_shares_the_storage(self):
        t = nn.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        a = np.asarray(t)
        self.assertEqual(a.dtype, np.float32)
        self.assertEqual(a.shape, (2, 3))
        self.assertEqual(a.ctypes.data, t.data_ptr())       # no copy
        a[1, 2] = 60.0
        self.assertEqual(t.tolist(), [[1.0, 2.0, 3.0], [4.0, 5.0, 60.0]])
        t.copy_([[0.0] * 3] * 2)
        self.assertEqual(a.tolist(), [[0.0] * 3] * 2)

    def test_numpy_shares_and_outlives_the_tensor(self):
        for dt, npdt in (("float32", np.float32), ("float64", np.float64), ("float16", np.float16),
                         ("uint8", np.uint8), ("int16", np.int16), ("int32", np.int32),
                         ("int64", np.int64)):
            with self.subTest(dtype=dt):
                t = nn.Tensor([[1, 2], [3, 4]], dtype=dt)
                a = t.numpy()
                self.assertEqual(a.dtype, npdt)
                self.assertEqual(a.ctypes.data, t.data_ptr())
                t.close()                                   # the array keeps the storage
                self.assertEqual(a.tolist(), [[1, 2], [3, 4]])

    def test_layer_weight_is_viewed_in_place(self):
        layer = nn.Linear(2, 2)
        w = layer.weight.numpy()
        w[...] = [[1.0, 0.0], [0.0, 1.0]]
        layer.bias.numpy()[...] = 0.0
        self.assertEqual(layer([[3.0, 4.0]]).tolist(), [[3.0, 4.0]])

    def test_copies_where_the_layout_does_not_allow(self):
        t = nn.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        c = t.numpy(copy=True)
        self.assertNotEqual(c.ctypes.data, t.data_ptr())
        c[0, 0] = 9.0
        self.assertEqual(t.tolist()[0][0], 1.0)
        tt = t.T                                  # a transposed view: not contiguous
        self.assertIsNone(tt.data_ptr())
        a = np.asarray(tt)
        self.assertEqual(a.tolist(), [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
        a[0, 0] = 7.0
        self.assertEqual(t.tolist()[0][0], 1.0)
        b = nn.Tensor([1.5, 2.5], dtype="bfloat16")   # NumPy has no bfloat16: float32 copy
        self.assertEqual(b.numpy().dtype, np.float32)
        self.assertEqual(np.asarray(b).tolist(), [1.5, 2.5])
        self.assertEqual(np.asarray(nn.Tensor(np.zeros((0, 3), np.float32))).shape, (0, 3))

    def test_numpy_in_is_one_copy(self):
        a = np.arange(6, dtype=np.float64).reshape(2, 3)
        t = nn.Tensor(a)
        self.assertNotEqual(t.data_ptr(), a.ctypes.data)
        a[0, 0] = 100.0
        self.assertEqual(t.tolist()[0][0], 0.0)


class TestDLPack(unittest.TestCase):
    def test_dlpack_device(self):
        self.assertEqual(nn.Tensor([1.0]).__dlpack_device__(), (1, 0))

    @unittest.skipIf(np is None or not hasattr(np, "from_dlpack"), "needs NumPy >= 1.22")
    def test_numpy_reads_without_a_copy(self):
        before = nn.live_handles()["tensor"]
        t = nn.Tensor([[1, 2, 3], [4, 5, 6]], dtype="int32")
        a = np.from_dlpack(t)
        self.assertEqual(a.dtype, np.int32)
        self.assertEqual(a.tolist(), [[1, 2, 3], [4, 5, 6]])
        self.assertEqual(a.ctypes.data, t.data_ptr())        # shared
        t.copy_([[0, 0, 0], [0, 0, 7]])
        self.assertEqual(a[1, 2], 7)
        self.assertEqual(nn.live_handles()["tensor"], before + 2)   # t and the exported view
        del t
        self.assertEqual(a.tolist(), [[0, 0, 0], [0, 0, 7]])  # the export keeps the storage
        del a
        self.assertEqual(nn.live_handles()["tensor"], before)      # the deleter freed it
        # a transposed view is exported as a contiguous copy
        t = nn.Tensor([[1.0, 2.0], [3.0, 4.0]]).T
        self.assertEqual(np.from_dlpack(t).tolist(), [[1.0, 3.0], [2.0, 4.0]])

    def test_tensor_constructor_reads_dlpack_producers(self):
        class Producer:   # any object with __dlpack__ / __dlpack_device__
            def __init__(self, t):
                self.t = t

            def __dlpack__(self, **kw):
                return self.t.__dlpack__(**kw)

            def __dlpack_device__(self):
                return self.t.__dlpack_device__()

        src = nn.Tensor([[1, 2], [3, 4]], dtype="int16")
        t = nn.Tensor(Producer(src))
        self.assertEqual((t.dtype, t.tolist()), (nn.int16, [[1, 2], [3, 4]]))
        self.assertEqual(nn.Tensor(Producer(src), dtype="float64").tolist(), [[1.0, 2.0], [3.0, 4.0]])

    def test_unconsumed_capsule_frees_its_view(self):
        before = nn.live_handles()["tensor"]
        t = nn.Tensor([1.0, 2.0])
        cap = t.__dlpack__()
        self.assertEqual(nn.live_handles()["tensor"], before + 2)
        del cap
        self.assertEqual(nn.live_handles()["tensor"], before + 1)
        # and nn reads its own capsules (a copy)
        u = nn.from_dlpack(t)
        self.assertEqual(u.tolist(), [1.0, 2.0])
        self.assertNotEqual(u.data_ptr(), t.data_ptr())
        del u, t
        self.assertEqual(nn.live_handles()["tensor"], before)

    @unittest.skipIf(np is None, "needs NumPy")
    def test_from_numpy_any_strides_every_dtype(self):
        base = np.arange(24).reshape(4, 6)
        for npdt, dt in ((np.float32, nn.float32), (np.float64, nn.float64),
                         (np.float16, nn.float16), (np.uint8, nn.uint8), (np.int16, nn.int16),
                         (np.int32, nn.int32), (np.int64, nn.int64)):
            a = base.astype(npdt)
            for view in (a, a.T, a[:, ::2], a[::-1, 1:4], a[1:3]):
                with self.subTest(dtype=npdt.__name__, strides=view.strides):
                    t = nn.from_dlpack(view)
                    self.assertEqual(t.dtype, dt)
                    self.assertEqual(t.shape, view.shape)
                    self.assertEqual(t.tolist(), view.tolist())
        self.assertEqual(nn.from_dlpack(np.array(2.5)).tolist(), 2.5)     # 0-dim
        with self.assertRaises(TypeError):
            nn.from_dlpack(np.array([True, False]))         # bool: no libnn dtype
        with self.assertRaises(TypeError):
            nn.from_dlpack([1, 2])

    @unittest.skipIf(torch is None, "PyTorch is not installed (optional)")
    def test_torch_both_ways(self):
        t = nn.Tensor([[1.0, 2.0], [3.0, 4.0]])
        pt = torch.from_dlpack(t)
        self.assertEqual(pt.tolist(), [[1.0, 2.0], [3.0, 4.0]])
        pt[0, 0] = 10.0
        self.assertEqual(t.tolist()[0][0], 10.0)
        back = nn.from_dlpack(torch.arange(6, dtype=torch.int64).reshape(2, 3).t())
        self.assertEqual(back.tolist(), [[0, 3], [1, 4], [2, 5]])
        bf = nn.from_dlpack(torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
        self.assertEqual((bf.dtype, bf.tolist()), (nn.bfloat16, [1.5, -2.0]))
        self.assertEqual(nn.Tensor(torch.ones(2, 2)).tolist(), [[1.0, 1.0], [1.0, 1.0]])


if __name__ == "__main__":
    unittest.main()
