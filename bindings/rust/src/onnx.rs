//! ONNX export and import (nn.h group "onnx") as methods of [`Model`].
use std::path::Path;

use crate::{check, new_handle, path_cstring, sys, Device, Model, Result};

impl Model {
    /// Writes the model as an ONNX file, atomically: opset 13, `Gemm`
    /// (transB = 1) per Linear layer and the activations as ONNX ops, input
    /// `"input"` and output `"output"` with a dynamic batch dimension, float
    /// or double like the model (`nn_model_export_onnx`).
    pub fn export_onnx(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref(), "Model::export_onnx")?;
        // SAFETY: valid handle and NUL-terminated path.
        check(unsafe { sys::nn_model_export_onnx(self.ptr(), p.as_ptr()) })
    }

    /// Reads an ONNX MLP (what `torch.onnx.export` writes for an
    /// `nn.Sequential` of Linear and the supported activations) onto a device
    /// (`nn_model_import_onnx`). Anything else: [`crate::Status::Unsupported`]
    /// naming the node and op; a malformed file: [`crate::Status::Format`].
    pub fn import_onnx(path: impl AsRef<Path>, device: Device) -> Result<Model> {
        let p = path_cstring(path.as_ref(), "Model::import_onnx")?;
        // SAFETY: NUL-terminated path, valid out pointer.
        Ok(Model::wrap(new_handle(|out| unsafe { sys::nn_model_import_onnx(p.as_ptr(), device.to_raw(), out) })?))
    }
}
