"""Checkpoints (exact resume), PyTorch state dicts, model metadata and the
model as C source: nn.h's nn_checkpoint_save/load, nn_optimizer_epoch,
nn_model_load_weights, nn_model_set/get_metadata and nn_model_export_c.

    nn.save_checkpoint(model, opt, "run.ckpt")       # weights + optimizer state
    model, opt = nn.load_checkpoint("run.ckpt")       # resume: fit continues exactly
    opt.epoch                                          # epochs ended so far
    model.load_weights("torch_state_dict.safetensors")  # load_state_dict(strict=True)
    model.set_metadata("features", "a,b,c"); model.get_metadata("features"); model.metadata
    model.export_c("model.c", prefix="net")           # one C99 file, no libnn needed

The methods are added to nn.Model and nn.Optimizer when the package is imported.
"""

import ctypes
import os

from . import _capi
from ._capi import C, check
from .model import Model, Optimizer

__all__ = ["save_checkpoint", "load_checkpoint"]


def _path(p):
    return os.fsencode(os.fspath(p))


def _text(s, what):
    if not isinstance(s, str):
        raise TypeError("nn: %s must be a str, not %s" % (what, type(s).__name__))
    return s.encode("utf-8")


def save_checkpoint(model, optimizer, path):
    """Saves the model and its optimizer (state, step and epoch counts, learning
    rate, StepLR schedule) to one safetensors file, atomically. nn.Model.load
    and PyTorch read it as a plain model."""
    check(C.nn_checkpoint_save(model._ptr, optimizer._ptr, _path(path)))


def load_checkpoint(path, device="cpu"):
    """Loads a checkpoint: ``(model, optimizer)`` in the state they were saved
    in, so that ``model.fit(..., optimizer=opt)`` continues bit for bit."""
    m = ctypes.c_void_p()
    o = ctypes.c_void_p()
    check(C.nn_checkpoint_load(_path(path), _capi.parse_device(device), ctypes.byref(m), ctypes.byref(o)))
    model = Model._wrap(m.value)
    opt = Optimizer.__new__(Optimizer)
    opt._init(model, o.value)
    return model, opt


def _epoch(self):
    """Epochs ended so far (nn_optimizer_epoch): fit's shuffle order follows it."""
    return int(C.nn_optimizer_epoch(self._ptr))


def _load_weights(self, path):
    """Loads the parameters of a safetensors state dict whose names and shapes
    match this model exactly (PyTorch's load_state_dict(strict=True)); dtypes
    are converted. Raises nn.FormatError naming missing, unexpected or
    mis-shaped tensors; the model is then unchanged."""
    check(C.nn_model_load_weights(self._ptr, _path(path)))
    return self


def _set_metadata(self, key, value):
    """Sets a string entry saved with the model (value None removes it). Keys
    starting with "nn." are reserved; key <= 128 bytes, value <= 65536 bytes,
    at most 128 entries."""
    check(C.nn_model_set_metadata(self._ptr, _text(key, "key"),
                                  None if value is None else _text(value, "value")))


def _get_metadata(self, key, default=None):
    """The entry's value, or ``default`` when the key is not set."""
    k = _text(key, "key")
    needed = ctypes.c_size_t(0)
    check(C.nn_model_get_metadata(self._ptr, k, None, 0, ctypes.byref(needed)))
    if needed.value == 0:
        return default
    buf = ctypes.create_string_buffer(needed.value)
    check(C.nn_model_get_metadata(self._ptr, k, buf, len(buf), ctypes.byref(needed)))
    return buf.raw[:needed.value - 1].decode("utf-8")


def _metadata(self):
    """Every metadata entry as a dict (a copy: change entries with set_metadata)."""
    out = {}
    for i in range(C.nn_model_metadata_count(self._ptr)):
        needed = ctypes.c_size_t(0)
        check(C.nn_model_metadata_key(self._ptr, i, None, 0, ctypes.byref(needed)))
        buf = ctypes.create_string_buffer(needed.value)
        check(C.nn_model_metadata_key(self._ptr, i, buf, len(buf), ctypes.byref(needed)))
        key = buf.raw[:needed.value - 1].decode("utf-8")
        out[key] = self.get_metadata(key)
    return out


def _export_c(self, path, prefix="model"):
    """Writes the model as one C99 file: <prefix>_predict(x, y),
    <prefix>_predict_rows(rows, x, y), <PREFIX>_IN_FEATURES/_OUT_FEATURES."""
    check(C.nn_model_export_c(self._ptr, _path(path), _text(prefix, "prefix")))


Optimizer.epoch = property(_epoch)
Model.load_weights = _load_weights
Model.set_metadata = _set_metadata
Model.get_metadata = _get_metadata
Model.export_c = _export_c
Model.metadata = property(_metadata)
