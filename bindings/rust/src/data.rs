//! Data files (`.npy`, CSV), row selection (slice, index_select, concat) and
//! metrics (nn.h group "data").
//!
//! ```no_run
//! use nn::{Device, DType, Metric, Tensor};
//! let t = Tensor::load_csv("digits.csv", b',', 0, DType::F32, Device::Cpu)?;
//! let train = t.slice(0, 0, 1400)?; // a view
//! let rows = t.index_select(0, &Tensor::from_slice(&[3i64, 1], &[2])?)?;
//! t.save_npy("digits.npy")?;
//! let r2 = nn::metric(Metric::R2, &train, &train)?;
//! # Ok::<(), nn::Error>(())
//! ```
use std::os::raw::{c_char, c_int};
use std::path::Path;

use crate::{check, path_cstring, sys, DType, Device, Error, Result, Status, Tensor};

/// What [`metric`] scores (`nn_metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Fraction of rows predicted right (nn_model_evaluate's rule).
    Accuracy,
    /// Mean absolute error.
    Mae,
    /// Root mean squared error (mean of the per-column RMSEs).
    Rmse,
    /// Coefficient of determination (scikit-learn's r2_score).
    R2,
}

impl Metric {
    /// The raw C value.
    pub fn to_raw(self) -> sys::nn_metric {
        match self {
            Metric::Accuracy => sys::NN_METRIC_ACCURACY,
            Metric::Mae => sys::NN_METRIC_MAE,
            Metric::Rmse => sys::NN_METRIC_RMSE,
            Metric::R2 => sys::NN_METRIC_R2,
        }
    }
}

impl Tensor {
    /// Loads a `.npy` file (versions 1-3, C or Fortran order); a malformed
    /// file is `Status::Format`.
    pub fn load_npy(path: impl AsRef<Path>, device: Device) -> Result<Tensor> {
        let p = path_cstring(path.as_ref(), "nn_tensor_load_npy")?;
        // SAFETY: p is NUL-terminated; out is a valid pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_load_npy(p.as_ptr(), device.to_raw(), out) })
    }

    /// Saves as a `.npy` file NumPy reads (atomically; BF16 as float32).
    pub fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref(), "nn_tensor_save_npy")?;
        // SAFETY: valid handle and string.
        check(unsafe { sys::nn_tensor_save_npy(self.as_ptr(), p.as_ptr()) })
    }

    /// Loads a numeric CSV table as `[rows, cols]` of `dtype`; errors name
    /// the file, line and column.
    pub fn load_csv(
        path: impl AsRef<Path>,
        delimiter: u8,
        skip_rows: i32,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let p = path_cstring(path.as_ref(), "nn_tensor_load_csv")?;
        // SAFETY: p is NUL-terminated; out is a valid pointer.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_load_csv(p.as_ptr(), delimiter as c_char, skip_rows, dtype.to_raw(), device.to_raw(), out)
        })
    }

    /// `self[start:end]` along `dim` (Python slice rules), a view sharing
    /// storage with `self`.
    pub fn slice(&self, dim: i32, start: i64, end: i64) -> Result<Tensor> {
        // SAFETY: valid handle; out is a valid pointer.
        self.view(|out| unsafe { sys::nn_tensor_slice(self.as_ptr(), dim, start, end, out) })
    }

    /// The entries at `index` (1-D integer tensor) along `dim`, copied.
    pub fn index_select(&self, dim: i32, index: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles; out is a valid pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_index_select(self.as_ptr(), dim, index.as_ptr(), out) })
    }

    /// Joins tensors along `dim` (torch.cat; dtypes promoted).
    pub fn concat(tensors: &[&Tensor], dim: i32) -> Result<Tensor> {
        let n = c_int::try_from(tensors.len())
            .map_err(|_| Error::new(Status::InvalidArgument, "nn_tensor_concat: too many tensors"))?;
        let ptrs: Vec<*const sys::nn_tensor> = tensors.iter().map(|t| t.as_ptr()).collect();
        // SAFETY: n valid handles; out is a valid pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_concat(n, ptrs.as_ptr(), dim, out) })
    }
}

/// Scores `pred` against `target` (definitions in nn.h, group "data").
pub fn metric(m: Metric, pred: &Tensor, target: &Tensor) -> Result<f64> {
    let mut v = 0.0f64;
    // SAFETY: valid handles and out pointer.
    check(unsafe { sys::nn_metric_compute(m.to_raw(), pred.as_ptr(), target.as_ptr(), &mut v) })?;
    Ok(v)
}

/// I64 `[classes, classes]` confusion matrix: rows the true class, columns
/// the predicted one.
pub fn confusion_matrix(pred: &Tensor, target: &Tensor, classes: i64) -> Result<Tensor> {
    // SAFETY: valid handles; out is a valid pointer.
    Tensor::from_new(|out| unsafe { sys::nn_confusion_matrix(pred.as_ptr(), target.as_ptr(), classes, out) })
}
