//! Inference for embedding, one C call per prediction (`nn_model_predict`),
//! and introspection of models and layers (`nn_model_in_features`,
//! `nn_model_out_features`, `nn_layer_activation_of`).

use crate::{check, sys, Activation, Error, Layer, LayerMut, LayerRef, Model, Result, Status};

/// A width from libnn: `None` for -1 (no Linear layer).
fn width(n: i64) -> Option<usize> {
    usize::try_from(n).ok()
}

fn activation_of(p: *const sys::nn_layer) -> Option<Activation> {
    // SAFETY: valid handle; nn_layer_activation_of only reads.
    Activation::from_raw(unsafe { sys::nn_layer_activation_of(p) })
}

impl Model {
    /// Input width: `in_features` of the first Linear layer; `None` for a
    /// model without a Linear layer (`nn_model_in_features`).
    pub fn in_features(&self) -> Option<usize> {
        // SAFETY: valid handle; only reads.
        width(unsafe { sys::nn_model_in_features(self.ptr()) })
    }

    /// Output width: `out_features` of the last Linear layer (activations keep
    /// the width); `None` for a model without a Linear layer (`nn_model_out_features`).
    pub fn out_features(&self) -> Option<usize> {
        // SAFETY: valid handle; only reads.
        width(unsafe { sys::nn_model_out_features(self.ptr()) })
    }

    /// Inference in one call (`nn_model_predict`): `rows` rows of
    /// [`in_features`](Model::in_features) floats from `x` (row-major), the
    /// `rows` rows of [`out_features`](Model::out_features) results into `y`.
    ///
    /// `x` and `y` are host memory whatever the model's device and dtype (an
    /// F64 model converts on the way in and out). The results equal
    /// [`forward`](Model::forward) on the same rows bit for bit. `&self`: many
    /// threads may predict with one model at once; after a thread's first call
    /// for a given number of rows a CPU model allocates nothing.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), nn::Error> {
    /// let model = nn::Model::load("m.safetensors", nn::Device::Cpu)?;
    /// let (n_in, n_out) = (model.in_features().unwrap(), model.out_features().unwrap());
    /// let x = vec![0f32; 4 * n_in]; // 4 rows
    /// let mut y = vec![0f32; 4 * n_out];
    /// model.predict(4, &x, &mut y)?; // no allocation after warm-up
    /// std::thread::scope(|s| {
    ///     s.spawn(|| model.predict_vec(4, &x));
    /// });
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Status::InvalidArgument`] when `x.len()` is not `rows * in_features`
    /// or `y.len()` is not `rows * out_features` (the message names both
    /// lengths) or those products overflow; libnn's errors otherwise (e.g.
    /// `InvalidArgument` for a model without a Linear layer, `Device` for a
    /// CUDA failure), with libnn's message.
    pub fn predict(&self, rows: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
        let too_large = || Error::new(Status::InvalidArgument, format!("Model::predict: {rows} rows is too large"));
        let rows_c = i64::try_from(rows).map_err(|_| too_large())?;
        // Without a Linear layer the widths are unknown: libnn reports that
        // before it reads x or writes y.
        if let (Some(n_in), Some(n_out)) = (self.in_features(), self.out_features()) {
            let nx = rows.checked_mul(n_in).ok_or_else(too_large)?;
            let ny = rows.checked_mul(n_out).ok_or_else(too_large)?;
            if x.len() != nx {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("Model::predict: x has {} floats; {rows} rows of {n_in} in_features need {nx}", x.len()),
                ));
            }
            if y.len() != ny {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("Model::predict: y has {} floats; {rows} rows of {n_out} out_features need {ny}", y.len()),
                ));
            }
        }
        // SAFETY: x holds rows * in_features floats and y rows * out_features
        // (checked above; libnn fails before touching either when the widths
        // are unknown); &[f32] and &mut [f32] cannot overlap; nn_model_predict
        // may run concurrently on one model.
        check(unsafe { sys::nn_model_predict(self.ptr(), rows_c, x.as_ptr(), y.as_mut_ptr()) })
    }

    /// [`predict`](Model::predict) into a new `Vec` of `rows * out_features` floats.
    pub fn predict_vec(&self, rows: usize, x: &[f32]) -> Result<Vec<f32>> {
        let n = match self.out_features() {
            Some(n_out) => rows
                .checked_mul(n_out)
                .ok_or_else(|| Error::new(Status::InvalidArgument, format!("Model::predict: {rows} rows is too large")))?,
            None => 0, // libnn reports the missing Linear layer
        };
        let mut y = vec![0f32; n];
        self.predict(rows, x, &mut y)?;
        Ok(y)
    }
}

impl Layer {
    /// The activation an activation layer applies; `None` for a Linear layer
    /// (`nn_layer_activation_of`). (`Layer::activation` is the constructor.)
    pub fn activation_of(&self) -> Option<Activation> {
        activation_of(self.ptr.as_ptr())
    }
}

impl LayerRef<'_> {
    /// The activation an activation layer applies; `None` for a Linear layer
    /// (`nn_layer_activation_of`).
    pub fn activation_of(&self) -> Option<Activation> {
        activation_of(self.ptr.as_ptr())
    }
}

impl LayerMut<'_> {
    /// The activation an activation layer applies; `None` for a Linear layer
    /// (`nn_layer_activation_of`).
    pub fn activation_of(&self) -> Option<Activation> {
        activation_of(self.ptr.as_ptr())
    }
}
