"""Data files, row selection and metrics (nn.h group "data").

    x = nn.load_csv("digits.csv", delimiter=",", skip_rows=0)   # [rows, cols] float32
    nn.save_npy(x, "digits.npy"); x = nn.load_npy("digits.npy")
    train = x.slice(0, 0, 1400); test = x.slice(0, 1400, None)  # views
    rows = x.index_select(0, [5, 3, 9]); both = nn.concat([train, test], dim=0)
    nn.metric("r2", pred, target); nn.confusion_matrix(pred, labels, classes=10)

Every failure raises the nn.Error subclass of its status with libnn's message
(CSV errors name the file, line and column; a bad .npy is nn.FormatError).
"""

import ctypes
import os

from . import _capi
from ._capi import C, check, Metric
from .tensor import Tensor, _new, _as_tensor, as_dtype

__all__ = ["load_npy", "save_npy", "load_csv", "slice", "index_select", "concat", "metric",
           "confusion_matrix", "Metric"]

_INT64_MAX = (1 << 63) - 1


def _path(p):
    return os.fsencode(os.fspath(p))


def load_npy(path, device="cpu"):
    """A .npy file (versions 1-3, C or Fortran order, any byte order) as a Tensor."""
    out = ctypes.c_void_p()
    check(C.nn_tensor_load_npy(_path(path), _capi.parse_device(device), ctypes.byref(out)))
    return Tensor._wrap(out.value)


def save_npy(t, path):
    """Writes t as a .npy file NumPy reads (atomically; bfloat16 as float32)."""
    t = _as_tensor(t)
    check(C.nn_tensor_save_npy(t._ptr, _path(path)))


def load_csv(path, delimiter=",", skip_rows=0, dtype="float32", device="cpu"):
    """A numeric CSV table as a [rows, cols] Tensor of dtype."""
    if not isinstance(delimiter, (str, bytes)) or len(delimiter) != 1:
        raise ValueError("nn: delimiter must be one character, not %r" % (delimiter,))
    d = delimiter.encode("latin-1") if isinstance(delimiter, str) else delimiter
    out = ctypes.c_void_p()
    check(C.nn_tensor_load_csv(_path(path), d, int(skip_rows), as_dtype(dtype),
                               _capi.parse_device(device), ctypes.byref(out)))
    return Tensor._wrap(out.value)


def slice(t, dim, start=None, end=None):  # noqa: A001 - the C name
    """t[start:end] along dim, a view sharing t's storage (Python slice rules)."""
    t = _as_tensor(t)
    s = 0 if start is None else int(start)
    e = _INT64_MAX if end is None else int(end)
    return _new(C.nn_tensor_slice, t._ptr, int(dim), s, e)


def index_select(t, dim, index):
    """The entries of t at `index` (ints; negative counts from the end) along dim, copied."""
    t = _as_tensor(t)
    idx = index if isinstance(index, Tensor) else Tensor(list(index) if not hasattr(index, "dtype") else index,
                                                         dtype=None if hasattr(index, "dtype") else "int64")
    return _new(C.nn_tensor_index_select, t._ptr, int(dim), idx._ptr)


def concat(tensors, dim=0):
    """Joins tensors along dim (torch.cat; dtypes promoted)."""
    ts = [_as_tensor(t) for t in tensors]
    arr = (ctypes.c_void_p * max(len(ts), 1))(*[t._ptr for t in ts])
    return _new(C.nn_tensor_concat, len(ts), arr, int(dim))


def metric(name, pred, target):
    """"accuracy", "mae", "rmse" or "r2" of pred against target (scikit-learn's definitions)."""
    m = _capi.enum_arg(Metric, name, "metric")
    p = _as_tensor(pred)
    y = target if isinstance(target, Tensor) else _as_tensor(target)
    v = ctypes.c_double()
    check(C.nn_metric_compute(m, p._ptr, y._ptr, ctypes.byref(v)))
    return v.value


def confusion_matrix(pred, target, classes):
    """int64 [classes, classes]: rows the true class, columns the predicted one."""
    p = _as_tensor(pred)
    y = _as_tensor(target)
    return _new(C.nn_confusion_matrix, p._ptr, y._ptr, int(classes))


# Methods on Tensor for the row operations.
Tensor.slice = lambda self, dim, start=None, end=None: slice(self, dim, start, end)
Tensor.index_select = lambda self, dim, index: index_select(self, dim, index)
Tensor.save_npy = lambda self, path: save_npy(self, path)
