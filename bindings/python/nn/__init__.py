"""nn: Python bindings of libnn (ctypes; NumPy used when importable).

    import nn
    m = nn.Model.mlp([64, 64, 10], hidden="relu", output="identity")
    m.init("he_uniform", seed=0)
    opt = nn.Adam(m, lr=1e-3)
    m.fit(X, y, optimizer=opt, epochs=10, loss="cross_entropy")
    p = m.predict(X)

The library is found bundled in this package (``pip install
./bindings/python``), else through NN_LIBRARY_PATH (a file or a folder), else
on the system path; a library of another major version is refused. Every call that fails raises an
``nn.Error`` subclass carrying the status and libnn's message.
"""

from . import _capi
from ._capi import (
    Status, DType, DeviceType, Activation as ActivationKind, Init, Loss, UnaryOp, BinaryOp,
    ReduceOp, Param, LayerKind,
    Error, InvalidArgumentError, ShapeError, DTypeError, DeviceError, OutOfMemoryError,
    FileError, FormatError, UnsupportedError, NotFiniteError, CancelledError, InternalError,
    live_handles, last_error, status_string, library_path,
)
from .tensor import (
    Tensor, as_dtype, lstsq, has_numpy,
    float32, float64, float16, bfloat16, uint8, int16, int32, int64,
)
from .interop import from_dlpack
from .model import (
    Layer, Linear, Activation, Model, Optimizer, SGD, Adam, AdamW, EpochReport, StopTraining, loss,
)
from .data import (
    Metric, load_npy, save_npy, load_csv, slice, index_select, concat, metric, confusion_matrix,
)
from .progress import History
from .comm import Comm
from .checkpoint import save_checkpoint, load_checkpoint
from . import onnx as _onnx  # Model.export_onnx, Model.import_onnx

#: The binding's version (pyproject.toml); the loaded library's is library_version.
__version__ = _capi.BINDING_VERSION
library_version = _capi.C.nn_version_string().decode("ascii")
version_info = tuple(int(p) for p in __version__.split(".")[:3] if p.isdigit())

#: NN_ERR_IO under the name the brief of the bindings uses.
IOError_ = FileError


def version():
    """nn_version(): MAJOR*10000 + MINOR*100 + PATCH of the loaded library."""
    return _capi.C.nn_version()


def device_count(device_type="cuda"):
    """Number of devices of a type ("cpu" gives 1; "cuda" 0 without a GPU backend)."""
    t = _capi.enum_arg(DeviceType, device_type, "device type")
    return _capi.C.nn_device_count(t)


def cuda_is_available():
    return device_count("cuda") > 0


def set_num_threads(n):
    """Process-wide CPU thread count; n <= 0 means all cores. Overrides the
    default from OMP_NUM_THREADS, then NN_NUM_THREADS."""
    _capi.check(_capi.C.nn_set_num_threads(int(n)))


def get_num_threads():
    """The CPU thread count in effect: the one set, else OMP_NUM_THREADS,
    else NN_NUM_THREADS, else all cores; capped to the cores."""
    return int(_capi.C.nn_get_num_threads())


def dtype_size(dtype):
    return _capi.C.nn_dtype_size(as_dtype(dtype))


def tensor(data, dtype=None, device=None):
    """Same as nn.Tensor(data, dtype, device)."""
    return Tensor(data, dtype=dtype, device=device)


zeros = Tensor.zeros
full = Tensor.full
arange = Tensor.arange
rand_uniform = Tensor.rand_uniform
rand_normal = Tensor.rand_normal
