"""Low-level ctypes bindings of libnn's C ABI (include/nn.h).

Everything here mirrors nn.h one to one: the enums, the structs and every
exported function with its argtypes/restype. The Pythonic classes live in
tensor.py and model.py; this module also holds the error classes and
``check()``, which turns a status into an exception.

The library is found, in this order:

1. bundled in this package's folder (``pip install ./bindings/python`` puts
   ``libnn.so.0`` there, and ``libnn_cuda.so`` when it was built);
2. the environment variable ``NN_LIBRARY_PATH``: a file, or a folder holding
   ``libnn.so.0`` / ``libnn.so`` (``libnn.dylib``, ``nn.dll``);
3. the system: ``ctypes.util.find_library("nn")``, then ``libnn.so.0``.

At load, ``nn_version()`` of the library found must have this binding's major
version (``_version.VERSION``), else importing nn raises ImportError naming
both versions and the file.
"""

import ctypes
import ctypes.util
import enum
import os
import threading

from ._version import VERSION as BINDING_VERSION

__all__ = []  # internal module

# --------------------------------------------------------------------------
# Loading the shared library
# --------------------------------------------------------------------------

_NAMES = ("libnn.so.0", "libnn.so", "libnn.0.dylib", "libnn.dylib", "nn.dll", "libnn.dll")


def _bundled():
    here = os.path.dirname(os.path.abspath(__file__))
    for n in _NAMES:
        yield os.path.join(here, n)


def _from_env(env):
    if os.path.isdir(env):
        for n in _NAMES:
            yield os.path.join(env, n)
    else:
        yield env


def _load():
    tried = []
    for path in _bundled():
        if os.path.exists(path):
            return ctypes.CDLL(path), path   # a broken bundled library is an error
        tried.append(path)
    env = os.environ.get("NN_LIBRARY_PATH")
    if env:
        for path in _from_env(env):
            if os.path.exists(path):
                try:
                    return ctypes.CDLL(path), path
                except OSError as e:  # a broken file named explicitly is an error
                    raise OSError("nn: cannot load libnn from NN_LIBRARY_PATH=%s: %s" % (env, e))
            tried.append(path)
        raise OSError("nn: NN_LIBRARY_PATH=%s names no libnn (tried %s)" % (env, ", ".join(tried)))
    found = ctypes.util.find_library("nn")
    for name in ([found] if found else []) + ["libnn.so.0"]:
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append("%s (%s)" % (name, e))
    raise OSError("nn: libnn not found; install the package with `pip install ./bindings/python`, "
                  "or set NN_LIBRARY_PATH to the library file or its folder. "
                  "Tried: " + ", ".join(tried))


def _version_text(v):
    return "%d.%d.%d" % (v // 10000, v // 100 % 100, v % 100)


def check_version(lib_version, path):
    """Refuses a library whose major version differs from this binding's: raises
    ImportError naming both versions and the library file."""
    want = int(BINDING_VERSION.split(".")[0])
    if lib_version // 10000 != want:
        raise ImportError("nn: %s is libnn %s, but this binding (nn %s) needs libnn %d.x; "
                          "install a matching libnn or binding"
                          % (path, _version_text(lib_version), BINDING_VERSION, want))


lib, library_path = _load()

# --------------------------------------------------------------------------
# Enums (values as in nn.h)
# --------------------------------------------------------------------------


class Status(enum.IntEnum):
    OK = 0
    ERR_INVALID_ARGUMENT = 1
    ERR_SHAPE = 2
    ERR_DTYPE = 3
    ERR_DEVICE = 4
    ERR_OUT_OF_MEMORY = 5
    ERR_IO = 6
    ERR_FORMAT = 7
    ERR_UNSUPPORTED = 8
    ERR_NOT_FINITE = 9
    ERR_CANCELLED = 10
    ERR_INTERNAL = 99


class DeviceType(enum.IntEnum):
    CPU = 1
    CUDA = 2


class DType(enum.IntEnum):
    """Element types; ``str(nn.float32)`` is ``"float32"``."""
    float32 = 0
    float64 = 1
    float16 = 2
    bfloat16 = 3
    uint8 = 4
    int16 = 5
    int32 = 6
    int64 = 7

    def __str__(self):
        return self.name

    def __repr__(self):
        return "nn." + self.name

    @property
    def is_floating(self):
        return self.value <= 3

    @property
    def itemsize(self):
        return _ITEMSIZE[self]


_ITEMSIZE = {0: 4, 1: 8, 2: 2, 3: 2, 4: 1, 5: 2, 6: 4, 7: 8}

# nn_dtype under its C names (DType's members are named as NumPy's).
NN_F32 = DType.float32
NN_F64 = DType.float64
NN_F16 = DType.float16
NN_BF16 = DType.bfloat16
NN_U8 = DType.uint8
NN_I16 = DType.int16
NN_I32 = DType.int32
NN_I64 = DType.int64


class UnaryOp(enum.IntEnum):
    NEG = 0
    ABS = 1
    EXP = 2
    LOG = 3
    SQRT = 4
    RELU = 5
    SIGMOID = 6
    TANH = 7
    STEP = 8


class BinaryOp(enum.IntEnum):
    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    MAX = 4
    MIN = 5


class ReduceOp(enum.IntEnum):
    SUM = 0
    MEAN = 1
    MAX = 2
    MIN = 3
    ARGMAX = 4


ALL_DIMS = -128
MAX_DIMS = 8
FIT_OPTIONS_VERSION = 1


class Activation(enum.IntEnum):
    identity = 0
    relu = 1
    sigmoid = 2
    tanh = 3
    step = 4
    softmax = 5
    leaky_relu = 6

    def __str__(self):
        return self.name


class LayerKind(enum.IntEnum):
    LINEAR = 0
    ACTIVATION = 1


class Param(enum.IntEnum):
    weight = 0
    bias = 1


class Init(enum.IntEnum):
    torch_default = 0
    he_uniform = 1
    he_normal = 2
    xavier_uniform = 3
    xavier_normal = 4
    zeros = 5


class Loss(enum.IntEnum):
    mse = 0
    sse = 1
    half_mse = 2
    bce = 3
    bce_with_logits = 4
    cross_entropy = 5

    def __str__(self):
        return self.name


# --------------------------------------------------------------------------
# Structs
# --------------------------------------------------------------------------


class nn_device(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int32), ("index", ctypes.c_int32)]


class nn_epoch_report(ctypes.Structure):
    _fields_ = [("epoch", ctypes.c_int), ("epochs", ctypes.c_int), ("loss", ctypes.c_double),
                ("val_loss", ctypes.c_double), ("val_accuracy", ctypes.c_double),
                ("lr", ctypes.c_double), ("seconds", ctypes.c_double)]


nn_epoch_callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(nn_epoch_report), ctypes.c_void_p)


class Metric(enum.IntEnum):
    """nn_metric: what nn_metric_compute scores."""
    ACCURACY = 0
    MAE = 1
    RMSE = 2
    R2 = 3


class nn_batch_report(ctypes.Structure):
    _fields_ = [("epoch", ctypes.c_int), ("batch", ctypes.c_int64), ("batches", ctypes.c_int64),
                ("loss", ctypes.c_double), ("seconds", ctypes.c_double)]


nn_batch_callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(nn_batch_report), ctypes.c_void_p)


class nn_fit_options(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("epochs", ctypes.c_int),
                ("batch_size", ctypes.c_int64), ("shuffle", ctypes.c_bool),
                ("seed", ctypes.c_uint64), ("loss", ctypes.c_int),
                ("val_x", ctypes.c_void_p), ("val_y", ctypes.c_void_p),
                ("patience", ctypes.c_int), ("on_epoch", nn_epoch_callback),
                ("user_data", ctypes.c_void_p),
                # version 2 (NN_FIT_OPTIONS_VERSION 2): nn_fit_options_init,
                # looked up by dlsym, is the version-2 one and fills these too.
                ("comm", ctypes.c_void_p), ("on_batch", nn_batch_callback),
                ("batch_every", ctypes.c_int64)]


# --------------------------------------------------------------------------
# Function declarations: every NN_API function of nn.h
# --------------------------------------------------------------------------

_st = ctypes.c_int          # nn_status
_en = ctypes.c_int          # any C enum passed by value
_h = ctypes.c_void_p        # an opaque handle (nn_tensor*, nn_layer*, nn_model*, nn_optimizer*)
_ph = ctypes.POINTER(ctypes.c_void_p)   # out-parameter for a handle
_pi64 = ctypes.POINTER(ctypes.c_int64)
_d = ctypes.c_double
_pd = ctypes.POINTER(ctypes.c_double)
_sz = ctypes.c_size_t
_psz = ctypes.POINTER(ctypes.c_size_t)
_i = ctypes.c_int
_b = ctypes.c_bool
_u64 = ctypes.c_uint64
_cs = ctypes.c_char_p
_vp = ctypes.c_void_p

_DECLS = {
    # status, errors, version
    "nn_status_string": (_cs, [_st]),
    "nn_last_error": (_cs, []),
    "nn_version": (_i, []),
    "nn_version_string": (_cs, []),
    # devices and dtypes
    "nn_device_count": (_i, [_en]),
    "nn_set_num_threads": (_st, [_i]),
    "nn_get_num_threads": (_i, []),
    "nn_dtype_size": (_sz, [_en]),
    # tensors
    "nn_tensor_zeros": (_st, [_en, _i, _pi64, nn_device, _ph]),
    "nn_tensor_full": (_st, [_en, _i, _pi64, _d, nn_device, _ph]),
    "nn_tensor_from_data": (_st, [_en, _i, _pi64, _vp, nn_device, _ph]),
    "nn_tensor_arange": (_st, [_d, _d, _d, _en, nn_device, _ph]),
    "nn_tensor_rand_uniform": (_st, [_en, _i, _pi64, _d, _d, _u64, nn_device, _ph]),
    "nn_tensor_rand_normal": (_st, [_en, _i, _pi64, _d, _d, _u64, nn_device, _ph]),
    "nn_tensor_free": (None, [_h]),
    "nn_tensor_ndim": (_i, [_h]),
    "nn_tensor_shape": (_st, [_h, _pi64]),
    "nn_tensor_numel": (ctypes.c_int64, [_h]),
    "nn_tensor_dtype": (_en, [_h]),
    "nn_tensor_device": (nn_device, [_h]),
    "nn_tensor_read": (_st, [_h, _vp, _sz]),
    "nn_tensor_write": (_st, [_h, _vp, _sz]),
    "nn_tensor_data": (_vp, [_h]),
    "nn_tensor_reshape": (_st, [_h, _i, _pi64, _ph]),
    "nn_tensor_transpose": (_st, [_h, _i, _i, _ph]),
    "nn_tensor_to_device": (_st, [_h, nn_device, _ph]),
    "nn_tensor_to_dtype": (_st, [_h, _en, _ph]),
    "nn_tensor_clone": (_st, [_h, _ph]),
    "nn_tensor_to_string": (_st, [_h, _vp, _sz, _psz]),
    # operations
    "nn_unary": (_st, [_en, _h, _ph]),
    "nn_binary": (_st, [_en, _h, _h, _ph]),
    "nn_binary_scalar": (_st, [_en, _h, _d, _ph]),
    "nn_reduce": (_st, [_en, _h, _i, _b, _ph]),
    "nn_matmul": (_st, [_h, _h, _ph]),
    "nn_lstsq": (_st, [_h, _h, _ph]),
    # layers
    "nn_layer_linear": (_st, [ctypes.c_int64, ctypes.c_int64, _b, _ph]),
    "nn_layer_activation": (_st, [_en, _ph]),
    "nn_layer_free": (None, [_h]),
    "nn_layer_kind_of": (_en, [_h]),
    "nn_layer_activation_of": (_en, [_h]),
    "nn_layer_param": (_st, [_h, _en, _ph]),
    "nn_layer_grad": (_st, [_h, _en, _ph]),
    "nn_layer_forward": (_st, [_h, _h, _ph]),
    # models
    "nn_model_create": (_st, [_ph]),
    "nn_model_add": (_st, [_h, _h]),
    "nn_model_mlp": (_st, [_i, _pi64, _en, _en, _ph]),
    "nn_model_free": (None, [_h]),
    "nn_model_num_layers": (_i, [_h]),
    "nn_model_layer": (_st, [_h, _i, _ph]),
    "nn_model_num_params": (ctypes.c_int64, [_h]),
    "nn_model_init": (_st, [_h, _en, _u64]),
    "nn_model_to": (_st, [_h, nn_device]),
    "nn_model_device": (nn_device, [_h]),
    "nn_model_forward": (_st, [_h, _h, _ph]),
    "nn_model_summary": (_st, [_h, _vp, _sz, _psz]),
    "nn_model_to_dtype": (_st, [_h, _en]),
    "nn_model_dtype": (_en, [_h]),
    # embedding inference (one call per prediction) and introspection
    "nn_model_predict": (_st, [_h, ctypes.c_int64, _vp, _vp]),
    "nn_model_in_features": (ctypes.c_int64, [_h]),
    "nn_model_out_features": (ctypes.c_int64, [_h]),
    # losses, gradients, optimizers
    "nn_loss_compute": (_st, [_en, _h, _h, _pd, _ph]),
    "nn_model_zero_grad": (_st, [_h]),
    "nn_model_backward": (_st, [_h, _h, _h, _en, _pd]),
    "nn_optimizer_sgd": (_st, [_h, _d, _d, _d, _b, _ph]),
    "nn_optimizer_adam": (_st, [_h, _d, _d, _d, _d, _d, _b, _ph]),
    "nn_optimizer_free": (None, [_h]),
    "nn_optimizer_step": (_st, [_h]),
    "nn_optimizer_zero_grad": (_st, [_h]),
    "nn_optimizer_lr": (_d, [_h]),
    "nn_optimizer_set_lr": (_st, [_h, _d]),
    "nn_optimizer_set_step_lr": (_st, [_h, _i, _d]),
    "nn_optimizer_epoch_end": (_st, [_h]),
    # training loop
    "nn_fit_options_init": (None, [ctypes.POINTER(nn_fit_options)]),
    "nn_model_fit": (_st, [_h, _h, _h, _h, ctypes.POINTER(nn_fit_options),
                           ctypes.POINTER(nn_epoch_report)]),
    "nn_model_evaluate": (_st, [_h, _h, _h, _en, _pd, _pd]),
    # persistence
    "nn_model_save": (_st, [_h, _cs]),
    "nn_model_load": (_st, [_cs, nn_device, _ph]),
    "nn_model_save_buffer": (_st, [_h, _vp, _sz, _psz]),
    "nn_model_load_buffer": (_st, [_vp, _sz, nn_device, _ph]),
    # data files, row selection, metrics
    "nn_tensor_load_npy": (_st, [_cs, nn_device, _ph]),
    "nn_tensor_save_npy": (_st, [_h, _cs]),
    "nn_tensor_load_csv": (_st, [_cs, ctypes.c_char, _i, _en, nn_device, _ph]),
    "nn_tensor_slice": (_st, [_h, _i, ctypes.c_int64, ctypes.c_int64, _ph]),
    "nn_tensor_index_select": (_st, [_h, _i, _h, _ph]),
    "nn_tensor_concat": (_st, [_i, ctypes.POINTER(ctypes.c_void_p), _i, _ph]),
    "nn_metric_compute": (_st, [_en, _h, _h, _pd]),
    "nn_confusion_matrix": (_st, [_h, _h, ctypes.c_int64, _ph]),
    # process groups (nn/comm.py)
    "nn_comm_mpi": (_st, [_vp, _ph]),
    "nn_comm_free": (None, [_h]),
    "nn_comm_rank": (_i, [_h]),
    "nn_comm_size": (_i, [_h]),
    "nn_comm_allreduce": (_st, [_h, _h, _en]),
    "nn_comm_broadcast": (_st, [_h, _h, _i]),
    "nn_model_broadcast": (_st, [_h, _h, _i]),
    # onnx (bindings/python/nn/onnx.py)
    "nn_model_export_onnx": (_st, [_h, _cs]),
    "nn_model_import_onnx": (_st, [_cs, nn_device, _ph]),
}

# checkpoints, state dicts, metadata, C source (issue 13; used by checkpoint.py)
_DECLS.update({
    "nn_optimizer_epoch": (ctypes.c_int64, [_h]),
    "nn_checkpoint_save": (_st, [_h, _h, _cs]),
    "nn_checkpoint_load": (_st, [_cs, nn_device, _ph, _ph]),
    "nn_model_load_weights": (_st, [_h, _cs]),
    "nn_model_set_metadata": (_st, [_h, _cs, _cs]),
    "nn_model_get_metadata": (_st, [_h, _cs, _vp, _sz, _psz]),
    "nn_model_metadata_count": (_i, [_h]),
    "nn_model_metadata_key": (_st, [_h, _i, _vp, _sz, _psz]),
    "nn_model_export_c": (_st, [_h, _cs, _cs]),
})

missing_functions = []


def _missing(name):
    def call(*args):
        raise UnsupportedError(int(Status.ERR_UNSUPPORTED),
                               "%s: not exported by the loaded libnn (%s)" % (name, library_path))
    return call


class _Functions:
    """Namespace of the declared C functions: ``C.nn_tensor_zeros(...)``."""


C = _Functions()
for _name, (_res, _args) in _DECLS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        missing_functions.append(_name)
        setattr(C, _name, _missing(_name))
        continue
    _f.restype = _res
    _f.argtypes = _args
    setattr(C, _name, _f)

# NN_BINDING_TEST_VERSION (tests only) stands in for nn_version()'s answer.
_fake = os.environ.get("NN_BINDING_TEST_VERSION")
check_version(int(_fake) if _fake else C.nn_version(), library_path)

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class Handle:
    """Base of the classes owning a C handle: freed by close(), which each
    subclass defines, when the object dies or leaves a `with` block."""

    def close(self):
        raise NotImplementedError

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Error(Exception):
    """A libnn call failed. ``status`` is the nn_status (int), ``status_name``
    e.g. ``"NN_ERR_SHAPE"``, ``message`` the library's message (nn_last_error)."""

    def __init__(self, status, message):
        self.status = int(status)
        try:
            self.status_name = "NN_" + Status(self.status).name
        except ValueError:
            self.status_name = "NN_STATUS_%d" % self.status
        self.message = message
        super().__init__(message)

    def __str__(self):
        return "%s: %s" % (self.status_name, self.message)


class InvalidArgumentError(Error, ValueError):
    """NN_ERR_INVALID_ARGUMENT."""


class ShapeError(Error, ValueError):
    """NN_ERR_SHAPE."""


class DTypeError(Error, TypeError):
    """NN_ERR_DTYPE."""


class DeviceError(Error):
    """NN_ERR_DEVICE."""


class OutOfMemoryError(Error, MemoryError):
    """NN_ERR_OUT_OF_MEMORY."""


class FileError(Error, OSError):
    """NN_ERR_IO: a file cannot be opened, read or written."""

    def __init__(self, status, message):
        Error.__init__(self, status, message)

    def __str__(self):
        return Error.__str__(self)


class FormatError(Error, ValueError):
    """NN_ERR_FORMAT: a file or buffer is not a valid model."""


class UnsupportedError(Error, NotImplementedError):
    """NN_ERR_UNSUPPORTED."""


class NotFiniteError(Error, ArithmeticError):
    """NN_ERR_NOT_FINITE: NaN/Inf in the training loss (weights rolled back)."""


class CancelledError(Error):
    """NN_ERR_CANCELLED: a callback asked to stop."""


class InternalError(Error):
    """NN_ERR_INTERNAL: a bug in libnn."""


_ERRORS = {
    Status.ERR_INVALID_ARGUMENT: InvalidArgumentError,
    Status.ERR_SHAPE: ShapeError,
    Status.ERR_DTYPE: DTypeError,
    Status.ERR_DEVICE: DeviceError,
    Status.ERR_OUT_OF_MEMORY: OutOfMemoryError,
    Status.ERR_IO: FileError,
    Status.ERR_FORMAT: FormatError,
    Status.ERR_UNSUPPORTED: UnsupportedError,
    Status.ERR_NOT_FINITE: NotFiniteError,
    Status.ERR_CANCELLED: CancelledError,
    Status.ERR_INTERNAL: InternalError,
}


def last_error():
    """This thread's last libnn error message (nn_last_error())."""
    return C.nn_last_error().decode("utf-8", "replace")


def error_for(status, message=None):
    if message is None:
        message = last_error()
    cls = _ERRORS.get(status, Error)
    return cls(status, message)


def check(status):
    """Raises the nn.Error subclass for a status other than NN_OK."""
    if status != 0:
        raise error_for(status)


def status_string(status):
    return C.nn_status_string(int(status)).decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Handle accounting (a debug counter for leak tests)
# --------------------------------------------------------------------------

_live_lock = threading.Lock()
_live = {"tensor": 0, "layer": 0, "model": 0, "optimizer": 0}


def _count(kind, delta):
    with _live_lock:
        _live[kind] += delta


def live_handles():
    """Owned libnn handles the package holds now, by kind (for leak checks)."""
    with _live_lock:
        return dict(_live)


_FREE = {"tensor": "nn_tensor_free", "layer": "nn_layer_free",
         "model": "nn_model_free", "optimizer": "nn_optimizer_free"}


def new_handle(kind, ptr):
    _count(kind, 1)
    return ptr


def free_handle(kind, ptr):
    if ptr:
        getattr(C, _FREE[kind])(ptr)
        _count(kind, -1)


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


def parse_device(dev):
    """'cpu', 'cuda', 'cuda:1', (type, index) or nn_device -> nn_device."""
    if dev is None:
        return nn_device(DeviceType.CPU, 0)
    if isinstance(dev, nn_device):
        return nn_device(dev.type, dev.index)
    if isinstance(dev, str):
        s = dev.strip().lower()
        name, _, idx = s.partition(":")
        if name not in ("cpu", "cuda", "gpu") or (idx and not idx.lstrip("-").isdigit()):
            raise ValueError("nn: bad device %r (use 'cpu', 'cuda' or 'cuda:N')" % (dev,))
        return nn_device(DeviceType.CPU if name == "cpu" else DeviceType.CUDA, int(idx) if idx else 0)
    if isinstance(dev, tuple) and len(dev) == 2:
        return nn_device(int(dev[0]), int(dev[1]))
    raise TypeError("nn: bad device %r" % (dev,))


def device_str(d):
    if d.type == DeviceType.CPU:
        return "cpu"
    if d.type == DeviceType.CUDA:
        return "cuda:%d" % d.index
    return "device(%d, %d)" % (d.type, d.index)


def enum_arg(enum_cls, value, what):
    """Accepts an enum member, its name (case-insensitive) or an int."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        for m in enum_cls:
            if m.name.lower() == key:
                return m
        raise ValueError("nn: unknown %s %r (one of %s)"
                         % (what, value, ", ".join(m.name.lower() for m in enum_cls)))
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # passed through: the library checks the range
    raise TypeError("nn: %s must be a name or an int, not %r" % (what, value))


def get_string(fn, handle):
    """Calls an snprintf-style function (nn_tensor_to_string, nn_model_summary)."""
    needed = ctypes.c_size_t(0)
    check(fn(handle, None, 0, ctypes.byref(needed)))
    buf = ctypes.create_string_buffer(max(needed.value, 1))
    check(fn(handle, buf, len(buf), ctypes.byref(needed)))
    return buf.value.decode("utf-8", "replace")


def shape_array(shape):
    shape = [int(s) for s in shape]
    return (ctypes.c_int64 * max(len(shape), 1))(*shape), len(shape)
