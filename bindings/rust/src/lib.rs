//! Safe Rust bindings to libnn (`include/nn.h`): tensors, layers, sequential
//! MLPs, optimizers, the training loop and safetensors persistence.
//!
//! ```no_run
//! use nn::{Activation, Loss, Model, Optimizer, Tensor, FitOptions};
//! # fn main() -> Result<(), nn::Error> {
//! let x = Tensor::from_slice(&[0f32, 0., 0., 1., 1., 0., 1., 1.], &[4, 2])?;
//! let y = Tensor::from_slice(&[0f32, 1., 1., 0.], &[4, 1])?;
//! let mut model = Model::mlp(&[2, 8, 1], Activation::Tanh, Activation::Sigmoid)?;
//! let mut opt = Optimizer::adam(&mut model, 0.05, 0.9, 0.999, 1e-8, 0.0, false)?;
//! let opts = FitOptions { epochs: 300, batch_size: 0, loss: Loss::Bce, ..Default::default() };
//! model.fit(&mut opt, &x, &y, &opts)?;
//! println!("{}", model.forward(&x)?);
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! * **Errors.** Every fallible call returns [`Result`]; an [`Error`] holds the
//!   [`Status`] and the library's message (`nn_last_error()`, copied right
//!   after the failing call on the same thread).
//! * **Ownership.** [`Tensor`], [`Layer`], [`Model`] and [`Optimizer`] own
//!   their C handle and free it on `Drop`. A layer given to [`Model::add`] is
//!   owned by the model from then on; [`Model::layer`] and
//!   [`Model::layer_mut`] return borrows ([`LayerRef`], [`LayerMut`]) that
//!   never free anything and cannot outlive the model.
//! * **Optimizer and model.** The C contract says a model must outlive its
//!   optimizers. An [`Optimizer`] therefore shares ownership of the C model
//!   (an `Arc` inside [`Model`]): dropping the `Model` first is fine, the C
//!   model is freed after its last optimizer. The optimizer never touches the
//!   model on its own: every call that changes the model's parameters takes
//!   the model as `&mut Model` too ([`Optimizer::step`],
//!   [`Optimizer::zero_grad`], [`Model::fit`]) and is refused unless the
//!   optimizer was created for that model. So `model.fit(&mut opt, ...)` works
//!   without any lifetime on `Optimizer`, and the borrow checker still
//!   guarantees that nothing reads the model while it is being trained.
//! * **Threads.** Different handles may be used from different threads, so
//!   every owning type is `Send`. `Model` is `Sync`: its `&self` methods
//!   ([`Model::forward`] in particular, which the C contract allows to run
//!   concurrently on one model) only read; everything that changes it takes
//!   `&mut self`. `Tensor` is `Sync` for the same reason.
//! * **Shared storage.** Views ([`Tensor::reshape`], [`Tensor::transpose`])
//!   share storage with their source. Writing a tensor ([`Tensor::write`],
//!   [`Tensor::as_mut_slice`]) is only allowed while no other `Tensor` shares
//!   its storage (otherwise [`Status::InvalidArgument`]); clone it first.
//!   Layer parameters are returned as copies ([`LayerRef::param`]) and written
//!   through [`LayerMut::set_param`] / [`Layer::set_param`], so no tensor ever
//!   aliases a model's weights. The raw [`sys`] module gives the
//!   storage-sharing `nn_layer_param` for those who need it.
//! * **Callbacks.** [`Model::fit_with`] takes a closure called after every
//!   epoch; returning `ControlFlow::Break(())` stops training, and `fit_with`
//!   returns `Ok` with the last report marked `cancelled`. A panic in the closure is caught at the FFI
//!   boundary (it never unwinds through C), stops training, and is resumed
//!   once `nn_model_fit` has returned.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod sys;
mod data;
pub use data::{confusion_matrix, metric, Metric};
mod checkpoint;
mod comm;
mod onnx;
mod predict;
mod version;

pub use checkpoint::{load_checkpoint, save_checkpoint};
pub use comm::Comm;
pub use version::check_version;

use std::any::Any;
use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

// ---------------------------------------------------------------------------
// Status and errors

/// A failure status of libnn (`nn_status` without `NN_OK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// NULL handle, bad enum, bad number (`NN_ERR_INVALID_ARGUMENT`).
    InvalidArgument,
    /// Incompatible shapes (`NN_ERR_SHAPE`).
    Shape,
    /// dtype not allowed here (`NN_ERR_DTYPE`).
    Dtype,
    /// Device missing, mixed devices, CUDA failure (`NN_ERR_DEVICE`).
    Device,
    /// An allocation failed (`NN_ERR_OUT_OF_MEMORY`).
    OutOfMemory,
    /// A file cannot be opened or written (`NN_ERR_IO`).
    Io,
    /// A file or buffer is not a valid model (`NN_ERR_FORMAT`).
    Format,
    /// A valid request this build cannot do (`NN_ERR_UNSUPPORTED`).
    Unsupported,
    /// NaN/Inf appeared in the training loss (`NN_ERR_NOT_FINITE`).
    NotFinite,
    /// A callback asked to stop (`NN_ERR_CANCELLED`).
    Cancelled,
    /// A bug in libnn (`NN_ERR_INTERNAL`).
    Internal,
    /// A status this binding does not know (a newer library).
    Other(i32),
}

impl Status {
    /// The status for a raw code; `None` for `NN_OK`.
    pub fn from_raw(code: sys::nn_status) -> Option<Status> {
        Some(match code {
            sys::NN_OK => return None,
            sys::NN_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::NN_ERR_SHAPE => Status::Shape,
            sys::NN_ERR_DTYPE => Status::Dtype,
            sys::NN_ERR_DEVICE => Status::Device,
            sys::NN_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::NN_ERR_IO => Status::Io,
            sys::NN_ERR_FORMAT => Status::Format,
            sys::NN_ERR_UNSUPPORTED => Status::Unsupported,
            sys::NN_ERR_NOT_FINITE => Status::NotFinite,
            sys::NN_ERR_CANCELLED => Status::Cancelled,
            sys::NN_ERR_INTERNAL => Status::Internal,
            other => Status::Other(other),
        })
    }

    /// The raw `nn_status` code.
    pub fn code(self) -> sys::nn_status {
        match self {
            Status::InvalidArgument => sys::NN_ERR_INVALID_ARGUMENT,
            Status::Shape => sys::NN_ERR_SHAPE,
            Status::Dtype => sys::NN_ERR_DTYPE,
            Status::Device => sys::NN_ERR_DEVICE,
            Status::OutOfMemory => sys::NN_ERR_OUT_OF_MEMORY,
            Status::Io => sys::NN_ERR_IO,
            Status::Format => sys::NN_ERR_FORMAT,
            Status::Unsupported => sys::NN_ERR_UNSUPPORTED,
            Status::NotFinite => sys::NN_ERR_NOT_FINITE,
            Status::Cancelled => sys::NN_ERR_CANCELLED,
            Status::Internal => sys::NN_ERR_INTERNAL,
            Status::Other(c) => c,
        }
    }

    /// The library's short description (`nn_status_string`), e.g. "shape mismatch".
    pub fn description(self) -> &'static str {
        // SAFETY: nn_status_string accepts any value and returns a static string.
        unsafe { static_str(sys::nn_status_string(self.code())) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// An error of libnn: its status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// The library's message (it starts with the C function's name), or this
    /// binding's message for checks done on the Rust side.
    pub message: String,
}

impl Error {
    /// An error with a status and message.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    /// The error for a failed call: the status and this thread's `nn_last_error()`.
    fn last(status: Status) -> Error {
        // SAFETY: nn_last_error never returns NULL; the string is copied at once.
        let message = unsafe { CStr::from_ptr(sys::nn_last_error()) }.to_string_lossy().into_owned();
        Error { status, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into a `Result`, reading the message on failure.
fn check(code: sys::nn_status) -> Result<()> {
    match Status::from_raw(code) {
        None => Ok(()),
        Some(status) => Err(Error::last(status)),
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for the whole program.
unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    // SAFETY: per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
}

/// Reads an snprintf-style string from libnn (`nn_tensor_to_string`, `nn_model_summary`).
fn snprintf_string(f: impl Fn(*mut c_char, usize, *mut usize) -> sys::nn_status) -> Result<String> {
    let mut needed = 0usize;
    check(f(ptr::null_mut(), 0, &mut needed))?;
    let mut buf = vec![0u8; needed.max(1)];
    check(f(buf.as_mut_ptr().cast(), buf.len(), ptr::null_mut()))?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(end);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

// ---------------------------------------------------------------------------
// Version, threads, devices, dtypes

/// Version of the running library: major*10000 + minor*100 + patch.
pub fn version() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::nn_version() }
}

/// Version of the running library as text, e.g. "0.1.0".
pub fn version_string() -> &'static str {
    // SAFETY: returns a static string.
    unsafe { static_str(sys::nn_version_string()) }
}

/// Sets the number of CPU threads (`n <= 0`: all cores). Process-wide; do not
/// call it while other threads run libnn operations. Overrides the default
/// from `OMP_NUM_THREADS`, then `NN_NUM_THREADS`.
pub fn set_num_threads(n: i32) -> Result<()> {
    // SAFETY: plain value.
    check(unsafe { sys::nn_set_num_threads(n) })
}

/// The CPU thread count in effect (`nn_get_num_threads`): the one set, else
/// `OMP_NUM_THREADS`, else `NN_NUM_THREADS`, else all cores; capped to the cores.
pub fn get_num_threads() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::nn_get_num_threads() }
}

/// A device: the CPU or a CUDA GPU by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The host CPU (`{NN_CPU, 0}`).
    #[default]
    Cpu,
    /// An NVIDIA GPU (`{NN_CUDA, index}`).
    Cuda(i32),
}

impl Device {
    /// The C struct.
    pub fn to_raw(self) -> sys::nn_device {
        match self {
            Device::Cpu => sys::nn_device { type_: sys::NN_CPU, index: 0 },
            Device::Cuda(i) => sys::nn_device { type_: sys::NN_CUDA, index: i },
        }
    }

    /// The device of a C struct; `None` for `{0, -1}` or an unknown type.
    pub fn from_raw(d: sys::nn_device) -> Option<Device> {
        match d.type_ {
            sys::NN_CPU => Some(Device::Cpu),
            sys::NN_CUDA => Some(Device::Cuda(d.index)),
            _ => None,
        }
    }

    /// Number of CUDA devices (0 without a GPU or in a build without CUDA).
    pub fn cuda_count() -> i32 {
        // SAFETY: plain value.
        unsafe { sys::nn_device_count(sys::NN_CUDA) }
    }
}

/// Number of devices of a raw `nn_device_type` (`nn_device_count`).
pub fn device_count(type_: sys::nn_device_type) -> i32 {
    // SAFETY: any value is accepted (0 for an invalid one).
    unsafe { sys::nn_device_count(type_) }
}

macro_rules! c_enum {
    ($(#[$m:meta])* $name:ident : $raw:ty { $($(#[$vm:meta])* $v:ident = $c:path),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// The raw C value.
            pub fn to_raw(self) -> $raw { match self { $($name::$v => $c),+ } }
            /// The variant of a raw C value; `None` when it is not one.
            pub fn from_raw(v: $raw) -> Option<$name> {
                $(if v == $c { return Some($name::$v); })+
                None
            }
        }
    };
}

c_enum!(
    /// Element type of a tensor (`nn_dtype`).
    DType: sys::nn_dtype {
        /// 32-bit float.
        F32 = sys::NN_F32,
        /// 64-bit float.
        F64 = sys::NN_F64,
        /// IEEE half.
        F16 = sys::NN_F16,
        /// bfloat16.
        BF16 = sys::NN_BF16,
        /// unsigned 8-bit integer.
        U8 = sys::NN_U8,
        /// signed 16-bit integer.
        I16 = sys::NN_I16,
        /// signed 32-bit integer.
        I32 = sys::NN_I32,
        /// signed 64-bit integer.
        I64 = sys::NN_I64,
    }
);

impl DType {
    /// Bytes per element (`nn_dtype_size`).
    pub fn size(self) -> usize {
        // SAFETY: plain value.
        unsafe { sys::nn_dtype_size(self.to_raw()) }
    }
}

c_enum!(
    /// Elementwise functions for [`Tensor::unary`] (`nn_unary_op`).
    UnaryOp: sys::nn_unary_op {
        Neg = sys::NN_OP_NEG, Abs = sys::NN_OP_ABS, Exp = sys::NN_OP_EXP, Log = sys::NN_OP_LOG,
        Sqrt = sys::NN_OP_SQRT, Relu = sys::NN_OP_RELU, Sigmoid = sys::NN_OP_SIGMOID,
        Tanh = sys::NN_OP_TANH, Step = sys::NN_OP_STEP,
    }
);

c_enum!(
    /// Elementwise operators for [`Tensor::binary`] and [`Tensor::scalar`] (`nn_binary_op`).
    BinaryOp: sys::nn_binary_op {
        Add = sys::NN_OP_ADD, Sub = sys::NN_OP_SUB, Mul = sys::NN_OP_MUL, Div = sys::NN_OP_DIV,
        Max = sys::NN_OP_MAX, Min = sys::NN_OP_MIN,
    }
);

c_enum!(
    /// Reductions for [`Tensor::reduce`] (`nn_reduce_op`).
    ReduceOp: sys::nn_reduce_op {
        Sum = sys::NN_REDUCE_SUM, Mean = sys::NN_REDUCE_MEAN, Max = sys::NN_REDUCE_MAX,
        Min = sys::NN_REDUCE_MIN, Argmax = sys::NN_REDUCE_ARGMAX,
    }
);

c_enum!(
    /// Activation functions (`nn_activation`).
    Activation: sys::nn_activation {
        Identity = sys::NN_ACT_IDENTITY, Relu = sys::NN_ACT_RELU, Sigmoid = sys::NN_ACT_SIGMOID,
        Tanh = sys::NN_ACT_TANH, Step = sys::NN_ACT_STEP, Softmax = sys::NN_ACT_SOFTMAX,
        LeakyRelu = sys::NN_ACT_LEAKY_RELU,
    }
);

c_enum!(
    /// What a layer is (`nn_layer_kind`).
    LayerKind: sys::nn_layer_kind { Linear = sys::NN_LAYER_LINEAR, Activation = sys::NN_LAYER_ACTIVATION }
);

c_enum!(
    /// Which parameter of a Linear layer (`nn_param`).
    Param: sys::nn_param { Weight = sys::NN_PARAM_WEIGHT, Bias = sys::NN_PARAM_BIAS }
);

c_enum!(
    /// Weight initialisation schemes (`nn_init`).
    Init: sys::nn_init {
        TorchDefault = sys::NN_INIT_TORCH_DEFAULT, HeUniform = sys::NN_INIT_HE_UNIFORM,
        HeNormal = sys::NN_INIT_HE_NORMAL, XavierUniform = sys::NN_INIT_XAVIER_UNIFORM,
        XavierNormal = sys::NN_INIT_XAVIER_NORMAL, Zeros = sys::NN_INIT_ZEROS,
    }
);

c_enum!(
    /// Loss functions (`nn_loss`).
    Loss: sys::nn_loss {
        Mse = sys::NN_LOSS_MSE, Sse = sys::NN_LOSS_SSE, HalfMse = sys::NN_LOSS_HALF_MSE,
        Bce = sys::NN_LOSS_BCE, BceWithLogits = sys::NN_LOSS_BCE_WITH_LOGITS,
        CrossEntropy = sys::NN_LOSS_CROSS_ENTROPY,
    }
);

mod sealed {
    pub trait Sealed {}
}

/// A Rust type whose values are the elements of a tensor dtype (f32, f64,
/// u8, i16, i32, i64). F16 and BF16 tensors have no Rust element type:
/// convert them with [`Tensor::to_dtype`] or use the byte functions.
pub trait Element: Copy + Default + sealed::Sealed + Send + Sync + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),+) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t { const DTYPE: DType = DType::$d; }
    )+};
}
element!(f32 => F32, f64 => F64, u8 => U8, i16 => I16, i32 => I32, i64 => I64);

// ---------------------------------------------------------------------------
// Tensors

/// An n-dimensional array (rank 0..8) on a device; frees its handle on drop.
///
/// Reading is `&self`, so a tensor may be read from many threads at once.
/// Writing ([`write`](Tensor::write), [`as_mut_slice`](Tensor::as_mut_slice))
/// needs `&mut self` and that no other `Tensor` shares the storage (views).
pub struct Tensor {
    ptr: NonNull<sys::nn_tensor>,
    /// One token per storage: every `Tensor` sharing storage with this one
    /// (views) holds a clone, so a count of 1 means "no other handle".
    storage: Arc<()>,
}

// SAFETY: the C contract lets different handles be used from different
// threads; the `&self` methods only read the handle and its storage, and
// writes need `&mut self` plus exclusive storage (see `storage`).
unsafe impl Send for Tensor {}
unsafe impl Sync for Tensor {}

/// Receives a new handle from a C call that fills `out`.
fn new_handle<T>(f: impl FnOnce(*mut *mut T) -> sys::nn_status) -> Result<NonNull<T>> {
    // Every handle starts here: refuse a library of another major version.
    version::ensure_compatible()?;
    let mut out: *mut T = ptr::null_mut();
    check(f(&mut out))?;
    NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "libnn returned NULL with NN_OK"))
}

fn shape_numel(shape: &[i64]) -> Option<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(usize::try_from(d).ok()?)?;
    }
    Some(n)
}

fn ndim_of(shape: &[i64]) -> c_int {
    c_int::try_from(shape.len()).unwrap_or(c_int::MAX)
}

impl Tensor {
    fn from_new(f: impl FnOnce(*mut *mut sys::nn_tensor) -> sys::nn_status) -> Result<Tensor> {
        Ok(Tensor { ptr: new_handle(f)?, storage: Arc::new(()) })
    }

    fn view(&self, f: impl FnOnce(*mut *mut sys::nn_tensor) -> sys::nn_status) -> Result<Tensor> {
        Ok(Tensor { ptr: new_handle(f)?, storage: Arc::clone(&self.storage) })
    }

    /// Takes ownership of a raw handle (it is freed on drop).
    ///
    /// # Safety
    /// `ptr` is a valid tensor handle owned by the caller, and no other live
    /// handle shares its storage unless the caller never writes through
    /// either while the other is used.
    pub unsafe fn from_raw(ptr: NonNull<sys::nn_tensor>) -> Tensor {
        Tensor { ptr, storage: Arc::new(()) }
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::nn_tensor {
        self.ptr.as_ptr()
    }

    /// Gives up ownership of the raw handle (free it with `nn_tensor_free`).
    pub fn into_raw(self) -> NonNull<sys::nn_tensor> {
        let p = self.ptr;
        std::mem::forget(self);
        p
    }

    /// A tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[i64], device: Device) -> Result<Tensor> {
        // SAFETY: shape has ndim entries; out is a valid pointer.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_zeros(dtype.to_raw(), ndim_of(shape), shape.as_ptr(), device.to_raw(), out)
        })
    }

    /// A tensor with every element `value` cast to `dtype` (torch.full).
    pub fn full(dtype: DType, shape: &[i64], value: f64, device: Device) -> Result<Tensor> {
        // SAFETY: as zeros.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_full(dtype.to_raw(), ndim_of(shape), shape.as_ptr(), value, device.to_raw(), out)
        })
    }

    /// A CPU tensor of `shape` holding `data` in row-major order.
    pub fn from_slice<T: Element>(data: &[T], shape: &[i64]) -> Result<Tensor> {
        Tensor::from_slice_on(data, shape, Device::Cpu)
    }

    /// A tensor of `shape` on `device` holding `data` in row-major order.
    pub fn from_slice_on<T: Element>(data: &[T], shape: &[i64], device: Device) -> Result<Tensor> {
        if let Some(n) = shape_numel(shape) {
            if n != data.len() {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("Tensor::from_slice: data has {} elements, shape {:?} needs {}", data.len(), shape, n),
                ));
            }
        }
        // Otherwise (a negative or overflowing dimension) libnn rejects the
        // shape before reading any data.
        // SAFETY: data holds exactly numel elements of T::DTYPE.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_from_data(
                T::DTYPE.to_raw(),
                ndim_of(shape),
                shape.as_ptr(),
                data.as_ptr().cast(),
                device.to_raw(),
                out,
            )
        })
    }

    /// A tensor of `dtype` and `shape` from raw host-order bytes (any dtype, F16/BF16 included).
    pub fn from_bytes(dtype: DType, shape: &[i64], bytes: &[u8], device: Device) -> Result<Tensor> {
        if let Some(n) = shape_numel(shape) {
            if n.checked_mul(dtype.size()) != Some(bytes.len()) {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("Tensor::from_bytes: {} bytes given, shape {:?} of {:?} needs {} x {}",
                        bytes.len(), shape, dtype, n, dtype.size()),
                ));
            }
        }
        // SAFETY: bytes holds exactly numel * size bytes.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_from_data(dtype.to_raw(), ndim_of(shape), shape.as_ptr(), bytes.as_ptr().cast(),
                device.to_raw(), out)
        })
    }

    /// A 0-dim CPU tensor holding one value.
    pub fn scalar_value<T: Element>(value: T) -> Result<Tensor> {
        Tensor::from_slice(&[value], &[])
    }

    /// torch.arange(start, end, step) as a 1-D tensor of `dtype`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType, device: Device) -> Result<Tensor> {
        // SAFETY: plain values and a valid out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_arange(start, end, step, dtype.to_raw(), device.to_raw(), out) })
    }

    /// Uniform samples in [low, high), reproducible from `seed`.
    pub fn rand_uniform(dtype: DType, shape: &[i64], low: f64, high: f64, seed: u64, device: Device) -> Result<Tensor> {
        // SAFETY: as zeros.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_rand_uniform(dtype.to_raw(), ndim_of(shape), shape.as_ptr(), low, high, seed,
                device.to_raw(), out)
        })
    }

    /// Normal samples N(mean, std^2), reproducible from `seed`.
    pub fn rand_normal(dtype: DType, shape: &[i64], mean: f64, std: f64, seed: u64, device: Device) -> Result<Tensor> {
        // SAFETY: as zeros.
        Tensor::from_new(|out| unsafe {
            sys::nn_tensor_rand_normal(dtype.to_raw(), ndim_of(shape), shape.as_ptr(), mean, std, seed,
                device.to_raw(), out)
        })
    }

    /// Number of dimensions (0..8).
    pub fn ndim(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::nn_tensor_ndim(self.as_ptr()) }.max(0) as usize
    }

    /// The dimensions.
    pub fn shape(&self) -> Vec<i64> {
        let mut shape = vec![0i64; self.ndim()];
        // SAFETY: shape has room for ndim values; cannot fail for a valid handle.
        let st = unsafe { sys::nn_tensor_shape(self.as_ptr(), shape.as_mut_ptr()) };
        debug_assert_eq!(st, sys::NN_OK);
        shape
    }

    /// Number of elements (1 for 0-dim).
    pub fn numel(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::nn_tensor_numel(self.as_ptr()) }.max(0) as usize
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        // SAFETY: valid handle.
        let raw = unsafe { sys::nn_tensor_dtype(self.as_ptr()) };
        DType::from_raw(raw).unwrap_or_else(|| panic!("libnn returned an unknown dtype {raw}"))
    }

    /// Device the tensor lives on.
    pub fn device(&self) -> Device {
        // SAFETY: valid handle.
        let raw = unsafe { sys::nn_tensor_device(self.as_ptr()) };
        Device::from_raw(raw).unwrap_or_else(|| panic!("libnn returned an unknown device {raw:?}"))
    }

    /// Size of the elements in bytes.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype().size()
    }

    /// Copies the elements (row-major, from any device) as raw host-order bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.nbytes()];
        // SAFETY: buf has exactly numel * size bytes.
        check(unsafe { sys::nn_tensor_read(self.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
        Ok(buf)
    }

    fn check_dtype<T: Element>(&self, what: &str) -> Result<()> {
        let dt = self.dtype();
        if dt != T::DTYPE {
            return Err(Error::new(
                Status::Dtype,
                format!("Tensor::{what}: the tensor is {dt:?}, not {:?}; convert it with to_dtype", T::DTYPE),
            ));
        }
        Ok(())
    }

    /// Copies the elements (row-major, from any device) into a `Vec<T>`;
    /// `T` must match the dtype ([`Status::Dtype`] otherwise).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_dtype::<T>("to_vec")?;
        let mut v = vec![T::default(); self.numel()];
        // SAFETY: v has exactly numel elements of the tensor's dtype.
        check(unsafe { sys::nn_tensor_read(self.as_ptr(), v.as_mut_ptr().cast(), std::mem::size_of_val(&v[..])) })?;
        Ok(v)
    }

    /// The elements converted to f64 (any dtype).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        if self.dtype() == DType::F64 {
            self.to_vec()
        } else {
            self.to_dtype(DType::F64)?.to_vec()
        }
    }

    /// The single element of a one-element tensor, as f64.
    pub fn item(&self) -> Result<f64> {
        let v = self.to_vec_f64()?;
        if v.len() != 1 {
            return Err(Error::new(Status::Shape, format!("Tensor::item: the tensor has {} elements, not 1", v.len())));
        }
        Ok(v[0])
    }

    /// Borrows the elements of a contiguous CPU tensor in place; `None` for a
    /// CUDA tensor, a non-contiguous view or another dtype than `T`.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        if self.dtype() != T::DTYPE {
            return None;
        }
        let n = self.numel();
        if n == 0 {
            return Some(&[]);
        }
        // SAFETY: nn_tensor_data does not change the handle.
        let p = unsafe { sys::nn_tensor_data(self.ptr.as_ptr()) } as *const T;
        if p.is_null() {
            return None;
        }
        // SAFETY: n contiguous elements of T, alive while self is; nothing
        // writes them while this borrow lives (writes need &mut self and an
        // unshared storage).
        Some(unsafe { std::slice::from_raw_parts(p, n) })
    }

    fn check_unshared(&self, what: &str) -> Result<()> {
        if Arc::strong_count(&self.storage) != 1 {
            return Err(Error::new(
                Status::InvalidArgument,
                format!("Tensor::{what}: the tensor shares its storage with another Tensor (a view); \
                         drop the other handles or write a clone"),
            ));
        }
        Ok(())
    }

    /// Mutable access to the elements of a contiguous CPU tensor whose
    /// storage no other `Tensor` shares; `None` otherwise.
    pub fn as_mut_slice<T: Element>(&mut self) -> Option<&mut [T]> {
        if self.dtype() != T::DTYPE || self.check_unshared("as_mut_slice").is_err() {
            return None;
        }
        let n = self.numel();
        if n == 0 {
            return Some(&mut []);
        }
        // SAFETY: valid handle.
        let p = unsafe { sys::nn_tensor_data(self.ptr.as_ptr()) } as *mut T;
        if p.is_null() {
            return None;
        }
        // SAFETY: n contiguous elements, exclusively ours (see check_unshared).
        Some(unsafe { std::slice::from_raw_parts_mut(p, n) })
    }

    /// Overwrites the elements (row-major) from `data`; `T` must match the
    /// dtype and `data` have numel elements. Refused while a view shares the storage.
    pub fn write<T: Element>(&mut self, data: &[T]) -> Result<()> {
        self.check_dtype::<T>("write")?;
        self.check_unshared("write")?;
        // SAFETY: data is readable for its byte length; libnn checks it equals numel * size.
        check(unsafe { sys::nn_tensor_write(self.ptr.as_ptr(), data.as_ptr().cast(), std::mem::size_of_val(data)) })
    }

    /// Overwrites the elements from raw host-order bytes (numel * size of them).
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_unshared("write_bytes")?;
        // SAFETY: bytes is readable for its length; libnn checks it.
        check(unsafe { sys::nn_tensor_write(self.ptr.as_ptr(), bytes.as_ptr().cast(), bytes.len()) })
    }

    /// torch.reshape: a view sharing storage when the tensor is contiguous (at most one -1).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        // SAFETY: shape has ndim entries.
        self.view(|out| unsafe { sys::nn_tensor_reshape(self.as_ptr(), ndim_of(shape), shape.as_ptr(), out) })
    }

    /// torch.transpose: a strided view sharing storage.
    pub fn transpose(&self, dim0: i32, dim1: i32) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        self.view(|out| unsafe { sys::nn_tensor_transpose(self.as_ptr(), dim0, dim1, out) })
    }

    /// A contiguous copy on another device.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_to_device(self.as_ptr(), device.to_raw(), out) })
    }

    /// A contiguous copy converted to `dtype` (torch `.to(dtype)`).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_to_dtype(self.as_ptr(), dtype.to_raw(), out) })
    }

    /// A contiguous copy with its own storage (torch.clone).
    pub fn try_clone(&self) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_tensor_clone(self.as_ptr(), out) })
    }

    /// PyTorch's `print(t)` text.
    pub fn to_text(&self) -> Result<String> {
        // SAFETY: snprintf_string passes a buffer of cap bytes (or NULL with cap 0).
        snprintf_string(|buf, cap, needed| unsafe { sys::nn_tensor_to_string(self.as_ptr(), buf, cap, needed) })
    }

    /// An elementwise function (`nn_unary`).
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_unary(op.to_raw(), self.as_ptr(), out) })
    }

    /// `self op other` with broadcasting and type promotion (`nn_binary`).
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_binary(op.to_raw(), self.as_ptr(), other.as_ptr(), out) })
    }

    /// `self op b` with a Python-number scalar (`nn_binary_scalar`).
    pub fn scalar(&self, op: BinaryOp, b: f64) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_binary_scalar(op.to_raw(), self.as_ptr(), b, out) })
    }

    /// Reduces over `dim` (negative counts from the end) or, with `None`, every dimension.
    pub fn reduce(&self, op: ReduceOp, dim: Option<i32>, keepdim: bool) -> Result<Tensor> {
        let dim = dim.unwrap_or(sys::NN_ALL_DIMS);
        // SAFETY: valid handle and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_reduce(op.to_raw(), self.as_ptr(), dim, keepdim, out) })
    }

    /// torch.matmul.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_matmul(self.as_ptr(), other.as_ptr(), out) })
    }

    /// Least-squares x minimising ||self x - b|| (Householder QR in float64).
    pub fn lstsq(&self, b: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles and out pointer.
        Tensor::from_new(|out| unsafe { sys::nn_lstsq(self.as_ptr(), b.as_ptr(), out) })
    }

    /// `self + other`.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> { self.binary(BinaryOp::Add, other) }
    /// `self - other`.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> { self.binary(BinaryOp::Sub, other) }
    /// `self * other`.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> { self.binary(BinaryOp::Mul, other) }
    /// `self / other` (true division).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> { self.binary(BinaryOp::Div, other) }
    /// Sum over `dim` or everything.
    pub fn sum(&self, dim: Option<i32>) -> Result<Tensor> { self.reduce(ReduceOp::Sum, dim, false) }
    /// Mean over `dim` or everything.
    pub fn mean(&self, dim: Option<i32>) -> Result<Tensor> { self.reduce(ReduceOp::Mean, dim, false) }
    /// Index of the first maximum over `dim` (I64).
    pub fn argmax(&self, dim: Option<i32>) -> Result<Tensor> { self.reduce(ReduceOp::Argmax, dim, false) }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { sys::nn_tensor_free(self.ptr.as_ptr()) }
    }
}

impl Clone for Tensor {
    /// A copy with its own storage. Panics if libnn cannot allocate it; use
    /// [`Tensor::try_clone`] to handle that.
    fn clone(&self) -> Tensor {
        self.try_clone().unwrap_or_else(|e| panic!("Tensor::clone: {e}"))
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Ok(s) => f.write_str(&s),
            Err(e) => write!(f, "<tensor: {e}>"),
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(shape={:?}, dtype={:?}, device={:?})", self.shape(), self.dtype(), self.device())
    }
}

/// Computes a loss of predictions against targets (`nn_loss_compute`).
pub fn loss(loss: Loss, pred: &Tensor, target: &Tensor) -> Result<f64> {
    let mut v = 0.0;
    // SAFETY: valid handles; grad NULL skips the gradient.
    check(unsafe { sys::nn_loss_compute(loss.to_raw(), pred.as_ptr(), target.as_ptr(), &mut v, ptr::null_mut()) })?;
    Ok(v)
}

/// A loss and its gradient with respect to `pred`.
pub fn loss_and_grad(loss: Loss, pred: &Tensor, target: &Tensor) -> Result<(f64, Tensor)> {
    let mut v = 0.0;
    // SAFETY: valid handles and out pointers.
    let g = Tensor::from_new(|out| unsafe { sys::nn_loss_compute(loss.to_raw(), pred.as_ptr(), target.as_ptr(), &mut v, out) })?;
    Ok((v, g))
}

// ---------------------------------------------------------------------------
// Layers

mod layer_ops {
    use super::*;

    pub fn kind(p: *mut sys::nn_layer) -> LayerKind {
        // SAFETY: valid handle.
        let raw = unsafe { sys::nn_layer_kind_of(p) };
        LayerKind::from_raw(raw).unwrap_or_else(|| panic!("libnn returned an unknown layer kind {raw}"))
    }

    /// A copy of a parameter (the storage-sharing handle is freed at once).
    pub fn param(p: *mut sys::nn_layer, which: Param) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer.
        let view = Tensor::from_new(|out| unsafe { sys::nn_layer_param(p, which.to_raw(), out) })?;
        view.try_clone()
    }

    pub fn grad(p: *mut sys::nn_layer, which: Param) -> Result<Tensor> {
        // SAFETY: valid handle and out pointer; the result is a copy.
        Tensor::from_new(|out| unsafe { sys::nn_layer_grad(p, which.to_raw(), out) })
    }

    pub fn forward(p: *mut sys::nn_layer, x: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles; nn_layer_forward keeps no state.
        Tensor::from_new(|out| unsafe { sys::nn_layer_forward(p, x.as_ptr(), out) })
    }

    /// Writes a parameter from a tensor of its shape (converted to its dtype).
    /// The caller has exclusive access to the layer.
    pub fn set_param(p: *mut sys::nn_layer, which: Param, value: &Tensor) -> Result<()> {
        // SAFETY: valid handle and out pointer.
        let view = Tensor::from_new(|out| unsafe { sys::nn_layer_param(p, which.to_raw(), out) })?;
        let (vs, ws) = (view.shape(), value.shape());
        if vs != ws {
            return Err(Error::new(
                Status::Shape,
                format!("set_param: the {which:?} is {vs:?}, the value {ws:?}"),
            ));
        }
        let bytes = if value.dtype() == view.dtype() { value.to_bytes()? } else { value.to_dtype(view.dtype())?.to_bytes()? };
        // SAFETY: bytes is readable; libnn checks its length.
        check(unsafe { sys::nn_tensor_write(view.ptr.as_ptr(), bytes.as_ptr().cast(), bytes.len()) })
    }
}

macro_rules! layer_read_methods {
    () => {
        /// What the layer is.
        pub fn kind(&self) -> LayerKind { layer_ops::kind(self.ptr.as_ptr()) }
        /// A copy of a Linear layer's weight `[out, in]` or bias `[out]`.
        pub fn param(&self, which: Param) -> Result<Tensor> { layer_ops::param(self.ptr.as_ptr(), which) }
        /// A copy of the gradient accumulated for a parameter.
        pub fn grad(&self, which: Param) -> Result<Tensor> { layer_ops::grad(self.ptr.as_ptr(), which) }
        /// Applies the layer to `x` (inference): `y = layer(x)`.
        pub fn forward(&self, x: &Tensor) -> Result<Tensor> { layer_ops::forward(self.ptr.as_ptr(), x) }
        /// The raw handle (borrowed).
        pub fn as_ptr(&self) -> *const sys::nn_layer { self.ptr.as_ptr() }
    };
}

/// A layer the caller owns (not yet in a model); freed on drop.
pub struct Layer {
    ptr: NonNull<sys::nn_layer>,
}

// SAFETY: different handles may be used from different threads; `&self`
// methods (kind, param copies, grad copies, forward) only read.
unsafe impl Send for Layer {}
unsafe impl Sync for Layer {}

impl Layer {
    /// A Linear layer (PyTorch's nn.Linear, default initialisation, F32, CPU).
    pub fn linear(in_features: i64, out_features: i64, bias: bool) -> Result<Layer> {
        // SAFETY: valid out pointer.
        Ok(Layer { ptr: new_handle(|out| unsafe { sys::nn_layer_linear(in_features, out_features, bias, out) })? })
    }

    /// An activation layer.
    pub fn activation(act: Activation) -> Result<Layer> {
        // SAFETY: valid out pointer.
        Ok(Layer { ptr: new_handle(|out| unsafe { sys::nn_layer_activation(act.to_raw(), out) })? })
    }

    layer_read_methods!();

    /// Overwrites a parameter from a tensor of its shape.
    pub fn set_param(&mut self, which: Param, value: &Tensor) -> Result<()> {
        layer_ops::set_param(self.ptr.as_ptr(), which, value)
    }
}

impl Drop for Layer {
    fn drop(&mut self) {
        // SAFETY: we own the handle (layers given to a model are forgotten).
        unsafe { sys::nn_layer_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Layer({:?})", self.kind())
    }
}

/// A layer borrowed from a model ([`Model::layer`]); never freed by Rust.
#[derive(Clone, Copy)]
pub struct LayerRef<'m> {
    ptr: NonNull<sys::nn_layer>,
    _model: PhantomData<&'m Model>,
}

// SAFETY: only reads, as `&Model` does.
unsafe impl Send for LayerRef<'_> {}
unsafe impl Sync for LayerRef<'_> {}

impl LayerRef<'_> {
    layer_read_methods!();
}

impl fmt::Debug for LayerRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerRef({:?})", self.kind())
    }
}

impl fmt::Debug for LayerMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerMut({:?})", self.kind())
    }
}

/// A layer mutably borrowed from a model ([`Model::layer_mut`]); never freed by Rust.
pub struct LayerMut<'m> {
    ptr: NonNull<sys::nn_layer>,
    _model: PhantomData<&'m mut Model>,
}

// SAFETY: exclusive access, as `&mut Model`.
unsafe impl Send for LayerMut<'_> {}
unsafe impl Sync for LayerMut<'_> {}

impl LayerMut<'_> {
    layer_read_methods!();

    /// Overwrites a parameter of the model's layer from a tensor of its shape
    /// (converted to the parameter's dtype).
    pub fn set_param(&mut self, which: Param, value: &Tensor) -> Result<()> {
        layer_ops::set_param(self.ptr.as_ptr(), which, value)
    }
}

// ---------------------------------------------------------------------------
// Models

/// The C model, freed when its last owner (the `Model` or an `Optimizer`) drops.
struct ModelHandle(NonNull<sys::nn_model>);

// SAFETY: the handle is only used through `Model` (whose borrows enforce the
// C contract) and freed once, by whichever thread drops the last owner.
unsafe impl Send for ModelHandle {}
unsafe impl Sync for ModelHandle {}

impl Drop for ModelHandle {
    fn drop(&mut self) {
        // SAFETY: last owner; every optimizer of the model is already freed
        // (each holds an Arc to this handle).
        unsafe { sys::nn_model_free(self.0.as_ptr()) }
    }
}

/// A sequential model (like nn.Sequential): a list of layers.
///
/// `Send + Sync`: [`forward`](Model::forward) and the other `&self` methods
/// may run on many threads at once; training and every other change need
/// `&mut self`.
pub struct Model {
    h: Arc<ModelHandle>,
}

/// What [`Model::fit`] reports after each epoch (`nn_epoch_report`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 0-based epoch.
    pub epoch: i32,
    /// Total epochs requested.
    pub epochs: i32,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// NaN without a validation set.
    pub val_loss: f64,
    /// NaN without a validation set or for a non-classification loss.
    pub val_accuracy: f64,
    /// Learning rate used in this epoch.
    pub lr: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// True on the report [`Model::fit_with`] returns when the callback
    /// stopped training (the cancel rule: `Ok`, not `Err(Status::Cancelled)`).
    pub cancelled: bool,
}

impl From<sys::nn_epoch_report> for EpochReport {
    fn from(r: sys::nn_epoch_report) -> EpochReport {
        EpochReport {
            epoch: r.epoch,
            epochs: r.epochs,
            loss: r.loss,
            val_loss: r.val_loss,
            val_accuracy: r.val_accuracy,
            lr: r.lr,
            seconds: r.seconds,
            cancelled: false,
        }
    }
}

/// Options of [`Model::fit`]; `Default` gives libnn's defaults
/// (`nn_fit_options_init`: 10 epochs, batch 32, shuffle, seed 0, MSE, no
/// validation, no early stopping).
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// >= 1.
    pub epochs: i32,
    /// 1 = online, 0 = full batch, else minibatch.
    pub batch_size: i64,
    /// Reshuffle the rows every epoch.
    pub shuffle: bool,
    /// Shuffle seed.
    pub seed: u64,
    /// The loss to minimise.
    pub loss: Loss,
    /// Optional validation set (inputs, targets).
    pub validation: Option<(&'a Tensor, &'a Tensor)>,
    /// Early stopping on val_loss after this many epochs without improvement; 0 = off.
    pub patience: i32,
    /// Data-parallel training over a process group ([`Comm`]); `batch_size`
    /// is then per rank. `None`: this process alone.
    pub comm: Option<&'a Comm>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        let mut o = std::mem::MaybeUninit::<sys::nn_fit_options>::zeroed();
        // SAFETY: nn_fit_options_init fills every field; all-zero is a valid
        // value of the struct anyway (NULL pointers, None callback, false).
        let o = unsafe {
            sys::nn_fit_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        FitOptions {
            epochs: o.epochs,
            batch_size: o.batch_size,
            shuffle: o.shuffle,
            seed: o.seed,
            loss: Loss::from_raw(o.loss).unwrap_or(Loss::Mse),
            validation: None,
            patience: o.patience,
            comm: None,
        }
    }
}

type EpochFn<'f> = dyn FnMut(&EpochReport) -> ControlFlow<()> + 'f;

struct CallbackState<'a> {
    f: &'a mut dyn FnMut(&EpochReport) -> ControlFlow<()>,
    panic: Option<Box<dyn Any + Send + 'static>>,
}

unsafe extern "C" fn epoch_trampoline(report: *const sys::nn_epoch_report, user_data: *mut c_void) -> c_int {
    // SAFETY: user_data is the &mut CallbackState that fit_impl passed, alive
    // for the whole nn_model_fit call; report is valid for this call.
    let state = unsafe { &mut *(user_data as *mut CallbackState<'_>) };
    if state.panic.is_some() || report.is_null() {
        return 1;
    }
    // SAFETY: see above.
    let r = EpochReport::from(unsafe { *report });
    let f = &mut *state.f;
    match panic::catch_unwind(AssertUnwindSafe(|| f(&r))) {
        Ok(ControlFlow::Continue(())) => 0,
        Ok(ControlFlow::Break(())) => 1,
        Err(payload) => {
            // Never unwind through C: stop training, resume after the call.
            state.panic = Some(payload);
            1
        }
    }
}

fn path_cstring(path: &Path, what: &str) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| Error::new(Status::InvalidArgument, format!("{what}: path is not valid UTF-8")))?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|_| Error::new(Status::InvalidArgument, format!("{what}: path contains a NUL byte")))
}

impl Model {
    fn wrap(ptr: NonNull<sys::nn_model>) -> Model {
        Model { h: Arc::new(ModelHandle(ptr)) }
    }

    fn ptr(&self) -> *mut sys::nn_model {
        self.h.0.as_ptr()
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::nn_model {
        self.ptr()
    }

    /// An empty model on the CPU.
    pub fn new() -> Result<Model> {
        // SAFETY: valid out pointer.
        Ok(Model::wrap(new_handle(|out| unsafe { sys::nn_model_create(out) })?))
    }

    /// An MLP: Linear(s0, s1), hidden, ..., Linear(s[n-2], s[n-1]), output
    /// (an Identity activation adds no layer).
    pub fn mlp(sizes: &[i64], hidden: Activation, output: Activation) -> Result<Model> {
        let n = c_int::try_from(sizes.len())
            .map_err(|_| Error::new(Status::InvalidArgument, "Model::mlp: too many sizes"))?;
        // SAFETY: sizes has n entries.
        Ok(Model::wrap(new_handle(|out| unsafe {
            sys::nn_model_mlp(n, sizes.as_ptr(), hidden.to_raw(), output.to_raw(), out)
        })?))
    }

    /// Loads a safetensors file onto a device.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Model> {
        let p = path_cstring(path.as_ref(), "Model::load")?;
        // SAFETY: NUL-terminated path, valid out pointer.
        Ok(Model::wrap(new_handle(|out| unsafe { sys::nn_model_load(p.as_ptr(), device.to_raw(), out) })?))
    }

    /// Loads a model from safetensors bytes in memory.
    pub fn load_bytes(bytes: &[u8], device: Device) -> Result<Model> {
        // SAFETY: bytes is readable for its length.
        Ok(Model::wrap(new_handle(|out| unsafe {
            sys::nn_model_load_buffer(bytes.as_ptr().cast(), bytes.len(), device.to_raw(), out)
        })?))
    }

    /// Saves the model to a safetensors file, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref(), "Model::save")?;
        // SAFETY: valid handle and path.
        check(unsafe { sys::nn_model_save(self.ptr(), p.as_ptr()) })
    }

    /// The bytes `save` would write.
    pub fn save_bytes(&self) -> Result<Vec<u8>> {
        let mut needed = 0usize;
        // SAFETY: size query with NULL, 0.
        check(unsafe { sys::nn_model_save_buffer(self.ptr(), ptr::null_mut(), 0, &mut needed) })?;
        let mut buf = vec![0u8; needed];
        // SAFETY: buf has `needed` bytes (a model cannot change under &self).
        check(unsafe { sys::nn_model_save_buffer(self.ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut needed) })?;
        buf.truncate(needed);
        Ok(buf)
    }

    /// Appends a layer; the model owns it from then on. On failure the layer is freed.
    pub fn add(&mut self, layer: Layer) -> Result<()> {
        // SAFETY: valid handles; on NN_OK the model owns the layer handle.
        check(unsafe { sys::nn_model_add(self.ptr(), layer.ptr.as_ptr()) })?;
        std::mem::forget(layer);
        Ok(())
    }

    /// Number of layers (activations count).
    pub fn num_layers(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::nn_model_num_layers(self.ptr()) }.max(0) as usize
    }

    fn layer_ptr(&self, index: usize) -> Result<NonNull<sys::nn_layer>> {
        let i = c_int::try_from(index).unwrap_or(c_int::MAX);
        // SAFETY: valid handle and out pointer; the result is borrowed.
        new_handle(|out| unsafe { sys::nn_model_layer(self.ptr(), i, out) })
    }

    /// The layer at `index`, borrowed.
    pub fn layer(&self, index: usize) -> Result<LayerRef<'_>> {
        Ok(LayerRef { ptr: self.layer_ptr(index)?, _model: PhantomData })
    }

    /// The layer at `index`, mutably borrowed (to set its parameters).
    pub fn layer_mut(&mut self, index: usize) -> Result<LayerMut<'_>> {
        Ok(LayerMut { ptr: self.layer_ptr(index)?, _model: PhantomData })
    }

    /// Total number of parameter elements.
    pub fn num_params(&self) -> i64 {
        // SAFETY: valid handle.
        unsafe { sys::nn_model_num_params(self.ptr()) }
    }

    /// Re-initialises every Linear layer (seeded, reproducible).
    pub fn init(&mut self, scheme: Init, seed: u64) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_model_init(self.ptr(), scheme.to_raw(), seed) })
    }

    /// Moves the model to a device (do it before creating its optimizer).
    pub fn to_device(&mut self, device: Device) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_model_to(self.ptr(), device.to_raw()) })
    }

    /// Device of the parameters.
    pub fn device(&self) -> Device {
        // SAFETY: valid handle.
        let raw = unsafe { sys::nn_model_device(self.ptr()) };
        Device::from_raw(raw).unwrap_or_else(|| panic!("libnn returned an unknown device {raw:?}"))
    }

    /// Converts the parameters to F32 or F64 (before creating an optimizer).
    pub fn to_dtype(&mut self, dtype: DType) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_model_to_dtype(self.ptr(), dtype.to_raw()) })
    }

    /// Dtype of the parameters.
    pub fn dtype(&self) -> DType {
        // SAFETY: valid handle.
        let raw = unsafe { sys::nn_model_dtype(self.ptr()) };
        DType::from_raw(raw).unwrap_or_else(|| panic!("libnn returned an unknown dtype {raw}"))
    }

    /// Inference; may run on many threads at once.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // SAFETY: nn_model_forward may run concurrently on one model.
        Tensor::from_new(|out| unsafe { sys::nn_model_forward(self.ptr(), x.as_ptr(), out) })
    }

    /// Predicted class per row: argmax over the last dimension of the output (I64).
    pub fn predict_classes(&self, x: &Tensor) -> Result<Vec<i64>> {
        self.forward(x)?.argmax(Some(-1))?.to_vec()
    }

    /// The text table of the layers (`nn_model_summary`).
    pub fn summary(&self) -> Result<String> {
        // SAFETY: snprintf_string passes a buffer of cap bytes (or NULL with cap 0).
        snprintf_string(|buf, cap, needed| unsafe { sys::nn_model_summary(self.ptr(), buf, cap, needed) })
    }

    /// Sets every accumulated gradient to zero.
    pub fn zero_grad(&mut self) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_model_zero_grad(self.ptr()) })
    }

    /// Forward + loss + backpropagation; gradients accumulate. Returns the loss.
    pub fn backward(&mut self, x: &Tensor, target: &Tensor, loss: Loss) -> Result<f64> {
        let mut v = 0.0;
        // SAFETY: valid handles, exclusive access.
        check(unsafe { sys::nn_model_backward(self.ptr(), x.as_ptr(), target.as_ptr(), loss.to_raw(), &mut v) })?;
        Ok(v)
    }

    /// Loss and accuracy (NaN for a non-classification loss) on (x, y).
    ///
    /// Takes `&mut self` because the C contract promises concurrency for
    /// `nn_model_forward` only.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, loss: Loss) -> Result<(f64, f64)> {
        let (mut l, mut a) = (0.0, 0.0);
        // SAFETY: valid handles and out pointers.
        check(unsafe { sys::nn_model_evaluate(self.ptr(), x.as_ptr(), y.as_ptr(), loss.to_raw(), &mut l, &mut a) })?;
        Ok((l, a))
    }

    /// Trains with `opt` (created for this model) on (x, y); returns the last epoch's report.
    pub fn fit(&mut self, opt: &mut Optimizer, x: &Tensor, y: &Tensor, options: &FitOptions<'_>) -> Result<EpochReport> {
        self.fit_impl(opt, x, y, options, None)
    }

    /// As [`fit`](Model::fit), calling `on_epoch` after every epoch. The cancel
    /// rule (the same in every binding): returning `ControlFlow::Break(())`
    /// stops training after that epoch and `fit_with` returns `Ok` with the
    /// last epoch's report, its `cancelled` set (C's `NN_ERR_CANCELLED` is not
    /// an error here). A panic in `on_epoch` stops training and is resumed
    /// when libnn returns.
    pub fn fit_with<F>(
        &mut self,
        opt: &mut Optimizer,
        x: &Tensor,
        y: &Tensor,
        options: &FitOptions<'_>,
        mut on_epoch: F,
    ) -> Result<EpochReport>
    where
        F: FnMut(&EpochReport) -> ControlFlow<()>,
    {
        self.fit_impl(opt, x, y, options, Some(&mut on_epoch))
    }

    fn fit_impl(
        &mut self,
        opt: &mut Optimizer,
        x: &Tensor,
        y: &Tensor,
        options: &FitOptions<'_>,
        on_epoch: Option<&mut EpochFn<'_>>,
    ) -> Result<EpochReport> {
        opt.check_model(self, "Model::fit")?;
        let mut o = std::mem::MaybeUninit::<sys::nn_fit_options>::zeroed();
        // SAFETY: fills every field.
        let mut o = unsafe {
            sys::nn_fit_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        o.epochs = options.epochs;
        o.batch_size = options.batch_size;
        o.shuffle = options.shuffle;
        o.seed = options.seed;
        o.loss = options.loss.to_raw();
        o.patience = options.patience;
        if let Some((vx, vy)) = options.validation {
            o.val_x = vx.as_ptr();
            o.val_y = vy.as_ptr();
        }
        if let Some(c) = options.comm {
            o.comm = c.as_ptr();
        }
        let mut state = on_epoch.map(|f| CallbackState { f, panic: None });
        if let Some(s) = state.as_mut() {
            o.on_epoch = Some(epoch_trampoline);
            o.user_data = (s as *mut CallbackState<'_>).cast();
        }
        let mut last = sys::nn_epoch_report { epoch: 0, epochs: 0, loss: 0., val_loss: 0., val_accuracy: 0., lr: 0., seconds: 0. };
        // SAFETY: valid handles, exclusive access to the model and optimizer;
        // `state` outlives the call.
        let st = unsafe { sys::nn_model_fit(self.ptr(), opt.ptr.as_ptr(), x.as_ptr(), y.as_ptr(), &o, &mut last) };
        if let Some(payload) = state.and_then(|s| s.panic) {
            panic::resume_unwind(payload);
        }
        if st == sys::NN_ERR_CANCELLED {
            // The cancel rule: a callback that stops training is not an error.
            let mut r: EpochReport = last.into();
            r.cancelled = true;
            return Ok(r);
        }
        check(st)?;
        Ok(last.into())
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Model(layers={}, params={})", self.num_layers(), self.num_params())
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.summary() {
            Ok(s) => f.write_str(&s),
            Err(e) => write!(f, "<model: {e}>"),
        }
    }
}

// ---------------------------------------------------------------------------
// Optimizers

/// An SGD or Adam(W) optimizer of one model, with an optional StepLR schedule.
///
/// It shares ownership of its model's C handle, so the C model always
/// outlives the optimizer (the C contract) whatever order Rust drops them in.
/// Calls that change the model's parameters take `&mut Model` and are
/// refused for another model than the one it was created for.
pub struct Optimizer {
    ptr: NonNull<sys::nn_optimizer>,
    model: Arc<ModelHandle>,
}

// SAFETY: an optimizer's own calls (lr, set_lr, schedule, free) touch only its
// state; calls that touch the model need `&mut Model` as well.
unsafe impl Send for Optimizer {}
unsafe impl Sync for Optimizer {}

impl Optimizer {
    /// torch.optim.SGD(lr, momentum, weight_decay, nesterov) for `model`.
    pub fn sgd(model: &mut Model, lr: f64, momentum: f64, weight_decay: f64, nesterov: bool) -> Result<Optimizer> {
        // SAFETY: valid handle, exclusive access, valid out pointer.
        let ptr = new_handle(|out| unsafe { sys::nn_optimizer_sgd(model.ptr(), lr, momentum, weight_decay, nesterov, out) })?;
        Ok(Optimizer { ptr, model: Arc::clone(&model.h) })
    }

    /// torch.optim.Adam (or AdamW with `decoupled`) for `model`.
    pub fn adam(
        model: &mut Model,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Result<Optimizer> {
        // SAFETY: valid handle, exclusive access, valid out pointer.
        let ptr = new_handle(|out| unsafe {
            sys::nn_optimizer_adam(model.ptr(), lr, beta1, beta2, eps, weight_decay, decoupled, out)
        })?;
        Ok(Optimizer { ptr, model: Arc::clone(&model.h) })
    }

    fn check_model(&self, model: &Model, what: &str) -> Result<()> {
        if Arc::ptr_eq(&self.model, &model.h) {
            Ok(())
        } else {
            Err(Error::new(Status::InvalidArgument, format!("{what}: the optimizer was created for another model")))
        }
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::nn_optimizer {
        self.ptr.as_ptr()
    }

    /// optimizer.step(): updates `model`'s parameters from their gradients.
    pub fn step(&mut self, model: &mut Model) -> Result<()> {
        self.check_model(model, "Optimizer::step")?;
        // SAFETY: valid handle; exclusive access to it and its model.
        check(unsafe { sys::nn_optimizer_step(self.ptr.as_ptr()) })
    }

    /// optimizer.zero_grad().
    pub fn zero_grad(&mut self, model: &mut Model) -> Result<()> {
        self.check_model(model, "Optimizer::zero_grad")?;
        // SAFETY: as step.
        check(unsafe { sys::nn_optimizer_zero_grad(self.ptr.as_ptr()) })
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        // SAFETY: valid handle.
        unsafe { sys::nn_optimizer_lr(self.ptr.as_ptr()) }
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_optimizer_set_lr(self.ptr.as_ptr(), lr) })
    }

    /// Attaches a StepLR schedule: every `step_size` epochs, lr *= gamma.
    pub fn set_step_lr(&mut self, step_size: i32, gamma: f64) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_optimizer_set_step_lr(self.ptr.as_ptr(), step_size, gamma) })
    }

    /// scheduler.step(): ends an epoch (fit calls it itself).
    pub fn epoch_end(&mut self) -> Result<()> {
        // SAFETY: valid handle, exclusive access.
        check(unsafe { sys::nn_optimizer_epoch_end(self.ptr.as_ptr()) })
    }
}

impl Drop for Optimizer {
    fn drop(&mut self) {
        // SAFETY: we own the handle; the model (kept alive by self.model) is
        // freed only after this, when the Arc field drops.
        unsafe { sys::nn_optimizer_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Optimizer(lr={})", self.lr())
    }
}
