"""nn.Tensor: an n-dimensional array of libnn (rank 0..8, eight dtypes)."""

import ctypes
import numbers
from array import array

from . import _capi
from ._capi import C, DType, BinaryOp, UnaryOp, ReduceOp, check

try:  # NumPy is used when importable, never required
    import numpy as np
except ImportError:  # pragma: no cover - exercised by the no-numpy test
    np = None

__all__ = ["Tensor", "as_dtype", "lstsq", "has_numpy",
           "float32", "float64", "float16", "bfloat16", "uint8", "int16", "int32", "int64"]

float32 = DType.float32
float64 = DType.float64
float16 = DType.float16
bfloat16 = DType.bfloat16
uint8 = DType.uint8
int16 = DType.int16
int32 = DType.int32
int64 = DType.int64


def has_numpy():
    """True when NumPy was importable when nn was imported."""
    return np is not None


_DTYPE_ALIASES = {
    "float32": DType.float32, "f32": DType.float32, "float": DType.float32, "single": DType.float32,
    "float64": DType.float64, "f64": DType.float64, "double": DType.float64,
    "float16": DType.float16, "f16": DType.float16, "half": DType.float16,
    "bfloat16": DType.bfloat16, "bf16": DType.bfloat16,
    "uint8": DType.uint8, "u8": DType.uint8,
    "int16": DType.int16, "i16": DType.int16, "short": DType.int16,
    "int32": DType.int32, "i32": DType.int32, "int": DType.int32,
    "int64": DType.int64, "i64": DType.int64, "long": DType.int64,
}

# NumPy dtype name -> (nn dtype, NumPy dtype the data is converted to first)
_NP_TO_NN = {
    "float32": (DType.float32, "float32"), "float64": (DType.float64, "float64"),
    "float16": (DType.float16, "float16"), "uint8": (DType.uint8, "uint8"),
    "int16": (DType.int16, "int16"), "int32": (DType.int32, "int32"),
    "int64": (DType.int64, "int64"),
    # lossless widenings for NumPy types libnn lacks
    "bool": (DType.uint8, "uint8"), "int8": (DType.int16, "int16"),
    "uint16": (DType.int32, "int32"), "uint32": (DType.int64, "int64"),
    "longdouble": (DType.float64, "float64"), "float128": (DType.float64, "float64"),
}

# nn dtype -> NumPy dtype name of numpy() (bfloat16 has none: float32)
_NN_TO_NP = {DType.float32: "float32", DType.float64: "float64", DType.float16: "float16",
             DType.bfloat16: "float32", DType.uint8: "uint8", DType.int16: "int16",
             DType.int32: "int32", DType.int64: "int64"}

# nn dtype -> array module type code and ctypes element type (host reads/writes)
_ARRAY_CODE = {DType.float32: "f", DType.float64: "d", DType.uint8: "B", DType.int16: "h",
               DType.int32: "i", DType.int64: "q"}
_CTYPE = {DType.float32: ctypes.c_float, DType.float64: ctypes.c_double,
          DType.uint8: ctypes.c_uint8, DType.int16: ctypes.c_int16,
          DType.int32: ctypes.c_int32, DType.int64: ctypes.c_int64}


def as_dtype(dt):
    """An nn.DType from an nn.DType, its name ('float32', 'bf16', ...), an int,
    a NumPy dtype or the Python types float (float32), int (int64) and bool (uint8)."""
    if isinstance(dt, DType):
        return dt
    if isinstance(dt, str):
        key = dt.strip().lower()
        if key.startswith("nn.") or key.startswith("torch."):
            key = key.split(".", 1)[1]
        if key in _DTYPE_ALIASES:
            return _DTYPE_ALIASES[key]
        raise ValueError("nn: unknown dtype %r" % (dt,))
    if dt is float:
        return DType.float32
    if dt is int:
        return DType.int64
    if dt is bool:
        return DType.uint8
    if isinstance(dt, int):
        return DType(dt)
    if np is not None:
        try:
            name = np.dtype(dt).name
        except TypeError:
            name = None
        if name in _NP_TO_NN:
            return _NP_TO_NN[name][0]
    raise TypeError("nn: cannot use %r as a dtype" % (dt,))


def _is_scalar(x):
    return isinstance(x, (numbers.Number,)) and not isinstance(x, complex) or (
        np is not None and isinstance(x, np.generic))


def _py_scalar(x):
    if np is not None and isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError("nn: %r is not a real number" % (x,))


def _flatten(data):
    """Nested lists/tuples -> (shape, flat list). Checks the nesting is rectangular."""
    if isinstance(data, Tensor):
        return list(data.shape), _flat_tolist(data)
    if np is not None and isinstance(data, np.ndarray):
        return list(data.shape), data.reshape(-1).tolist()
    if not isinstance(data, (list, tuple)):
        return [], [_py_scalar(data)]
    if len(data) == 0:
        return [0], []
    subs = [_flatten(d) for d in data]
    shape0 = subs[0][0]
    flat = []
    for s, f in subs:
        if s != shape0:
            raise ValueError("nn: ragged nested sequence: shapes %s and %s in one level" % (shape0, s))
        flat.extend(f)
    return [len(data)] + shape0, flat


def _flat_tolist(t):
    return t.reshape(-1).tolist()


def _new(fn, *args):
    out = ctypes.c_void_p()
    check(fn(*args, ctypes.byref(out)))
    return Tensor._wrap(out.value)


class Tensor(_capi.Handle):
    """An n-dimensional array (rank 0..8) on a device, in one of eight dtypes.

    ``Tensor(data, dtype=None, device="cpu")`` copies ``data``: a NumPy array
    (its dtype is kept: float32/float64/float16/uint8/int16/int32/int64; bool,
    int8, uint16 and uint32 are widened), any CPU DLPack producer (e.g. a
    torch.Tensor, through ``nn.from_dlpack``), nested lists/tuples, a Python
    number (a 0-dim tensor) or another Tensor. Lists of ints give int64, with any
    float float32 (as torch.tensor). ``dtype`` (e.g. ``"bfloat16"``,
    ``nn.float64``, ``np.int32``) converts with libnn's rules.
    """

    _h = None
    _kind = "tensor"

    def __init__(self, data, dtype=None, device=None):
        dt = None if dtype is None else as_dtype(dtype)
        dev = _capi.parse_device(device)
        if isinstance(data, Tensor):
            t = data.clone() if dt is None or dt == data.dtype else data.to(dt)
            if device is not None and t.device != _capi.device_str(dev):
                t = t.to(device=device)
            self._take(t)
            return
        if np is not None and isinstance(data, (np.ndarray, np.generic)):
            self._take(self._from_numpy(np.asarray(data), dt, dev))
            return
        if hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
            # another library's tensor (e.g. torch.Tensor on the CPU): one copy
            t = _interop.from_dlpack(data, device=device)
            self._take(t if dt is None or dt == t.dtype else t.to(dt))
            return
        shape, flat = _flatten(data)
        if len(shape) > _capi.MAX_DIMS:
            raise ValueError("nn: %d dimensions; at most %d" % (len(shape), _capi.MAX_DIMS))
        flat = [_py_scalar(v) for v in flat]
        all_int = all(isinstance(v, int) for v in flat)
        natural = DType.int64 if all_int and flat else DType.float32
        if not flat and dt is None:
            natural = DType.float32
        target = natural if dt is None else dt
        if target in _ARRAY_CODE and (all_int or target.is_floating):
            src = target
            buf = array(_ARRAY_CODE[target], flat)  # OverflowError for ints out of range
        else:  # f16/bf16, or floats into an integer dtype: through float64 and libnn's conversion
            src = DType.float64
            buf = array("d", [float(v) for v in flat])
        t = self._from_buffer(buf, src, shape, dev)
        self._take(t if src == target else t.to(target))

    # -- construction helpers ---------------------------------------------------
    @staticmethod
    def _from_buffer(buf, dt, shape, dev):
        shp, nd = _capi.shape_array(shape)
        addr = buf.buffer_info()[0] if len(buf) else None
        return _new(C.nn_tensor_from_data, dt, nd, shp, addr, dev)

    @staticmethod
    def _from_numpy(arr, dt, dev):
        name = arr.dtype.name
        if name not in _NP_TO_NN:
            raise TypeError("nn: NumPy dtype %s has no libnn dtype" % name)
        src, npname = _NP_TO_NN[name]
        want = np.dtype(npname).newbyteorder("=")
        if arr.dtype != want or not arr.flags.c_contiguous:
            arr = np.array(arr, dtype=want, order="C")   # keeps 0-dim arrays 0-dim
        if arr.ndim > _capi.MAX_DIMS:
            raise ValueError("nn: %d dimensions; at most %d" % (arr.ndim, _capi.MAX_DIMS))
        shp, nd = _capi.shape_array(arr.shape)
        t = _new(C.nn_tensor_from_data, src, nd, shp, arr.ctypes.data if arr.size else None, dev)
        return t if dt is None or dt == src else t.to(dt)

    def _take(self, other):
        """Moves other's handle into self."""
        self._h, other._h = other._h, None

    @classmethod
    def _wrap(cls, ptr):
        t = cls.__new__(cls)
        t._h = _capi.new_handle("tensor", ptr)
        return t

    @property
    def _ptr(self):
        if not self._h:
            raise ValueError("nn: operation on a closed Tensor")
        return self._h

    # -- factories ---------------------------------------------------------------
    @classmethod
    def zeros(cls, shape, dtype="float32", device=None):
        shp, nd = _capi.shape_array(_shape_arg(shape))
        return _new(C.nn_tensor_zeros, as_dtype(dtype), nd, shp, _capi.parse_device(device))

    @classmethod
    def full(cls, shape, value, dtype="float32", device=None):
        shp, nd = _capi.shape_array(_shape_arg(shape))
        return _new(C.nn_tensor_full, as_dtype(dtype), nd, shp, float(value),
                    _capi.parse_device(device))

    @classmethod
    def arange(cls, start, end=None, step=1, dtype=None, device=None):
        """torch.arange: ``arange(end)`` or ``arange(start, end, step)``; int64
        when every argument is an int, else float32 (unless ``dtype``)."""
        if end is None:
            start, end = 0, start
        if dtype is None:
            ints = all(isinstance(_py_scalar(v), int) for v in (start, end, step))
            dtype = DType.int64 if ints else DType.float32
        return _new(C.nn_tensor_arange, float(start), float(end), float(step), as_dtype(dtype),
                    _capi.parse_device(device))

    @classmethod
    def rand_uniform(cls, shape, low=0.0, high=1.0, seed=0, dtype="float32", device=None):
        shp, nd = _capi.shape_array(_shape_arg(shape))
        return _new(C.nn_tensor_rand_uniform, as_dtype(dtype), nd, shp, float(low), float(high),
                    int(seed), _capi.parse_device(device))

    @classmethod
    def rand_normal(cls, shape, mean=0.0, std=1.0, seed=0, dtype="float32", device=None):
        shp, nd = _capi.shape_array(_shape_arg(shape))
        return _new(C.nn_tensor_rand_normal, as_dtype(dtype), nd, shp, float(mean), float(std),
                    int(seed), _capi.parse_device(device))

    # -- lifetime ------------------------------------------------------------------
    def close(self):
        """Frees the handle now (also done when the object dies)."""
        h, self._h = self._h, None
        if h:
            _capi.free_handle("tensor", h)

    # -- properties ----------------------------------------------------------------
    @property
    def ndim(self):
        return C.nn_tensor_ndim(self._ptr)

    @property
    def shape(self):
        n = self.ndim
        buf = (ctypes.c_int64 * max(n, 1))()
        check(C.nn_tensor_shape(self._ptr, buf))
        return tuple(buf[i] for i in range(n))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    @property
    def numel(self):
        return C.nn_tensor_numel(self._ptr)

    @property
    def dtype(self):
        return DType(C.nn_tensor_dtype(self._ptr))

    @property
    def itemsize(self):
        return C.nn_dtype_size(self.dtype)

    @property
    def nbytes(self):
        return self.numel * self.itemsize

    @property
    def device(self):
        return _capi.device_str(C.nn_tensor_device(self._ptr))

    @property
    def is_floating_point(self):
        return self.dtype.is_floating

    def data_ptr(self):
        """Host address of the first element of a contiguous CPU tensor, else None (nn_tensor_data)."""
        return C.nn_tensor_data(self._ptr)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-dim tensor")
        return self.shape[0]

    # -- host data -------------------------------------------------------------------
    def _read_into(self, addr, nbytes):
        check(C.nn_tensor_read(self._ptr, addr, nbytes))

    # numpy(copy=False), __array_interface__, __dlpack__ and __dlpack_device__
    # are added by interop.install (interop.py says which operations copy).

    def __array__(self, dtype=None, copy=None):
        # NumPy asks for this only when __array_interface__ cannot share the
        # storage (CUDA, bfloat16, empty or non-contiguous): always a copy.
        if copy is False:
            raise ValueError("nn: this tensor cannot be viewed by NumPy without a copy")
        arr = _copy_to_numpy(self)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def tolist(self):
        """Nested lists of Python numbers (a number for a 0-dim tensor)."""
        src = self
        if src.dtype in (DType.float16, DType.bfloat16):
            src = src.to(DType.float32)
        n = src.numel
        buf = (_CTYPE[src.dtype] * max(n, 1))()
        src._read_into(buf if n else None, n * src.itemsize)
        flat = buf[:n]
        shape = src.shape
        if not shape:
            return flat[0]
        return _nest(flat, shape)

    def item(self):
        """The single element as a Python number."""
        if self.numel != 1:
            raise ValueError("nn: item() of a tensor with %d elements" % self.numel)
        v = _flat_tolist(self)
        return v[0]

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating:
            raise TypeError("nn: only integer tensors can be used as an index")
        return int(self.item())

    def __bool__(self):
        if self.numel != 1:
            raise ValueError("nn: the truth value of a tensor with %d elements is ambiguous"
                             % self.numel)
        return bool(self.item())

    def copy_(self, src):
        """Overwrites the elements in place (nn_tensor_write): every handle sharing
        the storage (a layer's weight) sees it. ``src``: anything Tensor() accepts,
        of this tensor's shape; converted to this dtype."""
        s = src if isinstance(src, Tensor) and src.dtype == self.dtype else Tensor(src, dtype=self.dtype)
        if s.device != "cpu":
            s = s.to(device="cpu")
        if s.shape != self.shape:
            raise _capi.ShapeError(int(_capi.Status.ERR_SHAPE),
                                   "Tensor.copy_: src %s does not match %s"
                                   % (list(s.shape), list(self.shape)))
        n = s.nbytes
        buf = (ctypes.c_char * max(n, 1))()
        s._read_into(buf if n else None, n)
        check(C.nn_tensor_write(self._ptr, buf if n else None, n))
        return self

    # -- views and conversions -----------------------------------------------------------
    def reshape(self, *shape):
        shape = _shape_arg(shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
        shp, nd = _capi.shape_array(shape)
        return _new(C.nn_tensor_reshape, self._ptr, nd, shp)

    view = reshape

    def flatten(self):
        return self.reshape(-1)

    def transpose(self, dim0=0, dim1=1):
        return _new(C.nn_tensor_transpose, self._ptr, int(dim0), int(dim1))

    @property
    def T(self):
        """Reverses the dimensions (a transpose for a matrix), as torch's .T."""
        n = self.ndim
        if n < 2:
            return self.reshape(self.shape)
        t = self.transpose(0, n - 1)
        for i in range(1, n // 2):
            t = t.transpose(i, n - 1 - i)
        return t

    def to(self, *args, dtype=None, device=None):
        """A converted copy: ``to(nn.float64)``, ``to("cuda")``, ``to(dtype=..., device=...)``."""
        for a in args:
            if isinstance(a, str) and a.strip().lower().split(":")[0] in ("cpu", "cuda", "gpu"):
                device = a
            elif isinstance(a, tuple) or isinstance(a, _capi.nn_device):
                device = a
            else:
                dtype = a
        t = self
        if dtype is not None and as_dtype(dtype) != t.dtype:
            t = _new(C.nn_tensor_to_dtype, t._ptr, as_dtype(dtype))
        if device is not None:
            d = _capi.parse_device(device)
            cur = C.nn_tensor_device(t._ptr)
            if (cur.type, cur.index) != (d.type, d.index):
                t = _new(C.nn_tensor_to_device, t._ptr, d)
        return t if t is not self else self.clone()

    def clone(self):
        return _new(C.nn_tensor_clone, self._ptr)

    def cpu(self):
        return self.to(device="cpu")

    # -- printing ------------------------------------------------------------------------
    def __repr__(self):
        if not self._h:
            return "<nn.Tensor (closed)>"
        return _capi.get_string(C.nn_tensor_to_string, self._h)

    __str__ = __repr__

    # -- operators -----------------------------------------------------------------------
    def _binary(self, other, op):
        if isinstance(other, Tensor):
            return _new(C.nn_binary, op, self._ptr, other._ptr)
        if _is_scalar(other):
            return _new(C.nn_binary_scalar, op, self._ptr, float(_py_scalar(other)))
        try:
            other = Tensor(other, device=self.device)
        except (TypeError, ValueError):
            return NotImplemented
        return _new(C.nn_binary, op, self._ptr, other._ptr)

    def _rbinary(self, other, op):
        if _is_scalar(other):
            s = _py_scalar(other)
            # a Python number: a float tensor keeps its dtype, so does an integer
            # tensor against an int; an integer tensor against a float gives float32
            dt = self.dtype if self.dtype.is_floating or isinstance(s, int) else DType.float32
            other = Tensor.full((), s, dtype=dt, device=self.device)
        elif not isinstance(other, Tensor):
            try:
                other = Tensor(other, device=self.device)
            except (TypeError, ValueError):
                return NotImplemented
        return _new(C.nn_binary, op, other._ptr, self._ptr)

    def __add__(self, o):
        return self._binary(o, BinaryOp.ADD)

    def __radd__(self, o):
        return self._binary(o, BinaryOp.ADD) if _is_scalar(o) else self._rbinary(o, BinaryOp.ADD)

    def __sub__(self, o):
        return self._binary(o, BinaryOp.SUB)

    def __rsub__(self, o):
        return self._rbinary(o, BinaryOp.SUB)

    def __mul__(self, o):
        return self._binary(o, BinaryOp.MUL)

    def __rmul__(self, o):
        return self._binary(o, BinaryOp.MUL) if _is_scalar(o) else self._rbinary(o, BinaryOp.MUL)

    def __truediv__(self, o):
        return self._binary(o, BinaryOp.DIV)

    def __rtruediv__(self, o):
        return self._rbinary(o, BinaryOp.DIV)

    def maximum(self, o):
        """Elementwise maximum (torch.maximum; NaN propagates)."""
        return self._binary(o, BinaryOp.MAX)

    def minimum(self, o):
        """Elementwise minimum (torch.minimum; NaN propagates)."""
        return self._binary(o, BinaryOp.MIN)

    def __matmul__(self, o):
        if not isinstance(o, Tensor):
            try:
                o = Tensor(o, device=self.device)
            except (TypeError, ValueError):
                return NotImplemented
        return _new(C.nn_matmul, self._ptr, o._ptr)

    def __rmatmul__(self, o):
        try:
            o = Tensor(o, device=self.device)
        except (TypeError, ValueError):
            return NotImplemented
        return _new(C.nn_matmul, o._ptr, self._ptr)

    def matmul(self, o):
        return self.__matmul__(o)

    # -- unary ---------------------------------------------------------------------------
    def _unary(self, op):
        return _new(C.nn_unary, op, self._ptr)

    def neg(self):
        return self._unary(UnaryOp.NEG)

    def abs(self):
        return self._unary(UnaryOp.ABS)

    def exp(self):
        return self._unary(UnaryOp.EXP)

    def log(self):
        return self._unary(UnaryOp.LOG)

    def sqrt(self):
        return self._unary(UnaryOp.SQRT)

    def relu(self):
        return self._unary(UnaryOp.RELU)

    def sigmoid(self):
        return self._unary(UnaryOp.SIGMOID)

    def tanh(self):
        return self._unary(UnaryOp.TANH)

    def step(self):
        """1 where x > 0 else 0, same dtype."""
        return self._unary(UnaryOp.STEP)

    __neg__ = neg
    __abs__ = abs

    def __pos__(self):
        return self

    # -- reductions ----------------------------------------------------------------------
    def _reduce(self, op, dim, keepdim):
        d = _capi.ALL_DIMS if dim is None else int(dim)
        return _new(C.nn_reduce, op, self._ptr, d, bool(keepdim))

    def sum(self, dim=None, keepdim=False):
        return self._reduce(ReduceOp.SUM, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return self._reduce(ReduceOp.MEAN, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        """Maximum values (torch.amax), over ``dim`` or everything."""
        return self._reduce(ReduceOp.MAX, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._reduce(ReduceOp.MIN, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return self._reduce(ReduceOp.ARGMAX, dim, keepdim)


def _copy_to_numpy(t):
    """A NumPy copy of t's elements (bfloat16 comes back as float32)."""
    if np is None:
        raise ImportError("nn: Tensor.numpy() needs NumPy; use tolist()")
    src = t if t.dtype != DType.bfloat16 else t.to(DType.float32)
    arr = np.empty(src.shape, dtype=_NN_TO_NP[src.dtype])
    src._read_into(arr.ctypes.data if arr.size else None, arr.nbytes)
    return arr


def _shape_arg(shape):
    if isinstance(shape, numbers.Integral):
        return [int(shape)]
    return [int(s) for s in shape]


def _nest(flat, shape):
    if len(shape) == 1:
        return list(flat)
    step = 1
    for s in shape[1:]:
        step *= s
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _as_tensor(x, dtype=None):
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == as_dtype(dtype) else x.to(dtype)
    return Tensor(x, dtype=dtype)


def lstsq(a, b):
    """Least-squares solution x minimising ||a x - b|| (nn_lstsq; Householder QR in float64)."""
    a = _as_tensor(a)
    b = _as_tensor(b)
    return _new(C.nn_lstsq, a._ptr, b._ptr)


from . import interop as _interop  # noqa: E402

_interop.install(Tensor)
