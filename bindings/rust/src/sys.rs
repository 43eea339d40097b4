//! Raw declarations of every function, type and constant of `include/nn.h`.
//!
//! This module mirrors the C header one to one (same names, same order of
//! groups) and is `unsafe` to use: see the header for each function's
//! contract. The safe API is in the crate root.
//!
//! C enums are declared as `i32` type aliases with `pub const` values, never
//! as Rust enums: a value received from C that is not a listed variant (e.g.
//! `nn_tensor_dtype(NULL)` returns `-1`) would be undefined behaviour in a Rust
//! enum. On every platform libnn supports, these C enums are `int` sized.
//!
//! Keep in step with `include/nn.h`: `scripts/check_bindings.py` fails when a
//! function declared there is missing here.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

// ---------------------------------------------------------------------------
// Status, errors, version

/// `NN_VERSION_MAJOR` of the header these declarations follow.
pub const NN_VERSION_MAJOR: c_int = 0;
/// `NN_VERSION_MINOR`.
pub const NN_VERSION_MINOR: c_int = 1;
/// `NN_VERSION_PATCH`.
pub const NN_VERSION_PATCH: c_int = 0;
/// `NN_MAX_DIMS`: largest number of dimensions of a tensor.
pub const NN_MAX_DIMS: usize = 8;

/// `enum nn_status`.
pub type nn_status = c_int;
pub const NN_OK: nn_status = 0;
pub const NN_ERR_INVALID_ARGUMENT: nn_status = 1;
pub const NN_ERR_SHAPE: nn_status = 2;
pub const NN_ERR_DTYPE: nn_status = 3;
pub const NN_ERR_DEVICE: nn_status = 4;
pub const NN_ERR_OUT_OF_MEMORY: nn_status = 5;
pub const NN_ERR_IO: nn_status = 6;
pub const NN_ERR_FORMAT: nn_status = 7;
pub const NN_ERR_UNSUPPORTED: nn_status = 8;
pub const NN_ERR_NOT_FINITE: nn_status = 9;
pub const NN_ERR_CANCELLED: nn_status = 10;
pub const NN_ERR_INTERNAL: nn_status = 99;

// ---------------------------------------------------------------------------
// Devices and dtypes

/// `enum nn_device_type` (DLPack's kDLCPU / kDLCUDA).
pub type nn_device_type = c_int;
pub const NN_CPU: nn_device_type = 1;
pub const NN_CUDA: nn_device_type = 2;

/// `struct nn_device`, passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct nn_device {
    /// An `nn_device_type`.
    pub type_: i32,
    /// Device ordinal.
    pub index: i32,
}

/// `enum nn_dtype`.
pub type nn_dtype = c_int;
pub const NN_F32: nn_dtype = 0;
pub const NN_F64: nn_dtype = 1;
pub const NN_F16: nn_dtype = 2;
pub const NN_BF16: nn_dtype = 3;
pub const NN_U8: nn_dtype = 4;
pub const NN_I16: nn_dtype = 5;
pub const NN_I32: nn_dtype = 6;
pub const NN_I64: nn_dtype = 7;

// ---------------------------------------------------------------------------
// Opaque handles

/// Opaque `nn_tensor`.
#[repr(C)]
pub struct nn_tensor {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `nn_layer`.
#[repr(C)]
pub struct nn_layer {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `nn_model`.
#[repr(C)]
pub struct nn_model {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}
/// Opaque `nn_optimizer`.
#[repr(C)]
pub struct nn_optimizer {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

// ---------------------------------------------------------------------------
// Operations

/// `enum nn_unary_op`.
pub type nn_unary_op = c_int;
pub const NN_OP_NEG: nn_unary_op = 0;
pub const NN_OP_ABS: nn_unary_op = 1;
pub const NN_OP_EXP: nn_unary_op = 2;
pub const NN_OP_LOG: nn_unary_op = 3;
pub const NN_OP_SQRT: nn_unary_op = 4;
pub const NN_OP_RELU: nn_unary_op = 5;
pub const NN_OP_SIGMOID: nn_unary_op = 6;
pub const NN_OP_TANH: nn_unary_op = 7;
pub const NN_OP_STEP: nn_unary_op = 8;

/// `enum nn_binary_op`.
pub type nn_binary_op = c_int;
pub const NN_OP_ADD: nn_binary_op = 0;
pub const NN_OP_SUB: nn_binary_op = 1;
pub const NN_OP_MUL: nn_binary_op = 2;
pub const NN_OP_DIV: nn_binary_op = 3;
pub const NN_OP_MAX: nn_binary_op = 4;
pub const NN_OP_MIN: nn_binary_op = 5;

/// `enum nn_reduce_op`.
pub type nn_reduce_op = c_int;
pub const NN_REDUCE_SUM: nn_reduce_op = 0;
pub const NN_REDUCE_MEAN: nn_reduce_op = 1;
pub const NN_REDUCE_MAX: nn_reduce_op = 2;
pub const NN_REDUCE_MIN: nn_reduce_op = 3;
pub const NN_REDUCE_ARGMAX: nn_reduce_op = 4;

/// `NN_ALL_DIMS`: the `dim` of `nn_reduce` that reduces over every dimension.
pub const NN_ALL_DIMS: c_int = -128;

// ---------------------------------------------------------------------------
// Layers

/// `enum nn_activation`.
pub type nn_activation = c_int;
pub const NN_ACT_IDENTITY: nn_activation = 0;
pub const NN_ACT_RELU: nn_activation = 1;
pub const NN_ACT_SIGMOID: nn_activation = 2;
pub const NN_ACT_TANH: nn_activation = 3;
pub const NN_ACT_STEP: nn_activation = 4;
pub const NN_ACT_SOFTMAX: nn_activation = 5;
pub const NN_ACT_LEAKY_RELU: nn_activation = 6;

/// `enum nn_layer_kind`.
pub type nn_layer_kind = c_int;
pub const NN_LAYER_LINEAR: nn_layer_kind = 0;
pub const NN_LAYER_ACTIVATION: nn_layer_kind = 1;

/// `enum nn_param`.
pub type nn_param = c_int;
pub const NN_PARAM_WEIGHT: nn_param = 0;
pub const NN_PARAM_BIAS: nn_param = 1;

// ---------------------------------------------------------------------------
// Models

/// `enum nn_init`.
pub type nn_init = c_int;
pub const NN_INIT_TORCH_DEFAULT: nn_init = 0;
pub const NN_INIT_HE_UNIFORM: nn_init = 1;
pub const NN_INIT_HE_NORMAL: nn_init = 2;
pub const NN_INIT_XAVIER_UNIFORM: nn_init = 3;
pub const NN_INIT_XAVIER_NORMAL: nn_init = 4;
pub const NN_INIT_ZEROS: nn_init = 5;

// ---------------------------------------------------------------------------
// Losses, optimizers, training loop

/// `enum nn_loss`.
pub type nn_loss = c_int;
pub const NN_LOSS_MSE: nn_loss = 0;
pub const NN_LOSS_SSE: nn_loss = 1;
pub const NN_LOSS_HALF_MSE: nn_loss = 2;
pub const NN_LOSS_BCE: nn_loss = 3;
pub const NN_LOSS_BCE_WITH_LOGITS: nn_loss = 4;
pub const NN_LOSS_CROSS_ENTROPY: nn_loss = 5;

/// `struct nn_epoch_report`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct nn_epoch_report {
    pub epoch: c_int,
    pub epochs: c_int,
    pub loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// `nn_epoch_callback`: `int (*)(const nn_epoch_report *, void *)`; `None` is NULL.
pub type nn_epoch_callback =
    Option<unsafe extern "C" fn(report: *const nn_epoch_report, user_data: *mut c_void) -> c_int>;

/// `NN_FIT_OPTIONS_VERSION`.
pub const NN_FIT_OPTIONS_VERSION: u32 = 2;

/// `struct nn_fit_options`; fill with `nn_fit_options_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nn_fit_options {
    pub version: u32,
    pub epochs: c_int,
    pub batch_size: i64,
    pub shuffle: bool,
    pub seed: u64,
    pub loss: nn_loss,
    pub val_x: *const nn_tensor,
    pub val_y: *const nn_tensor,
    pub patience: c_int,
    pub on_epoch: nn_epoch_callback,
    pub user_data: *mut c_void,
    // version 2
    pub comm: *const nn_comm,
    pub on_batch: nn_batch_callback,
    pub batch_every: i64,
}

/// `nn_comm` (opaque).
#[repr(C)]
pub struct nn_comm {
    _private: [u8; 0],
}

/// `struct nn_batch_report`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct nn_batch_report {
    pub epoch: c_int,
    pub batch: i64,
    pub batches: i64,
    pub loss: f64,
    pub seconds: f64,
}

/// `nn_batch_callback`: `int (*)(const nn_batch_report *, void *)`; `None` is NULL.
pub type nn_batch_callback =
    Option<unsafe extern "C" fn(report: *const nn_batch_report, user_data: *mut c_void) -> c_int>;

extern "C" {
    // Status, errors, version
    pub fn nn_status_string(s: nn_status) -> *const c_char;
    pub fn nn_last_error() -> *const c_char;
    pub fn nn_version() -> c_int;
    pub fn nn_version_string() -> *const c_char;

    // Devices and dtypes
    pub fn nn_device_count(type_: nn_device_type) -> c_int;
    pub fn nn_set_num_threads(n: c_int) -> nn_status;
    pub fn nn_get_num_threads() -> c_int;
    pub fn nn_dtype_size(dt: nn_dtype) -> usize;

    // Tensors
    pub fn nn_tensor_zeros(
        dt: nn_dtype,
        ndim: c_int,
        shape: *const i64,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_full(
        dt: nn_dtype,
        ndim: c_int,
        shape: *const i64,
        value: f64,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_from_data(
        dt: nn_dtype,
        ndim: c_int,
        shape: *const i64,
        data: *const c_void,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_arange(
        start: f64,
        end: f64,
        step: f64,
        dt: nn_dtype,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_rand_uniform(
        dt: nn_dtype,
        ndim: c_int,
        shape: *const i64,
        low: f64,
        high: f64,
        seed: u64,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_rand_normal(
        dt: nn_dtype,
        ndim: c_int,
        shape: *const i64,
        mean: f64,
        std: f64,
        seed: u64,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_free(t: *mut nn_tensor);
    pub fn nn_tensor_ndim(t: *const nn_tensor) -> c_int;
    pub fn nn_tensor_shape(t: *const nn_tensor, shape: *mut i64) -> nn_status;
    pub fn nn_tensor_numel(t: *const nn_tensor) -> i64;
    pub fn nn_tensor_dtype(t: *const nn_tensor) -> nn_dtype;
    pub fn nn_tensor_device(t: *const nn_tensor) -> nn_device;
    pub fn nn_tensor_read(t: *const nn_tensor, dst: *mut c_void, dst_bytes: usize) -> nn_status;
    pub fn nn_tensor_write(t: *mut nn_tensor, src: *const c_void, src_bytes: usize) -> nn_status;
    pub fn nn_tensor_data(t: *mut nn_tensor) -> *mut c_void;
    pub fn nn_tensor_reshape(
        t: *const nn_tensor,
        ndim: c_int,
        shape: *const i64,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_transpose(
        t: *const nn_tensor,
        dim0: c_int,
        dim1: c_int,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_to_device(t: *const nn_tensor, dev: nn_device, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_tensor_to_dtype(t: *const nn_tensor, dt: nn_dtype, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_tensor_clone(t: *const nn_tensor, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_tensor_to_string(
        t: *const nn_tensor,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> nn_status;

    // Operations
    pub fn nn_unary(op: nn_unary_op, x: *const nn_tensor, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_binary(
        op: nn_binary_op,
        a: *const nn_tensor,
        b: *const nn_tensor,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_binary_scalar(op: nn_binary_op, a: *const nn_tensor, b: f64, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_reduce(
        op: nn_reduce_op,
        x: *const nn_tensor,
        dim: c_int,
        keepdim: bool,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_matmul(a: *const nn_tensor, b: *const nn_tensor, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_lstsq(a: *const nn_tensor, b: *const nn_tensor, x: *mut *mut nn_tensor) -> nn_status;

    // Layers
    pub fn nn_layer_linear(in_features: i64, out_features: i64, bias: bool, out: *mut *mut nn_layer) -> nn_status;
    pub fn nn_layer_activation(act: nn_activation, out: *mut *mut nn_layer) -> nn_status;
    pub fn nn_layer_free(layer: *mut nn_layer);
    pub fn nn_layer_kind_of(layer: *const nn_layer) -> nn_layer_kind;
    pub fn nn_layer_activation_of(layer: *const nn_layer) -> nn_activation;
    pub fn nn_layer_param(layer: *mut nn_layer, which: nn_param, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_layer_grad(layer: *mut nn_layer, which: nn_param, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_layer_forward(layer: *mut nn_layer, x: *const nn_tensor, y: *mut *mut nn_tensor) -> nn_status;

    // Models
    pub fn nn_model_create(out: *mut *mut nn_model) -> nn_status;
    pub fn nn_model_add(m: *mut nn_model, layer: *mut nn_layer) -> nn_status;
    pub fn nn_model_mlp(
        n_sizes: c_int,
        sizes: *const i64,
        hidden: nn_activation,
        output: nn_activation,
        out: *mut *mut nn_model,
    ) -> nn_status;
    pub fn nn_model_free(m: *mut nn_model);
    pub fn nn_model_num_layers(m: *const nn_model) -> c_int;
    pub fn nn_model_layer(m: *mut nn_model, index: c_int, out: *mut *mut nn_layer) -> nn_status;
    pub fn nn_model_num_params(m: *const nn_model) -> i64;
    pub fn nn_model_init(m: *mut nn_model, scheme: nn_init, seed: u64) -> nn_status;
    pub fn nn_model_to(m: *mut nn_model, dev: nn_device) -> nn_status;
    pub fn nn_model_device(m: *const nn_model) -> nn_device;
    pub fn nn_model_forward(m: *mut nn_model, x: *const nn_tensor, y: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_model_summary(m: *const nn_model, buf: *mut c_char, cap: usize, needed: *mut usize) -> nn_status;
    pub fn nn_model_to_dtype(m: *mut nn_model, dt: nn_dtype) -> nn_status;
    pub fn nn_model_dtype(m: *const nn_model) -> nn_dtype;
    pub fn nn_model_predict(m: *const nn_model, rows: i64, x: *const f32, y: *mut f32) -> nn_status;
    pub fn nn_model_in_features(m: *const nn_model) -> i64;
    pub fn nn_model_out_features(m: *const nn_model) -> i64;

    // Losses, gradients, optimizers
    pub fn nn_loss_compute(
        loss: nn_loss,
        pred: *const nn_tensor,
        target: *const nn_tensor,
        value: *mut f64,
        grad: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_model_zero_grad(m: *mut nn_model) -> nn_status;
    pub fn nn_model_backward(
        m: *mut nn_model,
        x: *const nn_tensor,
        target: *const nn_tensor,
        loss: nn_loss,
        loss_value: *mut f64,
    ) -> nn_status;
    pub fn nn_optimizer_sgd(
        m: *mut nn_model,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        nesterov: bool,
        out: *mut *mut nn_optimizer,
    ) -> nn_status;
    pub fn nn_optimizer_adam(
        m: *mut nn_model,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
        out: *mut *mut nn_optimizer,
    ) -> nn_status;
    pub fn nn_optimizer_free(opt: *mut nn_optimizer);
    pub fn nn_optimizer_step(opt: *mut nn_optimizer) -> nn_status;
    pub fn nn_optimizer_zero_grad(opt: *mut nn_optimizer) -> nn_status;
    pub fn nn_optimizer_lr(opt: *const nn_optimizer) -> f64;
    pub fn nn_optimizer_set_lr(opt: *mut nn_optimizer, lr: f64) -> nn_status;
    pub fn nn_optimizer_set_step_lr(opt: *mut nn_optimizer, step_size: c_int, gamma: f64) -> nn_status;
    pub fn nn_optimizer_epoch_end(opt: *mut nn_optimizer) -> nn_status;

    // Training loop
    pub fn nn_fit_options_init(o: *mut nn_fit_options);
    pub fn nn_model_fit(
        m: *mut nn_model,
        opt: *mut nn_optimizer,
        x: *const nn_tensor,
        y: *const nn_tensor,
        opts: *const nn_fit_options,
        last: *mut nn_epoch_report,
    ) -> nn_status;
    pub fn nn_model_evaluate(
        m: *mut nn_model,
        x: *const nn_tensor,
        y: *const nn_tensor,
        loss: nn_loss,
        loss_value: *mut f64,
        accuracy: *mut f64,
    ) -> nn_status;

    // Persistence
    pub fn nn_model_save(m: *const nn_model, path: *const c_char) -> nn_status;
    pub fn nn_model_load(path: *const c_char, dev: nn_device, out: *mut *mut nn_model) -> nn_status;
    pub fn nn_model_save_buffer(m: *const nn_model, buf: *mut c_void, cap: usize, needed: *mut usize) -> nn_status;
    pub fn nn_model_load_buffer(buf: *const c_void, len: usize, dev: nn_device, out: *mut *mut nn_model) -> nn_status;

    // Data files, row selection, metrics
    pub fn nn_tensor_load_npy(path: *const c_char, dev: nn_device, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_tensor_save_npy(t: *const nn_tensor, path: *const c_char) -> nn_status;
    pub fn nn_tensor_load_csv(
        path: *const c_char,
        delimiter: c_char,
        skip_rows: c_int,
        dt: nn_dtype,
        dev: nn_device,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_slice(t: *const nn_tensor, dim: c_int, start: i64, end: i64, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_tensor_index_select(
        t: *const nn_tensor,
        dim: c_int,
        index: *const nn_tensor,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    pub fn nn_tensor_concat(n: c_int, ts: *const *const nn_tensor, dim: c_int, out: *mut *mut nn_tensor) -> nn_status;
    pub fn nn_metric_compute(metric: nn_metric, pred: *const nn_tensor, target: *const nn_tensor, value: *mut f64) -> nn_status;
    pub fn nn_confusion_matrix(
        pred: *const nn_tensor,
        target: *const nn_tensor,
        classes: i64,
        out: *mut *mut nn_tensor,
    ) -> nn_status;
    // Process groups (crate::comm)
    pub fn nn_comm_mpi(mpi_comm: *const c_void, out: *mut *mut nn_comm) -> nn_status;
    pub fn nn_comm_free(c: *mut nn_comm);
    pub fn nn_comm_rank(c: *const nn_comm) -> c_int;
    pub fn nn_comm_size(c: *const nn_comm) -> c_int;
    pub fn nn_comm_allreduce(c: *const nn_comm, t: *mut nn_tensor, op: nn_reduce_op) -> nn_status;
    pub fn nn_comm_broadcast(c: *const nn_comm, t: *mut nn_tensor, root: c_int) -> nn_status;
    pub fn nn_model_broadcast(c: *const nn_comm, m: *mut nn_model, root: c_int) -> nn_status;
}

// Checkpoints, state dicts, metadata, C source (issue 13; safe wrappers in checkpoint.rs)
extern "C" {
    pub fn nn_optimizer_epoch(opt: *const nn_optimizer) -> i64;
    pub fn nn_checkpoint_save(m: *const nn_model, opt: *const nn_optimizer, path: *const c_char) -> nn_status;
    pub fn nn_checkpoint_load(
        path: *const c_char,
        dev: nn_device,
        model: *mut *mut nn_model,
        opt: *mut *mut nn_optimizer,
    ) -> nn_status;
    pub fn nn_model_load_weights(m: *mut nn_model, path: *const c_char) -> nn_status;
    pub fn nn_model_set_metadata(m: *mut nn_model, key: *const c_char, value: *const c_char) -> nn_status;
    pub fn nn_model_get_metadata(
        m: *const nn_model,
        key: *const c_char,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> nn_status;
    pub fn nn_model_metadata_count(m: *const nn_model) -> c_int;
    pub fn nn_model_metadata_key(
        m: *const nn_model,
        index: c_int,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> nn_status;
    pub fn nn_model_export_c(m: *const nn_model, path: *const c_char, prefix: *const c_char) -> nn_status;
}

// ONNX (nn.h group "onnx"; safe wrappers in src/onnx.rs).
extern "C" {
    pub fn nn_model_export_onnx(m: *const nn_model, path: *const c_char) -> nn_status;
    pub fn nn_model_import_onnx(path: *const c_char, dev: nn_device, out: *mut *mut nn_model) -> nn_status;
}

// ---------------------------------------------------------------------------
// Data files, row selection, metrics

/// `enum nn_metric`.
pub type nn_metric = c_int;
pub const NN_METRIC_ACCURACY: nn_metric = 0;
pub const NN_METRIC_MAE: nn_metric = 1;
pub const NN_METRIC_RMSE: nn_metric = 2;
pub const NN_METRIC_R2: nn_metric = 3;
