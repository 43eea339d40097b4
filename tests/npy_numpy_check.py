#!/usr/bin/env python3
"""NumPy and libnn read each other's .npy files (nn.h group "data").

    python3 tests/npy_numpy_check.py /path/to/libnn.so

Through ctypes on the library itself (no binding): for every libnn dtype,
libnn saves a tensor that numpy.load must read with the same dtype (bfloat16:
float32), shape and values; numpy.save / format.write_array writes C- and
Fortran-order arrays in versions 1.0, 2.0 and 3.0 that nn_tensor_load_npy must
read back equal. Prints 'N passed, N failed' and exits non-zero on failure.
"""
import ctypes
import os
import sys
import tempfile

import numpy as np

lib = ctypes.CDLL(sys.argv[1])


class Device(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int32), ("index", ctypes.c_int32)]


CPU = Device(1, 0)
lib.nn_last_error.restype = ctypes.c_char_p
lib.nn_tensor_from_data.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p,
                                    Device, ctypes.POINTER(ctypes.c_void_p)]
lib.nn_tensor_save_npy.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.nn_tensor_load_npy.argtypes = [ctypes.c_char_p, Device, ctypes.POINTER(ctypes.c_void_p)]
lib.nn_tensor_ndim.argtypes = [ctypes.c_void_p]
lib.nn_tensor_shape.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]
lib.nn_tensor_dtype.argtypes = [ctypes.c_void_p]
lib.nn_tensor_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
lib.nn_tensor_free.argtypes = [ctypes.c_void_p]

# nn_dtype values -> numpy dtypes (BF16 = 3 is stored as uint16 bits here)
DT = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint16, 4: np.uint8, 5: np.int16, 6: np.int32,
      7: np.int64}
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def ok(st, what):
    if st != 0:
        raise RuntimeError(f"{what}: status {st}: {lib.nn_last_error().decode()}")


def bf16_bits(a):
    return (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


tmp = tempfile.mkdtemp(prefix="nn_npy_")
rng = np.random.default_rng(3)
for dt, npdt in DT.items():
    for shape in [(2, 3, 4), (5,), (), (0, 3)]:
        vals = rng.integers(0, 100, size=shape).astype(np.float64) / (4 if dt in (0, 1, 2, 3) else 1)
        host = bf16_bits(vals) if dt == 3 else vals.astype(npdt)
        host = np.ascontiguousarray(host)
        dims = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        t = ctypes.c_void_p()
        ok(lib.nn_tensor_from_data(dt, len(shape), dims, host.ctypes.data, CPU, ctypes.byref(t)), "from_data")
        path = os.path.join(tmp, f"t{dt}_{len(shape)}.npy")
        ok(lib.nn_tensor_save_npy(t, path.encode()), "save_npy")
        lib.nn_tensor_free(t)
        got = np.load(path)
        want_dt = np.float32 if dt == 3 else npdt
        check(got.dtype == want_dt and got.shape == shape and np.array_equal(got, vals.astype(want_dt)),
              f"numpy.load of libnn dtype {dt} shape {shape}: {got.dtype} {got.shape}")

# numpy writes, libnn reads
for npdt, dt in [(np.float32, 0), (np.float64, 1), (np.float16, 2), (np.uint8, 4), (np.int16, 5), (np.int32, 6),
                 (np.int64, 7), (np.dtype(">f4"), 0), (np.dtype(">i8"), 7)]:
    for order in "CF":
        for version in [(1, 0), (2, 0), (3, 0)]:
            a = np.asarray(rng.integers(-50, 50, size=(3, 4, 2)), dtype=npdt, order=order)
            path = os.path.join(tmp, "np.npy")
            with open(path, "wb") as f:
                np.lib.format.write_array(f, a, version=version)
            t = ctypes.c_void_p()
            ok(lib.nn_tensor_load_npy(path.encode(), CPU, ctypes.byref(t)), f"load_npy {npdt} {order} {version}")
            nd = lib.nn_tensor_ndim(t)
            shp = (ctypes.c_int64 * 8)()
            lib.nn_tensor_shape(t, shp)
            shape = tuple(shp[i] for i in range(nd))
            out = np.empty(shape, dtype=DT[lib.nn_tensor_dtype(t)])
            ok(lib.nn_tensor_read(t, out.ctypes.data, out.nbytes), "read")
            lib.nn_tensor_free(t)
            check(lib_dt_ok := (DT[dt] == out.dtype.type) and shape == a.shape and np.array_equal(out, a),
                  f"nn_tensor_load_npy of numpy {a.dtype} order {order} version {version}")

# numpy.save of the default path too
a = np.arange(12, dtype=np.float32).reshape(3, 4)
np.save(os.path.join(tmp, "s.npy"), a)
t = ctypes.c_void_p()
ok(lib.nn_tensor_load_npy(os.path.join(tmp, "s.npy").encode(), CPU, ctypes.byref(t)), "load numpy.save")
out = np.empty((3, 4), np.float32)
ok(lib.nn_tensor_read(t, out.ctypes.data, out.nbytes), "read")
lib.nn_tensor_free(t)
check(np.array_equal(out, a), "numpy.save -> nn_tensor_load_npy")

print(f"npy_numpy: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
