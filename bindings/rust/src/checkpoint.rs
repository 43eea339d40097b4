//! Checkpoints for exact resume, PyTorch state dicts, model metadata and the
//! model as C source (nn.h: `nn_checkpoint_save`/`_load`,
//! `nn_optimizer_epoch`, `nn_model_load_weights`, `nn_model_set_metadata`/
//! `_get_metadata`, `nn_model_export_c`).
//!
//! ```no_run
//! # use nn::{Model, Optimizer, Device};
//! # fn main() -> nn::Result<()> {
//! let mut model = Model::mlp(&[4, 8, 2], nn::Activation::Relu, nn::Activation::Identity)?;
//! let opt = Optimizer::adam(&mut model, 1e-3, 0.9, 0.999, 1e-8, 0.0, false)?;
//! model.set_metadata("features", "a,b,c,d")?;
//! nn::save_checkpoint(&model, &opt, "run.ckpt")?;
//! let (model, opt) = nn::load_checkpoint("run.ckpt", Device::Cpu)?; // fit continues exactly
//! assert_eq!(opt.epoch(), 0);
//! model.export_c("model.c", "net")?;
//! # Ok(()) }
//! ```

use std::ffi::CString;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::{check, path_cstring, sys, Device, Error, Model, Optimizer, Result, Status};

fn text_cstring(s: &str, what: &str, name: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(Status::InvalidArgument, format!("{what}: {name} contains a NUL byte")))
}

/// Saves `model` and its optimizer (state tensors, step and epoch counts,
/// learning rate, StepLR schedule) to one safetensors file, atomically.
/// [`Model::load`] and PyTorch read it as a plain model.
pub fn save_checkpoint(model: &Model, optimizer: &Optimizer, path: impl AsRef<Path>) -> Result<()> {
    optimizer.check_model(model, "save_checkpoint")?;
    let p = path_cstring(path.as_ref(), "save_checkpoint")?;
    // SAFETY: valid handles (the optimizer belongs to the model), NUL-terminated path.
    check(unsafe { sys::nn_checkpoint_save(model.ptr(), optimizer.ptr.as_ptr(), p.as_ptr()) })
}

/// Loads a checkpoint written by [`save_checkpoint`]: the model and its
/// optimizer as they were saved, so that training continues bit for bit.
pub fn load_checkpoint(path: impl AsRef<Path>, device: Device) -> Result<(Model, Optimizer)> {
    let p = path_cstring(path.as_ref(), "load_checkpoint")?;
    let mut m: *mut sys::nn_model = ptr::null_mut();
    let mut o: *mut sys::nn_optimizer = ptr::null_mut();
    // SAFETY: NUL-terminated path, valid out pointers.
    check(unsafe { sys::nn_checkpoint_load(p.as_ptr(), device.to_raw(), &mut m, &mut o) })?;
    let model = Model::wrap(NonNull::new(m).ok_or_else(|| Error::new(Status::Internal, "load_checkpoint: NULL model"))?);
    let ptr = NonNull::new(o).ok_or_else(|| Error::new(Status::Internal, "load_checkpoint: NULL optimizer"))?;
    let opt = Optimizer { ptr, model: Arc::clone(&model.h) };
    Ok((model, opt))
}

impl Optimizer {
    /// Epochs ended so far (`nn_optimizer_epoch`); `fit`'s shuffle order follows it.
    pub fn epoch(&self) -> i64 {
        // SAFETY: valid handle.
        unsafe { sys::nn_optimizer_epoch(self.ptr.as_ptr()) }
    }
}

impl Model {
    /// Loads parameters from a safetensors state dict whose names and shapes
    /// match this model exactly (PyTorch's `load_state_dict(strict=True)`),
    /// converting dtypes. On error (`Status::Format`, naming the missing,
    /// unexpected and mis-shaped tensors) the model is unchanged.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref(), "Model::load_weights")?;
        // SAFETY: valid handle, exclusive access, NUL-terminated path.
        check(unsafe { sys::nn_model_load_weights(self.ptr(), p.as_ptr()) })
    }

    /// Sets a metadata entry saved with the model (keys `nn.*` reserved; key
    /// <= 128 bytes, value <= 65536 bytes, at most 128 entries).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        let k = text_cstring(key, "Model::set_metadata", "key")?;
        let v = text_cstring(value, "Model::set_metadata", "value")?;
        // SAFETY: valid handle, exclusive access, NUL-terminated strings.
        check(unsafe { sys::nn_model_set_metadata(self.ptr(), k.as_ptr(), v.as_ptr()) })
    }

    /// Removes a metadata entry (no error when it is not set).
    pub fn remove_metadata(&mut self, key: &str) -> Result<()> {
        let k = text_cstring(key, "Model::remove_metadata", "key")?;
        // SAFETY: valid handle, exclusive access; NULL value removes.
        check(unsafe { sys::nn_model_set_metadata(self.ptr(), k.as_ptr(), ptr::null()) })
    }

    /// A metadata entry's value, `None` when the key is not set.
    pub fn metadata(&self, key: &str) -> Result<Option<String>> {
        let k = text_cstring(key, "Model::metadata", "key")?;
        let mut needed = 0usize;
        // SAFETY: size query with NULL, 0.
        check(unsafe { sys::nn_model_get_metadata(self.ptr(), k.as_ptr(), ptr::null_mut(), 0, &mut needed) })?;
        if needed == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; needed];
        // SAFETY: buf has `needed` bytes; the model cannot change under &self.
        check(unsafe { sys::nn_model_get_metadata(self.ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut needed) })?;
        buf.truncate(needed.saturating_sub(1));
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| Error::new(Status::Internal, "Model::metadata: value is not UTF-8"))
    }

    /// Every metadata entry, as (key, value) pairs in byte order of the keys.
    pub fn metadata_entries(&self) -> Result<Vec<(String, String)>> {
        // SAFETY: valid handle.
        let n = unsafe { sys::nn_model_metadata_count(self.ptr()) };
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for i in 0..n {
            let mut needed = 0usize;
            // SAFETY: size query with NULL, 0.
            check(unsafe { sys::nn_model_metadata_key(self.ptr(), i, ptr::null_mut(), 0, &mut needed) })?;
            let mut buf = vec![0u8; needed.max(1)];
            // SAFETY: buf has `needed` bytes; the model cannot change under &self.
            check(unsafe { sys::nn_model_metadata_key(self.ptr(), i, buf.as_mut_ptr().cast(), buf.len(), &mut needed) })?;
            buf.truncate(needed.saturating_sub(1));
            let key = String::from_utf8(buf)
                .map_err(|_| Error::new(Status::Internal, "Model::metadata_entries: key is not UTF-8"))?;
            let value = self.metadata(&key)?.unwrap_or_default();
            out.push((key, value));
        }
        Ok(out)
    }

    /// Writes the model as one C99 file: `<prefix>_predict`,
    /// `<prefix>_predict_rows`, `<PREFIX>_IN_FEATURES`, `<PREFIX>_OUT_FEATURES`.
    pub fn export_c(&self, path: impl AsRef<Path>, prefix: &str) -> Result<()> {
        let p = path_cstring(path.as_ref(), "Model::export_c")?;
        let pre = text_cstring(prefix, "Model::export_c", "prefix")?;
        // SAFETY: valid handle, NUL-terminated strings.
        check(unsafe { sys::nn_model_export_c(self.ptr(), p.as_ptr(), pre.as_ptr()) })
    }
}
