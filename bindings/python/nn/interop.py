"""NumPy and DLPack exchange for nn.Tensor (standard library only).

Out of libnn, without a copy where the layout allows:

- ``numpy.asarray(t)`` / ``t.numpy()`` view a contiguous CPU tensor of a dtype
  NumPy has (everything but bfloat16) through ``__array_interface__``: the
  array shares the tensor's storage (writes are seen both ways, as with
  ``torch.Tensor.numpy()``) and keeps it alive. A transposed view, a CUDA
  tensor, a bfloat16 tensor or an empty one is copied instead
  (``t.numpy(copy=True)`` always copies).
- ``t.__dlpack__()`` exports a contiguous CPU tensor without a copy
  (``numpy.from_dlpack(t)``, ``torch.from_dlpack(t)``); a transposed view is
  exported as a contiguous copy; a CUDA tensor is refused (BufferError).

Into libnn, always one copy: ``nn.Tensor(array)`` and ``nn.from_dlpack(obj)``
copy the elements into storage libnn owns (nn.h has no function that adopts
foreign memory). ``from_dlpack`` reads any CPU DLPack producer (NumPy,
PyTorch, ...) of the dtypes libnn has, any strides.
"""

import ctypes

from . import _capi
from ._capi import C, DType, check

__all__ = ["from_dlpack"]

# --------------------------------------------------------------------------
# DLPack structures (dlpack.h, the unversioned DLManagedTensor of DLPack 0.x,
# which every consumer reads)
# --------------------------------------------------------------------------

_kDLCPU = 1
_kDLCUDA = 2
_kDLCUDAHost = 3
_kDLInt, _kDLUInt, _kDLFloat, _kDLBfloat = 0, 1, 2, 4


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    pass


_DLDeleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManagedTensor))
_DLManagedTensor._fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                             ("deleter", _DLDeleter)]

_TO_DL = {DType.float32: (_kDLFloat, 32), DType.float64: (_kDLFloat, 64),
          DType.float16: (_kDLFloat, 16), DType.bfloat16: (_kDLBfloat, 16),
          DType.uint8: (_kDLUInt, 8), DType.int16: (_kDLInt, 16),
          DType.int32: (_kDLInt, 32), DType.int64: (_kDLInt, 64)}
_FROM_DL = {v: k for k, v in _TO_DL.items()}
_FROM_DL[(_kDLUInt, 1)] = None   # bool: refused below with a message

# Python C API through ctypes (pythonapi holds the GIL during calls).
_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]

# The capsule names must outlive every capsule: module-level buffers.
_NAME = ctypes.create_string_buffer(b"dltensor")
_USED = ctypes.create_string_buffer(b"used_dltensor")

# Exported tensors alive in a consumer: address -> (struct, shape array, view handle)
_exported = {}


def _release(addr):
    entry = _exported.pop(addr, None)
    if entry is not None:
        _capi.free_handle("tensor", entry[2])


@_DLDeleter
def _deleter(mt):
    _release(ctypes.cast(mt, ctypes.c_void_p).value)


# The capsule destructor gets the capsule object (PyObject*) while it is being
# destroyed: read it as a raw pointer, never as a Python object.
_CapsuleDestructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_raw_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", _api))
_raw_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", _api))


@_CapsuleDestructor
def _capsule_destructor(capsule):
    # Not consumed (still named "dltensor"): the producer frees it.
    if _raw_is_valid(capsule, _NAME):
        _release(_raw_get_pointer(capsule, _NAME))


def _dlpack(self, stream=None, max_version=None, dl_device=None, copy=None):
    """DLPack export (the unversioned capsule): no copy for a contiguous CPU
    tensor; a transposed view is exported as a contiguous copy (unless
    ``copy=False``); a CUDA tensor is refused."""
    if self.device != "cpu":
        raise BufferError("nn: __dlpack__ exports CPU tensors only (this one is on %s); "
                          "use t.cpu() first" % self.device)
    if dl_device is not None and tuple(dl_device)[0] not in (_kDLCPU, _kDLCUDAHost):
        raise BufferError("nn: __dlpack__ cannot export to device %r" % (dl_device,))
    src = self
    if copy or C.nn_tensor_data(self._ptr) is None:
        if copy is False and C.nn_tensor_data(self._ptr) is None and self.numel > 0:
            raise BufferError("nn: a non-contiguous tensor cannot be exported without a copy")
        src = self.clone()
    # A view handle of its own keeps the storage alive for the consumer.
    shp, nd = _capi.shape_array(src.shape)
    view = ctypes.c_void_p()
    check(C.nn_tensor_reshape(src._ptr, nd, shp, ctypes.byref(view)))
    view = _capi.new_handle("tensor", view.value)
    mt = _DLManagedTensor()
    shape = (ctypes.c_int64 * max(nd, 1))(*src.shape)
    code, bits = _TO_DL[src.dtype]
    mt.dl_tensor.data = C.nn_tensor_data(view)
    mt.dl_tensor.device = _DLDevice(_kDLCPU, 0)
    mt.dl_tensor.ndim = nd
    mt.dl_tensor.dtype = _DLDataType(code, bits, 1)
    mt.dl_tensor.shape = shape
    mt.dl_tensor.strides = None          # compact row-major
    mt.dl_tensor.byte_offset = 0
    mt.manager_ctx = None
    mt.deleter = _deleter
    addr = ctypes.addressof(mt)
    _exported[addr] = (mt, shape, view)
    return _api.PyCapsule_New(addr, _NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def _dlpack_device(self):
    """(device type, index) as DLPack numbers: (1, 0) for the CPU, (2, i) for cuda:i."""
    d = C.nn_tensor_device(self._ptr)
    return (_kDLCPU, 0) if d.type == _capi.DeviceType.CPU else (_kDLCUDA, d.index)


def from_dlpack(obj, device=None):
    """A new Tensor with a copy of a DLPack producer's elements (an object with
    ``__dlpack__``, e.g. a NumPy array or a CPU torch.Tensor, or a "dltensor"
    capsule). CPU producers only; ``device`` places the copy (default CPU)."""
    from .tensor import Tensor
    if hasattr(obj, "__dlpack__"):
        if hasattr(obj, "__dlpack_device__"):
            dt, _ = obj.__dlpack_device__()
            if int(dt) not in (_kDLCPU, _kDLCUDAHost):
                raise BufferError("nn.from_dlpack: only CPU producers are read (DLPack device "
                                  "type %d); copy to the CPU first" % int(dt))
        capsule = obj.__dlpack__()
    else:
        capsule = obj
    if not _api.PyCapsule_IsValid(capsule, _NAME):
        raise TypeError("nn.from_dlpack: %r is neither a DLPack producer nor an unused "
                        "'dltensor' capsule" % (obj,))
    mt = _DLManagedTensor.from_address(_api.PyCapsule_GetPointer(capsule, _NAME))
    # From here the capsule is ours: mark it used, call its deleter when done.
    _api.PyCapsule_SetName(capsule, _USED)
    try:
        t = mt.dl_tensor
        if t.device.device_type not in (_kDLCPU, _kDLCUDAHost):
            raise BufferError("nn.from_dlpack: only CPU data are read (DLPack device type %d)"
                              % t.device.device_type)
        key = (t.dtype.code, t.dtype.bits)
        if t.dtype.lanes != 1 or _FROM_DL.get(key) is None:
            raise TypeError("nn.from_dlpack: DLPack dtype (code %d, %d bits, %d lanes) has no "
                            "libnn dtype" % (t.dtype.code, t.dtype.bits, t.dtype.lanes))
        dt = _FROM_DL[key]
        nd = t.ndim
        if nd > _capi.MAX_DIMS:
            raise ValueError("nn.from_dlpack: %d dimensions; at most %d" % (nd, _capi.MAX_DIMS))
        shape = [t.shape[i] for i in range(nd)]
        item = dt.itemsize
        numel = 1
        for s in shape:
            numel *= s
        base = (t.data or 0) + t.byte_offset
        contiguous = True
        if t.strides and numel > 0:
            expect = 1
            for i in range(nd - 1, -1, -1):
                if shape[i] != 1 and t.strides[i] != expect:
                    contiguous = False
                    break
                expect *= shape[i]
        shp, _ = _capi.shape_array(shape)
        if contiguous or numel == 0:
            src = base if numel else None
            out = ctypes.c_void_p()
            check(C.nn_tensor_from_data(dt, nd, shp, src, _capi.parse_device(device),
                                        ctypes.byref(out)))
            return Tensor._wrap(out.value)
        # Any strides (in elements): gather element by element into a compact buffer.
        strides = [t.strides[i] for i in range(nd)]
        buf = (ctypes.c_char * (numel * item))()
        dst = ctypes.addressof(buf)
        idx = [0] * nd
        for n in range(numel):
            off = sum(idx[i] * strides[i] for i in range(nd)) * item
            ctypes.memmove(dst + n * item, base + off, item)
            for i in range(nd - 1, -1, -1):
                idx[i] += 1
                if idx[i] < shape[i]:
                    break
                idx[i] = 0
        out = ctypes.c_void_p()
        check(C.nn_tensor_from_data(dt, nd, shp, buf, _capi.parse_device(device), ctypes.byref(out)))
        return Tensor._wrap(out.value)
    finally:
        if mt.deleter:
            mt.deleter(ctypes.pointer(mt))


# --------------------------------------------------------------------------
# NumPy: __array_interface__ (no copy) and numpy(copy=...)
# --------------------------------------------------------------------------

_TYPESTR = {DType.float32: "<f4", DType.float64: "<f8", DType.float16: "<f2",
            DType.uint8: "|u1", DType.int16: "<i2", DType.int32: "<i4", DType.int64: "<i8"}


def _shareable(t):
    """The host address of t's elements when NumPy can view them, else None."""
    if not t._h or t.dtype not in _TYPESTR or t.numel == 0:
        return None
    return C.nn_tensor_data(t._ptr)


def _array_interface(self):
    addr = _shareable(self)
    if addr is None:   # NumPy then falls back to __array__ (a copy)
        raise AttributeError("nn: this tensor cannot be viewed without a copy "
                             "(CUDA, bfloat16, empty or non-contiguous)")
    return {"version": 3, "shape": tuple(self.shape), "typestr": _TYPESTR[self.dtype],
            "data": (addr, False), "strides": None}


class _Holder:
    """Owns a view handle of a tensor's storage for the NumPy arrays made from it,
    so closing the Tensor never leaves them dangling."""

    def __init__(self, t):
        shp, nd = _capi.shape_array(t.shape)
        out = ctypes.c_void_p()
        check(C.nn_tensor_reshape(t._ptr, nd, shp, ctypes.byref(out)))
        self._h = _capi.new_handle("tensor", out.value)
        self.__array_interface__ = {"version": 3, "shape": tuple(t.shape),
                                    "typestr": _TYPESTR[t.dtype],
                                    "data": (C.nn_tensor_data(self._h), False), "strides": None}

    def __del__(self):
        h, self._h = self._h, None
        if h:
            try:
                _capi.free_handle("tensor", h)
            except Exception:  # interpreter shutdown
                pass


def _numpy(self, copy=False):
    """The elements as a NumPy array. Without a copy (sharing the storage, as
    torch's ``.numpy()``) for a contiguous CPU tensor of a NumPy dtype; a copy
    otherwise or with ``copy=True`` (bfloat16 comes back as float32)."""
    from .tensor import np, _copy_to_numpy
    if np is None:
        raise ImportError("nn: Tensor.numpy() needs NumPy; use tolist()")
    if not copy and _shareable(self) is not None:
        return np.asarray(_Holder(self))
    return _copy_to_numpy(self)


def install(tensor_cls):
    """Adds the NumPy and DLPack methods to nn.Tensor."""
    tensor_cls.__array_interface__ = property(_array_interface)
    tensor_cls.__dlpack__ = _dlpack
    tensor_cls.__dlpack_device__ = _dlpack_device
    tensor_cls.numpy = _numpy
