"""Statuses become nn.Error subclasses carrying the status and libnn's message."""

import os
import tempfile
import unittest

from helpers import nn


class TestErrors(unittest.TestCase):
    def test_shape_error(self):
        with self.assertRaises(nn.ShapeError) as cm:
            nn.zeros((2, 3)) + nn.zeros((4,))
        e = cm.exception
        self.assertIsInstance(e, nn.Error)
        self.assertIsInstance(e, ValueError)
        self.assertEqual(e.status, 2)
        self.assertEqual(e.status, nn.Status.ERR_SHAPE)
        self.assertEqual(e.status_name, "NN_ERR_SHAPE")
        self.assertTrue(e.message.startswith("nn_binary: "), e.message)
        self.assertIn("[2, 3]", e.message)        # both shapes are in the message
        self.assertIn("[4]", e.message)
        self.assertEqual(e.message, nn.last_error())
        self.assertEqual(str(e), "NN_ERR_SHAPE: " + e.message)

    def test_each_status_has_its_class(self):
        cases = [
            (nn.InvalidArgumentError, 1, lambda: nn.arange(0, 1, 0)),
            (nn.InvalidArgumentError, 1, lambda: nn.zeros((2, -3))),
            (nn.ShapeError, 2, lambda: nn.arange(6).reshape(4, 2)),
            (nn.DTypeError, 3, lambda: nn.Tensor.rand_uniform((2,), dtype="int32")),
            (nn.DeviceError, 4, lambda: nn.zeros((2,), device="cuda:99")),
            (nn.DeviceError, 4, lambda: nn.zeros((2,), device="cpu:1")),
            (nn.FormatError, 7, lambda: nn.Model.load_bytes(b"not a safetensors file at all")),
            (nn.FileError, 6, lambda: nn.Model.load("/nonexistent/dir/m.safetensors")),
            (nn.InvalidArgumentError, 1, lambda: nn.Model.mlp([3])),
            (nn.ShapeError, 2, lambda: nn.Model.mlp([3, 2])(nn.zeros((1, 4)))),
            (nn.InvalidArgumentError, 1, lambda: nn.SGD(nn.Model.mlp([2, 1]), lr=-1)),
            (nn.DTypeError, 3, lambda: nn.Model.mlp([2, 1]).to_dtype("float16")),
        ]
        for cls, status, f in cases:
            with self.subTest(cls=cls.__name__, status=status):
                with self.assertRaises(cls) as cm:
                    f()
                self.assertEqual(cm.exception.status, status)
                self.assertTrue(cm.exception.message.startswith("nn_"), cm.exception.message)

    def test_python_exception_bases(self):
        self.assertIs(nn.IOError_, nn.FileError)
        self.assertTrue(issubclass(nn.FileError, OSError))
        self.assertTrue(issubclass(nn.DTypeError, TypeError))
        self.assertTrue(issubclass(nn.OutOfMemoryError, MemoryError))
        for cls in (nn.InvalidArgumentError, nn.ShapeError, nn.DTypeError, nn.DeviceError,
                    nn.OutOfMemoryError, nn.FileError, nn.FormatError, nn.UnsupportedError,
                    nn.NotFiniteError, nn.CancelledError, nn.InternalError):
            self.assertTrue(issubclass(cls, nn.Error), cls)
        e = nn.FileError(6, "nn_model_load: x")
        self.assertEqual(str(e), "NN_ERR_IO: nn_model_load: x")

    def test_message_names_argument(self):
        with self.assertRaises(nn.InvalidArgumentError) as cm:
            nn.zeros((2, -3))
        self.assertIn("shape[1]", cm.exception.message)

    def test_io_error_on_unwritable_path(self):
        m = nn.Model.mlp([2, 1])
        with self.assertRaises(nn.FileError) as cm:
            m.save("/nonexistent/dir/m.safetensors")
        self.assertTrue(cm.exception.message.startswith("nn_model_save"))

    def test_truncated_file_is_format_error(self):
        m = nn.Model.mlp([3, 4, 2])
        data = m.save_bytes()
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "cut.safetensors")
            with open(p, "wb") as f:
                f.write(data[:-5])
            with self.assertRaises(nn.FormatError):
                nn.Model.load(p)

    def test_bad_names_are_python_errors(self):
        with self.assertRaises(ValueError):
            nn.Model.mlp([2, 1], hidden="swish")
        with self.assertRaises(ValueError):
            nn.Model.mlp([2, 1]).init("kaiming")
        with self.assertRaises(ValueError):
            nn.zeros((1,), device="tpu")
        with self.assertRaises(ValueError):
            nn.loss("hinge", [1.0], [1.0])

    def test_bad_enum_ints_reach_the_library(self):
        with self.assertRaises(nn.InvalidArgumentError):
            nn.Model.mlp([2, 1], hidden=42)

    def test_closed_handles(self):
        t = nn.zeros((2,))
        t.close()
        t.close()                      # twice is fine
        with self.assertRaises(ValueError):
            t.shape
        self.assertIn("closed", repr(t))
        m = nn.Model.mlp([2, 1])
        layer = m.layers[0]
        m.close()
        with self.assertRaises(ValueError):
            m.forward([[1.0, 2.0]])
        with self.assertRaises(ValueError):
            layer.weight


if __name__ == "__main__":
    unittest.main()
