"""ONNX export and import (nn.h group "onnx"): adds ``Model.export_onnx`` and
``Model.import_onnx``.

    m.export_onnx("model.onnx")                  # Gemm/Relu/... opset 13, dynamic batch
    m2 = nn.Model.import_onnx("model.onnx")       # what torch.onnx.export writes for an MLP

A graph libnn cannot represent raises ``nn.UnsupportedError`` naming the
node and its op; a malformed file ``nn.FormatError``.
"""

import ctypes
import os

from . import _capi
from ._capi import C, check
from .model import Model


def export_onnx(self, path):
    """Writes the model as an ONNX file (atomically): opset 13, Gemm with
    transB=1 and the activations as ONNX ops, input "input" and output
    "output" with a dynamic batch dimension, float or double like the model."""
    check(C.nn_model_export_onnx(self._ptr, os.fsencode(os.fspath(path))))


def import_onnx(cls, path, device="cpu"):
    """Reads an ONNX MLP (a chain of Gemm or MatMul+Add and the supported
    activations) into a new model on ``device``."""
    out = ctypes.c_void_p()
    check(C.nn_model_import_onnx(os.fsencode(os.fspath(path)), _capi.parse_device(device), ctypes.byref(out)))
    return cls._wrap(out.value)


Model.export_onnx = export_onnx
Model.import_onnx = classmethod(import_onnx)
