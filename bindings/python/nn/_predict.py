"""Model.predict: nn_model_predict, one C call per prediction.

The rows go to libnn as host float32 memory in C order and the results come
back the same way, whatever the model's dtype and device (nn.h). With NumPy,
a C-contiguous native float32 array is passed as it is (no copy); other
floating dtypes (float64, float16, longdouble, byte-swapped or strided
arrays) are converted to a C-contiguous float32 copy explicitly; integer,
bool, complex and other dtypes are refused with a TypeError naming the dtype,
so nothing is truncated silently. Python lists (and tuples) of numbers are
taken as floats, with or without NumPy.
"""

from array import array

from ._capi import C, Status, ShapeError, check
from .tensor import Tensor, np, _flatten

__all__ = []  # internal module: Model.predict, Model.in_features and Model.out_features use it


def features(fn, ptr):
    """nn_model_in_features / nn_model_out_features as an int, None for -1."""
    n = fn(ptr)
    return None if n < 0 else int(n)


def _shape_error(message):
    return ShapeError(int(Status.ERR_SHAPE), message)


def _rows_and_width(shape):
    """(rows, width, was_vector) of an input shape [rows, in] or [in]."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), False
    if len(shape) == 1:
        return 1, int(shape[0]), True
    raise _shape_error("nn: Model.predict: x must be [rows, in_features] or [in_features], not %s"
                       % (list(shape),))


def _check_width(width, n_in, shape):
    if n_in is not None and width != n_in:
        raise _shape_error("nn: Model.predict: x %s has %d features per row; the model takes %d"
                           % (list(shape), width, n_in))


def host_rows(x):
    """x as the C-contiguous native float32 NumPy array nn_model_predict reads:
    ``x`` itself when it already is one (no copy), else an explicit copy of a
    floating array. NumPy must be importable."""
    if isinstance(x, Tensor):
        x = x.numpy()                       # host copy in the tensor's own dtype
    from_list = isinstance(x, (list, tuple))
    arr = np.asarray(x)
    if from_list and arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)        # Python ints in a list are numbers: take them as floats
    if arr.dtype.kind != "f":
        raise TypeError("nn: Model.predict needs floating-point input, not %s; convert it "
                        "explicitly (e.g. x.astype(numpy.float32))" % (arr.dtype,))
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    return np.ascontiguousarray(arr, dtype=np.float32)


def _predict_numpy(ptr, x, n_in, n_out):
    arr = host_rows(x)
    rows, width, vector = _rows_and_width(arr.shape)
    _check_width(width, n_in, arr.shape)
    y = np.empty((rows, n_out if n_out is not None else 0), dtype=np.float32)
    check(C.nn_model_predict(ptr, rows, arr.ctypes.data, y.ctypes.data))
    return y.reshape(y.shape[1]) if vector else y


def _predict_lists(ptr, x, n_in, n_out):
    if isinstance(x, array):
        if x.typecode not in "fd":
            raise TypeError("nn: Model.predict needs floating-point input, not array('%s')" % x.typecode)
        shape = [len(x)]
        buf = x if x.typecode == "f" else array("f", x)
    else:
        if isinstance(x, Tensor) and not x.is_floating_point:
            raise TypeError("nn: Model.predict needs floating-point input, not %s" % (x.dtype,))
        shape, flat = _flatten(x)           # TypeError for non-numbers, ValueError for ragged lists
        buf = array("f", [float(v) for v in flat])
    rows, width, vector = _rows_and_width(shape)
    _check_width(width, n_in, shape)
    n_out = n_out if n_out is not None else 0
    y = array("f", bytes(4 * rows * n_out))
    xp = buf.buffer_info()[0] if len(buf) else None
    yp = y.buffer_info()[0] if len(y) else None
    check(C.nn_model_predict(ptr, rows, xp, yp))
    if vector:
        return y.tolist()
    return [y[i * n_out:(i + 1) * n_out].tolist() for i in range(rows)]


def predict(ptr, x):
    """Runs nn_model_predict on the model handle ``ptr``; see Model.predict.
    (ctypes releases the GIL around the C call, so threads predict in parallel.)"""
    n_in = features(C.nn_model_in_features, ptr)
    n_out = features(C.nn_model_out_features, ptr)
    if np is not None:
        return _predict_numpy(ptr, x, n_in, n_out)
    return _predict_lists(ptr, x, n_in, n_out)

