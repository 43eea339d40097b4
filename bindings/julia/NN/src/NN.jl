"""
    NN

Julia bindings to libnn (`include/nn.h`): tensors, layers, sequential MLPs,
optimizers, the training loop and safetensors persistence, through `ccall`.

The library is found through `ENV["NN_LIBRARY_PATH"]` (the library file, or a
folder holding `libnn.so.0` / `libnn.so`), else the system's library path
(`libnn`). Every status other than `NN_OK` throws an [`NNError`] with the
status and libnn's message. Handles are freed by finalizers (or at once with
`close`); layers borrowed from a model are never freed by Julia.

**Memory order.** libnn is row-major (C order), Julia column-major. A
`Tensor(A)` has the same *logical* shape and elements as `A`
(`size(Tensor(A)) == size(A)`, element `[i, j]` is `A[i, j]`): the data are
permuted on the way in and out (`Array(t)`), so a `Matrix` of `n` rows and
`f` columns is the `[n, f]` batch a model expects. Dimension arguments
(`reduce`, `transpose_dims`) are 1-based; values libnn computes as indices
(argmax, class ids for the cross-entropy loss) stay 0-based.

Untested in CI (Julia is not installed there): keep it in step with `nn.h`;
`scripts/check_bindings.py` checks that every function is named in `src/*.jl`.
"""
module NN

using Libdl

export Tensor, Layer, Model, Optimizer, NNError, EpochReport, Device,
       CPU, cuda, linear, activation, mlp, forward, predict, fit!, evaluate, save, load,
       save_buffer, load_buffer, SGD, Adam, AdamW, step!, zero_grad!, lr, set_lr!, step_lr!,
       epoch_end!, init!, to_device!, to_dtype!, backward!, add!, layer, num_layers, num_params,
       param, grad, set_param!, dtype, device, to_device, to_dtype, transpose_dims, matmul, lstsq,
       unary, binary, binary_scalar, reduce_dims, compute_loss, write!, arange, zeros_tensor,
       full_tensor, rand_uniform, rand_normal, model_summary, in_features, out_features
export export_onnx, import_onnx

# ---------------------------------------------------------------------------
# Loading the library

const _lib = Ref{Ptr{Cvoid}}(C_NULL)

function _library_candidates()
    env = get(ENV, "NN_LIBRARY_PATH", "")
    if !isempty(env)
        return isdir(env) ? [joinpath(env, n) for n in ("libnn.so.0", "libnn.so", "libnn.dylib", "nn.dll")] :
               [env]
    end
    return ["libnn.so.0", "libnn"]
end

"""Handle of the loaded libnn (opened on first use)."""
function _handle()
    h = _lib[]
    h != C_NULL && return h
    tried = String[]
    for c in _library_candidates()
        h = Libdl.dlopen(c, Libdl.RTLD_NOW; throw_error = false)
        if h !== nothing && h != C_NULL
            _check_version(h, c)
            _lib[] = h
            return h
        end
        push!(tried, c)
    end
    error("NN: cannot load libnn (tried $(join(tried, ", "))); set NN_LIBRARY_PATH " *
          "to the library file or the folder holding it")
end

# Refuses a library of another major version than NN_VERSION_MAJOR (at load).
# NN_BINDING_TEST_VERSION (tests only) stands in for nn_version()'s answer.
function _check_version(h, path)
    fake = get(ENV, "NN_BINDING_TEST_VERSION", "")
    v = isempty(fake) ? Int(ccall(Libdl.dlsym(h, :nn_version), Cint, ())) : parse(Int, fake)
    if div(v, 10000) != NN_VERSION_MAJOR
        Libdl.dlclose(h)
        error("NN: $path is libnn $(div(v, 10000)).$(div(v, 100) % 100).$(v % 100), but this " *
              "binding needs libnn $(NN_VERSION_MAJOR).x; install a matching libnn or binding")
    end
    return nothing
end

# The address of a libnn function (dlsym is thread-safe; no cache, no lock).
_f(name::Symbol) = Libdl.dlsym(_handle(), name)

function __init__()
    _lib[] = C_NULL   # a precompiled image carries no handle of an earlier session
    return nothing
end

# ---------------------------------------------------------------------------
# Constants of nn.h

const NN_VERSION_MAJOR = 0
const NN_VERSION_MINOR = 1
const NN_VERSION_PATCH = 0
const NN_MAX_DIMS = 8
const NN_ALL_DIMS = Cint(-128)
const NN_FIT_OPTIONS_VERSION = UInt32(2)

# nn_status
const NN_OK = Cint(0)
const NN_ERR_INVALID_ARGUMENT = Cint(1)
const NN_ERR_SHAPE = Cint(2)
const NN_ERR_DTYPE = Cint(3)
const NN_ERR_DEVICE = Cint(4)
const NN_ERR_OUT_OF_MEMORY = Cint(5)
const NN_ERR_IO = Cint(6)
const NN_ERR_FORMAT = Cint(7)
const NN_ERR_UNSUPPORTED = Cint(8)
const NN_ERR_NOT_FINITE = Cint(9)
const NN_ERR_CANCELLED = Cint(10)
const NN_ERR_INTERNAL = Cint(99)

# nn_device_type
const NN_CPU = Cint(1)
const NN_CUDA = Cint(2)

# The raw values of the other C enums (the functions take the symbols below).
# nn_dtype
const NN_F32 = Cint(0)
const NN_F64 = Cint(1)
const NN_F16 = Cint(2)
const NN_BF16 = Cint(3)
const NN_U8 = Cint(4)
const NN_I16 = Cint(5)
const NN_I32 = Cint(6)
const NN_I64 = Cint(7)
# nn_unary_op
const NN_OP_NEG = Cint(0)
const NN_OP_ABS = Cint(1)
const NN_OP_EXP = Cint(2)
const NN_OP_LOG = Cint(3)
const NN_OP_SQRT = Cint(4)
const NN_OP_RELU = Cint(5)
const NN_OP_SIGMOID = Cint(6)
const NN_OP_TANH = Cint(7)
const NN_OP_STEP = Cint(8)
# nn_binary_op
const NN_OP_ADD = Cint(0)
const NN_OP_SUB = Cint(1)
const NN_OP_MUL = Cint(2)
const NN_OP_DIV = Cint(3)
const NN_OP_MAX = Cint(4)
const NN_OP_MIN = Cint(5)
# nn_reduce_op
const NN_REDUCE_SUM = Cint(0)
const NN_REDUCE_MEAN = Cint(1)
const NN_REDUCE_MAX = Cint(2)
const NN_REDUCE_MIN = Cint(3)
const NN_REDUCE_ARGMAX = Cint(4)
# nn_activation
const NN_ACT_IDENTITY = Cint(0)
const NN_ACT_RELU = Cint(1)
const NN_ACT_SIGMOID = Cint(2)
const NN_ACT_TANH = Cint(3)
const NN_ACT_STEP = Cint(4)
const NN_ACT_SOFTMAX = Cint(5)
const NN_ACT_LEAKY_RELU = Cint(6)
# nn_layer_kind
const NN_LAYER_LINEAR = Cint(0)
const NN_LAYER_ACTIVATION = Cint(1)
# nn_param
const NN_PARAM_WEIGHT = Cint(0)
const NN_PARAM_BIAS = Cint(1)
# nn_init
const NN_INIT_TORCH_DEFAULT = Cint(0)
const NN_INIT_HE_UNIFORM = Cint(1)
const NN_INIT_HE_NORMAL = Cint(2)
const NN_INIT_XAVIER_UNIFORM = Cint(3)
const NN_INIT_XAVIER_NORMAL = Cint(4)
const NN_INIT_ZEROS = Cint(5)
# nn_loss
const NN_LOSS_MSE = Cint(0)
const NN_LOSS_SSE = Cint(1)
const NN_LOSS_HALF_MSE = Cint(2)
const NN_LOSS_BCE = Cint(3)
const NN_LOSS_BCE_WITH_LOGITS = Cint(4)
const NN_LOSS_CROSS_ENTROPY = Cint(5)

# The symbolic names this module uses for the C enums, in C order (value = index - 1).
const DTYPES = (:f32, :f64, :f16, :bf16, :u8, :i16, :i32, :i64)                 # nn_dtype
const UNARY_OPS = (:neg, :abs, :exp, :log, :sqrt, :relu, :sigmoid, :tanh, :step)  # nn_unary_op
const BINARY_OPS = (:add, :sub, :mul, :div, :max, :min)                          # nn_binary_op
const REDUCE_OPS = (:sum, :mean, :max, :min, :argmax)                            # nn_reduce_op
const ACTIVATIONS = (:identity, :relu, :sigmoid, :tanh, :step, :softmax, :leaky_relu)  # nn_activation
const LAYER_KINDS = (:linear, :activation)                                       # nn_layer_kind
const PARAMS = (:weight, :bias)                                                  # nn_param
const INITS = (:torch_default, :he_uniform, :he_normal, :xavier_uniform, :xavier_normal, :zeros)  # nn_init
const LOSSES = (:mse, :sse, :half_mse, :bce, :bce_with_logits, :cross_entropy)   # nn_loss
const STATUSES = Dict{Int,Symbol}(0 => :ok, 1 => :invalid_argument, 2 => :shape, 3 => :dtype,
                                  4 => :device, 5 => :out_of_memory, 6 => :io, 7 => :format,
                                  8 => :unsupported, 9 => :not_finite, 10 => :cancelled,
                                  99 => :internal)

function _code(table, s::Symbol, what::AbstractString)
    i = findfirst(==(s), table)
    i === nothing && throw(ArgumentError("$what must be one of $(join(table, ", ")), not :$s"))
    return Cint(i - 1)
end
_code(table, s::Integer, what::AbstractString) = Cint(s)   # raw C values pass through
_sym(table, c::Integer) = 0 <= c < length(table) ? table[c+1] : Symbol("unknown_", c)

# ---------------------------------------------------------------------------
# Errors

"""
    NNError(status, message)

A failed libnn call: `status` is the `nn_status` code (`e.name` gives its
symbol, e.g. `:shape`), `message` libnn's text (`nn_last_error()`).
"""
struct NNError <: Exception
    status::Int
    message::String
end

function Base.getproperty(e::NNError, s::Symbol)
    s === :name && return get(STATUSES, getfield(e, :status), :unknown)
    return getfield(e, s)
end

Base.showerror(io::IO, e::NNError) =
    print(io, "NNError(", e.name, "): ", status_string(e.status), ": ", e.message)

"""Static description of a status code (`nn_status_string`)."""
status_string(s::Integer) = unsafe_string(ccall(_f(:nn_status_string), Cstring, (Cint,), s))

"""Message of this thread's last failed call (`nn_last_error`)."""
last_error() = unsafe_string(ccall(_f(:nn_last_error), Cstring, ()))

# No yield point lies between a failing ccall and this, so the task cannot
# have moved to another thread (the message is thread-local).
@inline function _check(st::Cint)
    st == NN_OK && return nothing
    throw(NNError(Int(st), last_error()))
end

# ---------------------------------------------------------------------------
# Version, threads, devices, dtypes

"""Version of the running library: major*10000 + minor*100 + patch."""
version() = Int(ccall(_f(:nn_version), Cint, ()))

"""Version of the running library as text, e.g. "0.1.0"."""
version_string() = unsafe_string(ccall(_f(:nn_version_string), Cstring, ()))

"""Sets the number of CPU threads libnn uses (`n <= 0`: all cores); overrides the
default from `OMP_NUM_THREADS`, then `NN_NUM_THREADS`."""
set_num_threads(n::Integer) = _check(ccall(_f(:nn_set_num_threads), Cint, (Cint,), n))

"""The CPU thread count in effect: the one set, else `OMP_NUM_THREADS`, else
`NN_NUM_THREADS`, else all cores; capped to the cores."""
get_num_threads() = Int(ccall(_f(:nn_get_num_threads), Cint, ()))

"""
    Device(type, index)

`nn_device`: `CPU` or `cuda(i)` (0-based GPU ordinal, as in libnn).
"""
struct Device
    type::Int32
    index::Int32
end
const CPU = Device(NN_CPU, 0)
cuda(index::Integer = 0) = Device(NN_CUDA, index)
Base.show(io::IO, d::Device) =
    print(io, d.type == NN_CPU ? "CPU" : d.type == NN_CUDA ? "cuda($(d.index))" : "Device($(d.type), $(d.index))")

"""Number of devices of a type (`:cpu`, `:cuda` or a raw `nn_device_type`)."""
function device_count(type)
    t = type === :cpu ? NN_CPU : type === :cuda ? NN_CUDA : Cint(type)
    return Int(ccall(_f(:nn_device_count), Cint, (Cint,), t))
end

_dtype(s::Symbol) = _code(DTYPES, s, "dtype")
_dtype(c::Integer) = Cint(c)
_dtype(::Type{Float32}) = Cint(0)
_dtype(::Type{Float64}) = Cint(1)
_dtype(::Type{Float16}) = Cint(2)
_dtype(::Type{UInt8}) = Cint(4)
_dtype(::Type{Int16}) = Cint(5)
_dtype(::Type{Int32}) = Cint(6)
_dtype(::Type{Int64}) = Cint(7)
_dtype(::Type{T}) where {T} = throw(ArgumentError("no libnn dtype for Julia type $T " *
    "(use Float32, Float64, Float16, UInt8, Int16, Int32 or Int64)"))

const _JLTYPES = (Float32, Float64, Float16, nothing, UInt8, Int16, Int32, Int64)

"""Bytes per element of a dtype (`nn_dtype_size`)."""
dtype_size(dt) = Int(ccall(_f(:nn_dtype_size), Csize_t, (Cint,), _dtype(dt)))

# ---------------------------------------------------------------------------
# Tensors

"""
    Tensor(A::AbstractArray; device = CPU)
    Tensor(x::Number)

A libnn tensor with the logical shape and elements of `A` (converted to
row-major), freed by a finalizer or `close(t)`. Element types: Float32,
Float64, Float16, UInt8, Int16, Int32, Int64 (BF16 through `to_dtype`).
"""
mutable struct Tensor
    ptr::Ptr{Cvoid}
    function Tensor(ptr::Ptr{Cvoid}, ::Val{:own})
        ptr == C_NULL && throw(NNError(Int(NN_ERR_INTERNAL), "libnn returned a NULL tensor with NN_OK"))
        return finalizer(_free!, new(ptr))
    end
end

function _free!(t::Tensor)
    if t.ptr != C_NULL
        ccall(_f(:nn_tensor_free), Cvoid, (Ptr{Cvoid},), t.ptr)
        t.ptr = C_NULL
    end
    return nothing
end
Base.close(t::Tensor) = _free!(t)

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, t::Tensor)
    t.ptr == C_NULL && throw(ArgumentError("the tensor was closed"))
    return t.ptr
end

# Calls f(out) for a C function with a `nn_tensor **out` and wraps the result.
function _new_tensor(f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _check(f(out))
    return Tensor(out[], Val(:own))
end

# Row-major data of A as a dense Vector (the element order libnn expects).
function _rowmajor(A::AbstractArray{T,N}) where {T,N}
    N <= 1 && return Vector{T}(vec(collect(A)))
    return Vector{T}(vec(permutedims(A, ntuple(i -> N + 1 - i, N))))
end

function Tensor(A::AbstractArray{T,N}; device::Device = CPU) where {T,N}
    dt = _dtype(T)
    shape = Int64[size(A)...]
    data = _rowmajor(A)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_from_data), Cint,
              (Cint, Cint, Ptr{Int64}, Ptr{Cvoid}, Device, Ptr{Ptr{Cvoid}}),
              dt, N, shape, data, device, out)
    end
end
Tensor(x::Number; device::Device = CPU) = Tensor(fill(x); device = device)
Tensor(t::Tensor) = t

_shape(dims) = Int64[dims...]

"""A tensor of zeros: `zeros_tensor(:f32, 2, 3)` (`nn_tensor_zeros`)."""
function zeros_tensor(dt, dims::Integer...; device::Device = CPU)
    shape = _shape(dims)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_zeros), Cint, (Cint, Cint, Ptr{Int64}, Device, Ptr{Ptr{Cvoid}}),
              _dtype(dt), length(shape), shape, device, out)
    end
end

"""Every element `value` cast to `dt` (`nn_tensor_full`)."""
function full_tensor(dt, value::Real, dims::Integer...; device::Device = CPU)
    shape = _shape(dims)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_full), Cint, (Cint, Cint, Ptr{Int64}, Cdouble, Device, Ptr{Ptr{Cvoid}}),
              _dtype(dt), length(shape), shape, value, device, out)
    end
end

"""torch.arange(start, stop, step) (`nn_tensor_arange`); `stop` is excluded."""
function arange(start::Real, stop::Real, step::Real = 1; dtype = :f32, device::Device = CPU)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_arange), Cint, (Cdouble, Cdouble, Cdouble, Cint, Device, Ptr{Ptr{Cvoid}}),
              start, stop, step, _dtype(dtype), device, out)
    end
end

"""Uniform samples in [low, high), reproducible from `seed` (`nn_tensor_rand_uniform`)."""
function rand_uniform(dt, dims::Integer...; low::Real = 0.0, high::Real = 1.0, seed::Integer = 0,
                      device::Device = CPU)
    shape = _shape(dims)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_rand_uniform), Cint,
              (Cint, Cint, Ptr{Int64}, Cdouble, Cdouble, UInt64, Device, Ptr{Ptr{Cvoid}}),
              _dtype(dt), length(shape), shape, low, high, seed, device, out)
    end
end

"""Normal samples N(mean, std^2), reproducible from `seed` (`nn_tensor_rand_normal`)."""
function rand_normal(dt, dims::Integer...; mean::Real = 0.0, std::Real = 1.0, seed::Integer = 0,
                     device::Device = CPU)
    shape = _shape(dims)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_rand_normal), Cint,
              (Cint, Cint, Ptr{Int64}, Cdouble, Cdouble, UInt64, Device, Ptr{Ptr{Cvoid}}),
              _dtype(dt), length(shape), shape, mean, std, seed, device, out)
    end
end

Base.ndims(t::Tensor) = Int(ccall(_f(:nn_tensor_ndim), Cint, (Ptr{Cvoid},), t))

function Base.size(t::Tensor)
    shape = zeros(Int64, max(ndims(t), 1))
    _check(ccall(_f(:nn_tensor_shape), Cint, (Ptr{Cvoid}, Ptr{Int64}), t, shape))
    return ntuple(i -> Int(shape[i]), ndims(t))
end
Base.size(t::Tensor, d::Integer) = size(t)[d]
Base.length(t::Tensor) = Int(ccall(_f(:nn_tensor_numel), Int64, (Ptr{Cvoid},), t))

"""Element type as a symbol (`:f32`, ..., `:i64`) (`nn_tensor_dtype`)."""
dtype(t::Tensor) = _sym(DTYPES, ccall(_f(:nn_tensor_dtype), Cint, (Ptr{Cvoid},), t))

"""Device of a tensor (`nn_tensor_device`)."""
device(t::Tensor) = ccall(_f(:nn_tensor_device), Device, (Ptr{Cvoid},), t)

"""
    Array(t::Tensor)

Copies the elements (from any device) into a Julia array of `size(t)`;
BF16 is returned as Float32.
"""
function Base.Array(t::Tensor)
    dt = dtype(t)
    dt === :bf16 && return Array(to_dtype(t, :f32))
    T = _JLTYPES[_dtype(dt)+1]
    dims = size(t)
    N = length(dims)
    buf = Vector{T}(undef, prod(dims; init = 1))
    _check(ccall(_f(:nn_tensor_read), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Csize_t), t, buf, sizeof(buf)))
    N == 0 && return fill(buf[1])
    N == 1 && return buf
    return permutedims(reshape(buf, reverse(dims)), ntuple(i -> N + 1 - i, N))
end
Base.collect(t::Tensor) = Array(t)

"""The single element of a one-element tensor."""
item(t::Tensor) = (length(t) == 1 || throw(DimensionMismatch("item: $(length(t)) elements"));
                   Array(t)[1])

"""
    write!(t, A)

Overwrites the elements of `t` with those of `A` (same size; converted to
`t`'s element type), seen by every handle sharing the storage (`nn_tensor_write`).
"""
function write!(t::Tensor, A::AbstractArray)
    size(A) == size(t) || throw(DimensionMismatch("write!: tensor is $(size(t)), array $(size(A))"))
    dt = dtype(t)
    dt === :bf16 && throw(ArgumentError("write!: no Julia element type for bf16"))
    data = _rowmajor(convert(AbstractArray{_JLTYPES[_dtype(dt)+1]}, A))
    _check(ccall(_f(:nn_tensor_write), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Csize_t), t, data, sizeof(data)))
    return t
end

"""
    unsafe_data(t) -> Ptr{Cvoid}

Host pointer to the first element of a contiguous CPU tensor, row-major
(`nn_tensor_data`); C_NULL for a CUDA tensor or a transposed view. Valid
only while `t` is alive: use inside `GC.@preserve t`.
"""
unsafe_data(t::Tensor) = ccall(_f(:nn_tensor_data), Ptr{Cvoid}, (Ptr{Cvoid},), t)

"""torch.reshape (`nn_tensor_reshape`); one dimension may be -1. A view when possible."""
function Base.reshape(t::Tensor, dims::Tuple{Vararg{Integer}})
    shape = _shape(dims)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_reshape), Cint, (Ptr{Cvoid}, Cint, Ptr{Int64}, Ptr{Ptr{Cvoid}}),
              t, length(shape), shape, out)
    end
end
Base.reshape(t::Tensor, dims::Integer...) = reshape(t, dims)

# 1-based Julia dimension -> libnn's 0-based one (negative counts from the end, as in libnn).
function _cdim(d::Integer)
    d == 0 && throw(ArgumentError("dimensions are 1-based (negative counts from the end)"))
    return Cint(d > 0 ? d - 1 : d)
end

"""Swaps dimensions `d0` and `d1` (1-based), a view (`nn_tensor_transpose`)."""
function transpose_dims(t::Tensor, d0::Integer, d1::Integer)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_transpose), Cint, (Ptr{Cvoid}, Cint, Cint, Ptr{Ptr{Cvoid}}),
              t, _cdim(d0), _cdim(d1), out)
    end
end
Base.transpose(t::Tensor) = transpose_dims(t, -2, -1)

"""A contiguous copy on another device (`nn_tensor_to_device`)."""
function to_device(t::Tensor, dev::Device)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_to_device), Cint, (Ptr{Cvoid}, Device, Ptr{Ptr{Cvoid}}), t, dev, out)
    end
end

"""A contiguous copy converted to `dt` (`nn_tensor_to_dtype`)."""
function to_dtype(t::Tensor, dt)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_to_dtype), Cint, (Ptr{Cvoid}, Cint, Ptr{Ptr{Cvoid}}), t, _dtype(dt), out)
    end
end

"""A copy with its own storage (`nn_tensor_clone`)."""
function Base.copy(t::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_clone), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), t, out)
    end
end

# snprintf-style strings (nn_tensor_to_string, nn_model_summary).
function _snprintf(f)
    needed = Ref{Csize_t}(0)
    _check(f(C_NULL, Csize_t(0), needed))
    buf = Vector{UInt8}(undef, max(Int(needed[]), 1))
    _check(f(buf, Csize_t(length(buf)), C_NULL))
    n = something(findfirst(==(0x00), buf), length(buf) + 1) - 1
    return String(buf[1:n])
end

"""PyTorch's `print(t)` text (`nn_tensor_to_string`)."""
function Base.string(t::Tensor)
    return _snprintf() do buf, cap, needed
        ccall(_f(:nn_tensor_to_string), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Ptr{Csize_t}),
              t, buf, cap, needed)
    end
end
Base.show(io::IO, t::Tensor) = t.ptr == C_NULL ? print(io, "Tensor(<closed>)") : print(io, string(t))

# --- operations ------------------------------------------------------------

"""Elementwise function (`nn_unary`): `:neg, :abs, :exp, :log, :sqrt, :relu, :sigmoid, :tanh, :step`."""
function unary(op, x::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_unary), Cint, (Cint, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
              _code(UNARY_OPS, op, "op"), x, out)
    end
end

"""`a op b` with broadcasting (`nn_binary`): `:add, :sub, :mul, :div, :max, :min`."""
function binary(op, a::Tensor, b::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_binary), Cint, (Cint, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
              _code(BINARY_OPS, op, "op"), a, b, out)
    end
end

"""`a op b` with a scalar acting as a Python number (`nn_binary_scalar`)."""
function binary_scalar(op, a::Tensor, b::Real)
    return _new_tensor() do out
        ccall(_f(:nn_binary_scalar), Cint, (Cint, Ptr{Cvoid}, Cdouble, Ptr{Ptr{Cvoid}}),
              _code(BINARY_OPS, op, "op"), a, b, out)
    end
end

"""
    reduce_dims(op, x; dims = nothing, keepdim = false)

`:sum, :mean, :max, :min, :argmax` over dimension `dims` (1-based) or, with
`nothing`, every dimension (`nn_reduce`). argmax indices are 0-based.
"""
function reduce_dims(op, x::Tensor; dims::Union{Nothing,Integer} = nothing, keepdim::Bool = false)
    d = dims === nothing ? NN_ALL_DIMS : _cdim(dims)
    return _new_tensor() do out
        ccall(_f(:nn_reduce), Cint, (Cint, Ptr{Cvoid}, Cint, Bool, Ptr{Ptr{Cvoid}}),
              _code(REDUCE_OPS, op, "op"), x, d, keepdim, out)
    end
end
Base.sum(x::Tensor; dims = nothing) = reduce_dims(:sum, x; dims = dims)

"""torch.matmul (`nn_matmul`); also `a * b`."""
function matmul(a::Tensor, b::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_matmul), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), a, b, out)
    end
end

"""Least-squares `x` minimising ||a x - b|| (`nn_lstsq`)."""
function lstsq(a::Tensor, b::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_lstsq), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), a, b, out)
    end
end

Base.:+(a::Tensor, b::Tensor) = binary(:add, a, b)
Base.:-(a::Tensor, b::Tensor) = binary(:sub, a, b)
Base.:*(a::Tensor, b::Tensor) = matmul(a, b)      # Julia's `*` is the matrix product
Base.:-(a::Tensor) = unary(:neg, a)
Base.:+(a::Tensor, b::Real) = binary_scalar(:add, a, b)
Base.:+(b::Real, a::Tensor) = binary_scalar(:add, a, b)
Base.:-(a::Tensor, b::Real) = binary_scalar(:sub, a, b)
Base.:*(a::Tensor, b::Real) = binary_scalar(:mul, a, b)
Base.:*(b::Real, a::Tensor) = binary_scalar(:mul, a, b)
Base.:/(a::Tensor, b::Real) = binary_scalar(:div, a, b)

"""
    compute_loss(loss, pred, target; grad = false)

The loss (`nn_loss_compute`); with `grad = true`, `(loss, dloss/dpred)`.
"""
function compute_loss(loss, pred::Tensor, target::Tensor; grad::Bool = false)
    value = Ref{Cdouble}(0)
    l = _code(LOSSES, loss, "loss")
    if grad
        g = _new_tensor() do out
            ccall(_f(:nn_loss_compute), Cint, (Cint, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cdouble}, Ptr{Ptr{Cvoid}}),
                  l, pred, target, value, out)
        end
        return value[], g
    end
    _check(ccall(_f(:nn_loss_compute), Cint, (Cint, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cdouble}, Ptr{Ptr{Cvoid}}),
                 l, pred, target, value, C_NULL))
    return value[]
end

# ---------------------------------------------------------------------------
# Layers and models

"""
    Layer

A layer: owned by Julia (from `linear`/`activation`, freed by its finalizer)
until given to a model with `add!`, or borrowed from a model (`layer(m, i)`),
in which case it keeps the model alive and is never freed by Julia.
"""
mutable struct Layer
    ptr::Ptr{Cvoid}
    owned::Bool
    parent::Any          # the Model that owns the layer (kept alive), or nothing
end

function _free!(l::Layer)
    if l.owned && l.ptr != C_NULL
        ccall(_f(:nn_layer_free), Cvoid, (Ptr{Cvoid},), l.ptr)
        l.ptr = C_NULL
    end
    return nothing
end
Base.close(l::Layer) = _free!(l)

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, l::Layer)
    l.ptr == C_NULL && throw(ArgumentError("the layer was closed"))
    return l.ptr
end

function _new_layer(f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _check(f(out))
    return finalizer(_free!, Layer(out[], true, nothing))
end

"""A Linear layer (nn.Linear conventions, F32, CPU) (`nn_layer_linear`)."""
function linear(in_features::Integer, out_features::Integer; bias::Bool = true)
    return _new_layer() do out
        ccall(_f(:nn_layer_linear), Cint, (Int64, Int64, Bool, Ptr{Ptr{Cvoid}}),
              in_features, out_features, bias, out)
    end
end

"""An activation layer, e.g. `activation(:relu)` (`nn_layer_activation`)."""
function activation(act)
    return _new_layer() do out
        ccall(_f(:nn_layer_activation), Cint, (Cint, Ptr{Ptr{Cvoid}}), _code(ACTIVATIONS, act, "act"), out)
    end
end

"""`:linear` or `:activation` (`nn_layer_kind_of`)."""
kind(l::Layer) = _sym(LAYER_KINDS, ccall(_f(:nn_layer_kind_of), Cint, (Ptr{Cvoid},), l))

"""
    param(layer, which = :weight)

`:weight` `[out, in]` or `:bias` `[out]` as a tensor **sharing** the layer's
storage (`nn_layer_param`): `write!` on it changes the layer.
"""
function param(l::Layer, which = :weight)
    return _new_tensor() do out
        ccall(_f(:nn_layer_param), Cint, (Ptr{Cvoid}, Cint, Ptr{Ptr{Cvoid}}), l, _code(PARAMS, which, "which"), out)
    end
end

"""A copy of the gradient accumulated for a parameter (`nn_layer_grad`)."""
function grad(l::Layer, which = :weight)
    return _new_tensor() do out
        ccall(_f(:nn_layer_grad), Cint, (Ptr{Cvoid}, Cint, Ptr{Ptr{Cvoid}}), l, _code(PARAMS, which, "which"), out)
    end
end

"""Sets a parameter from an array of its size."""
set_param!(l::Layer, which, A::AbstractArray) = (write!(param(l, which), A); l)

"""Applies one layer (inference) (`nn_layer_forward`); also `layer(x)`."""
function forward(l::Layer, x::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_layer_forward), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), l, x, out)
    end
end
(l::Layer)(x::Tensor) = forward(l, x)
Base.show(io::IO, l::Layer) = print(io, "Layer(", l.ptr == C_NULL ? "<closed>" : kind(l), ")")

"""
    Model()

A sequential model (nn.Sequential), freed by its finalizer (after its
optimizers: a model with live optimizers is freed when the last one is).
"""
mutable struct Model
    ptr::Ptr{Cvoid}
    optimizers::Int      # live Optimizers of this model
    free_pending::Bool   # finalized while optimizers were alive
end

function _free_model_now!(m::Model)
    if m.ptr != C_NULL
        ccall(_f(:nn_model_free), Cvoid, (Ptr{Cvoid},), m.ptr)
        m.ptr = C_NULL
    end
    return nothing
end

function _finalize_model(m::Model)
    # nn.h: free a model's optimizers first. Finalizers run in no set order,
    # so a model whose optimizers live on is freed by the last of them.
    if m.optimizers > 0
        m.free_pending = true
    else
        _free_model_now!(m)
    end
    return nothing
end

function Base.close(m::Model)
    m.optimizers > 0 && throw(ArgumentError("close the model's optimizers first"))
    return _free_model_now!(m)
end

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, m::Model)
    m.ptr == C_NULL && throw(ArgumentError("the model was closed"))
    return m.ptr
end

function _new_model(f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _check(f(out))
    return finalizer(_finalize_model, Model(out[], 0, false))
end

Model() = _new_model(out -> ccall(_f(:nn_model_create), Cint, (Ptr{Ptr{Cvoid}},), out))

"""
    mlp(sizes; hidden = :relu, output = :identity)

Linear(s1, s2), hidden, ..., Linear(s[end-1], s[end]), output (`nn_model_mlp`).
"""
function mlp(sizes::AbstractVector{<:Integer}; hidden = :relu, output = :identity)
    s = Int64.(collect(sizes))
    h = _code(ACTIVATIONS, hidden, "hidden")
    o = _code(ACTIVATIONS, output, "output")
    return _new_model() do out
        ccall(_f(:nn_model_mlp), Cint, (Cint, Ptr{Int64}, Cint, Cint, Ptr{Ptr{Cvoid}}), length(s), s, h, o, out)
    end
end
Model(sizes::AbstractVector{<:Integer}; kw...) = mlp(sizes; kw...)

"""Appends a layer; the model owns it afterwards (`nn_model_add`)."""
function add!(m::Model, l::Layer)
    l.owned || throw(ArgumentError("add!: the layer already belongs to a model"))
    _check(ccall(_f(:nn_model_add), Cint, (Ptr{Cvoid}, Ptr{Cvoid}), m, l))
    l.owned = false
    l.parent = m
    return m
end

"""Number of layers, activations included (`nn_model_num_layers`)."""
num_layers(m::Model) = Int(ccall(_f(:nn_model_num_layers), Cint, (Ptr{Cvoid},), m))
Base.length(m::Model) = num_layers(m)

"""The `i`-th layer (1-based), borrowed from the model (`nn_model_layer`)."""
function layer(m::Model, i::Integer)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _check(ccall(_f(:nn_model_layer), Cint, (Ptr{Cvoid}, Cint, Ptr{Ptr{Cvoid}}), m, i - 1, out))
    return Layer(out[], false, m)
end
Base.getindex(m::Model, i::Integer) = layer(m, i)

"""Total number of parameter elements (`nn_model_num_params`)."""
num_params(m::Model) = Int(ccall(_f(:nn_model_num_params), Int64, (Ptr{Cvoid},), m))

"""Re-initialises every Linear layer (`nn_model_init`): `:torch_default, :he_uniform, ...`."""
function init!(m::Model, scheme = :torch_default; seed::Integer = 0)
    _check(ccall(_f(:nn_model_init), Cint, (Ptr{Cvoid}, Cint, UInt64), m, _code(INITS, scheme, "scheme"), seed))
    return m
end

"""Moves the model to a device (before creating its optimizer) (`nn_model_to`)."""
function to_device!(m::Model, dev::Device)
    _check(ccall(_f(:nn_model_to), Cint, (Ptr{Cvoid}, Device), m, dev))
    return m
end

"""Device of the model's parameters (`nn_model_device`)."""
device(m::Model) = ccall(_f(:nn_model_device), Device, (Ptr{Cvoid},), m)

"""Converts the parameters to `:f32` or `:f64` (`nn_model_to_dtype`)."""
function to_dtype!(m::Model, dt)
    _check(ccall(_f(:nn_model_to_dtype), Cint, (Ptr{Cvoid}, Cint), m, _dtype(dt)))
    return m
end

"""Dtype of the parameters (`nn_model_dtype`)."""
dtype(m::Model) = _sym(DTYPES, ccall(_f(:nn_model_dtype), Cint, (Ptr{Cvoid},), m))

"""Inference (`nn_model_forward`); may run on many threads at once. Also `m(x)`."""
function forward(m::Model, x::Tensor)
    return _new_tensor() do out
        ccall(_f(:nn_model_forward), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), m, x, out)
    end
end
(m::Model)(x::Tensor) = forward(m, x)

_floattype(m::Model) = dtype(m) === :f64 ? Float64 : Float32
_input(m::Model, x::Tensor) = x
_input(m::Model, x::AbstractArray) = Tensor(convert(AbstractArray{_floattype(m)}, x); device = device(m))
_target(m::Model, y::Tensor, loss) = y
function _target(m::Model, y::AbstractArray, loss)
    if eltype(y) <: Integer && (loss === :cross_entropy || loss == 5)
        return Tensor(convert(AbstractArray{Int64}, y); device = device(m))   # 0-based class ids
    end
    return Tensor(convert(AbstractArray{_floattype(m)}, y); device = device(m))
end

"""
    predict(m, X) -> Array

`Array(forward(m, Tensor(X)))`, X converted to the model's float type; rows
are samples.
"""
predict(m::Model, x) = Array(forward(m, _input(m, x)))

"""The text table of the model (`nn_model_summary`)."""
function model_summary(m::Model)
    return _snprintf() do buf, cap, needed
        ccall(_f(:nn_model_summary), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Ptr{Csize_t}), m, buf, cap, needed)
    end
end
Base.show(io::IO, m::Model) = m.ptr == C_NULL ? print(io, "Model(<closed>)") : print(io, model_summary(m))

"""Sets every accumulated gradient to zero (`nn_model_zero_grad`)."""
zero_grad!(m::Model) = (_check(ccall(_f(:nn_model_zero_grad), Cint, (Ptr{Cvoid},), m)); m)

"""Forward + loss + backpropagation, gradients accumulate; returns the loss (`nn_model_backward`)."""
function backward!(m::Model, x, y; loss = :mse)
    xt = _input(m, x)
    yt = _target(m, y, loss)
    v = Ref{Cdouble}(0)
    _check(ccall(_f(:nn_model_backward), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Cint, Ptr{Cdouble}),
                 m, xt, yt, _code(LOSSES, loss, "loss"), v))
    return v[]
end

# ---------------------------------------------------------------------------
# Optimizers

"""
    Optimizer

An SGD/Adam/AdamW optimizer of one model (`SGD`, `Adam`, `AdamW`). It keeps
its model alive; freed by its finalizer or `close`.
"""
mutable struct Optimizer
    ptr::Ptr{Cvoid}
    model::Model
end

function _free!(o::Optimizer)
    if o.ptr != C_NULL
        ccall(_f(:nn_optimizer_free), Cvoid, (Ptr{Cvoid},), o.ptr)
        o.ptr = C_NULL
        m = o.model
        m.optimizers -= 1
        m.optimizers == 0 && m.free_pending && _free_model_now!(m)
    end
    return nothing
end
Base.close(o::Optimizer) = _free!(o)

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, o::Optimizer)
    o.ptr == C_NULL && throw(ArgumentError("the optimizer was closed"))
    return o.ptr
end

function _new_optimizer(f, m::Model)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    _check(f(out))
    o = Optimizer(out[], m)
    m.optimizers += 1
    return finalizer(_free!, o)
end

"""torch.optim.SGD (`nn_optimizer_sgd`)."""
function SGD(m::Model; lr::Real, momentum::Real = 0.0, weight_decay::Real = 0.0, nesterov::Bool = false)
    return _new_optimizer(m) do out
        ccall(_f(:nn_optimizer_sgd), Cint, (Ptr{Cvoid}, Cdouble, Cdouble, Cdouble, Bool, Ptr{Ptr{Cvoid}}),
              m, lr, momentum, weight_decay, nesterov, out)
    end
end

"""torch.optim.Adam, or AdamW with `decoupled = true` (`nn_optimizer_adam`)."""
function Adam(m::Model; lr::Real = 1e-3, beta1::Real = 0.9, beta2::Real = 0.999, eps::Real = 1e-8,
              weight_decay::Real = 0.0, decoupled::Bool = false)
    return _new_optimizer(m) do out
        ccall(_f(:nn_optimizer_adam), Cint,
              (Ptr{Cvoid}, Cdouble, Cdouble, Cdouble, Cdouble, Cdouble, Bool, Ptr{Ptr{Cvoid}}),
              m, lr, beta1, beta2, eps, weight_decay, decoupled, out)
    end
end

"""torch.optim.AdamW (weight_decay 1e-2 by default)."""
AdamW(m::Model; weight_decay::Real = 1e-2, kw...) = Adam(m; weight_decay = weight_decay, decoupled = true, kw...)

"""optimizer.step() (`nn_optimizer_step`)."""
step!(o::Optimizer) = (_check(ccall(_f(:nn_optimizer_step), Cint, (Ptr{Cvoid},), o)); o)

"""optimizer.zero_grad() (`nn_optimizer_zero_grad`)."""
zero_grad!(o::Optimizer) = (_check(ccall(_f(:nn_optimizer_zero_grad), Cint, (Ptr{Cvoid},), o)); o)

"""Current learning rate (`nn_optimizer_lr`)."""
lr(o::Optimizer) = ccall(_f(:nn_optimizer_lr), Cdouble, (Ptr{Cvoid},), o)

"""Sets the learning rate (`nn_optimizer_set_lr`)."""
set_lr!(o::Optimizer, v::Real) = (_check(ccall(_f(:nn_optimizer_set_lr), Cint, (Ptr{Cvoid}, Cdouble), o, v)); o)

"""StepLR: every `step_size` epochs lr *= gamma (`nn_optimizer_set_step_lr`)."""
step_lr!(o::Optimizer, step_size::Integer, gamma::Real) =
    (_check(ccall(_f(:nn_optimizer_set_step_lr), Cint, (Ptr{Cvoid}, Cint, Cdouble), o, step_size, gamma)); o)

"""scheduler.step() (`nn_optimizer_epoch_end`); `fit!` calls it itself."""
epoch_end!(o::Optimizer) = (_check(ccall(_f(:nn_optimizer_epoch_end), Cint, (Ptr{Cvoid},), o)); o)

Base.show(io::IO, o::Optimizer) = print(io, "Optimizer(lr = ", o.ptr == C_NULL ? "<closed>" : lr(o), ")")

# ---------------------------------------------------------------------------
# Training loop

# `nn_epoch_report`, field for field.
struct _CEpochReport
    epoch::Cint
    epochs::Cint
    loss::Cdouble
    val_loss::Cdouble
    val_accuracy::Cdouble
    lr::Cdouble
    seconds::Cdouble
end

"""What `fit!` reports after each epoch (`nn_epoch_report`; `epoch` is 0-based).
`cancelled` is true on the report `fit!` returns when `on_epoch` stopped training."""
struct EpochReport
    epoch::Cint
    epochs::Cint
    loss::Cdouble
    val_loss::Cdouble       # NaN without a validation set
    val_accuracy::Cdouble   # NaN without one or for a non-classification loss
    lr::Cdouble
    seconds::Cdouble
    cancelled::Bool
end

EpochReport(r::_CEpochReport, cancelled::Bool = false) =
    EpochReport(r.epoch, r.epochs, r.loss, r.val_loss, r.val_accuracy, r.lr, r.seconds, cancelled)

# nn_fit_options, field for field.
struct _FitOptions
    version::UInt32
    epochs::Cint
    batch_size::Int64
    shuffle::Bool
    seed::UInt64
    loss::Cint
    val_x::Ptr{Cvoid}
    val_y::Ptr{Cvoid}
    patience::Cint
    on_epoch::Ptr{Cvoid}
    user_data::Ptr{Cvoid}
    # version 2
    comm::Ptr{Cvoid}
    on_batch::Ptr{Cvoid}
    batch_every::Int64
end

function _fit_options_defaults()
    o = Ref{_FitOptions}()
    ccall(_f(:nn_fit_options_init), Cvoid, (Ptr{_FitOptions},), o)
    return o[]
end

mutable struct _CallbackState
    f::Any
    err::Any
end

function _epoch_trampoline(report::Ptr{_CEpochReport}, user_data::Ptr{Cvoid})::Cint
    state = unsafe_pointer_to_objref(user_data)::_CallbackState
    state.err === nothing || return Cint(1)
    try
        stop = state.f(EpochReport(unsafe_load(report)))
        return stop === true ? Cint(1) : Cint(0)
    catch e
        state.err = e          # never unwind through C: stop, rethrow after nn_model_fit
        return Cint(1)
    end
end

"""
    fit!(m, opt, x, y; epochs = 10, batch_size = 32, shuffle = true, seed = 0,
         loss = :mse, validation = nothing, patience = 0, on_epoch = nothing) -> EpochReport

Trains `m` with `opt` (`nn_model_fit`). `x`, `y` are Tensors or arrays
(rows are samples; integer `y` with `loss = :cross_entropy` are 0-based class
ids). `validation = (xv, yv)`. `on_epoch(report)` runs after every epoch.
The cancel rule (the same in the Python, Rust and Julia bindings): returning
`true` stops training after that epoch and `fit!` returns normally, the
report it returns having `cancelled == true` (C's NN_ERR_CANCELLED is not an
error here); an exception thrown in it stops training and is rethrown here.
`comm` (a [`Comm`]): data-parallel training, each rank with its own shard,
`batch_size` rows per rank. Returns the last epoch's report.
"""
function fit!(m::Model, opt::Optimizer, x, y; epochs::Integer = 10, batch_size::Integer = 32,
              shuffle::Bool = true, seed::Integer = 0, loss = :mse, validation = nothing,
              patience::Integer = 0, on_epoch = nothing, comm = nothing)
    opt.model === m || throw(ArgumentError("fit!: the optimizer was created for another model"))
    xt = _input(m, x)
    yt = _target(m, y, loss)
    vx, vy = validation === nothing ? (nothing, nothing) :
             (_input(m, validation[1]), _target(m, validation[2], loss))
    d = _fit_options_defaults()
    state = _CallbackState(on_epoch, nothing)
    cb = on_epoch === nothing ? C_NULL :
         @cfunction(_epoch_trampoline, Cint, (Ptr{_CEpochReport}, Ptr{Cvoid}))
    last = Ref{_CEpochReport}()
    st = GC.@preserve state vx vy comm begin
        o = Ref(_FitOptions(d.version, epochs, batch_size, shuffle, seed, _code(LOSSES, loss, "loss"),
                            vx === nothing ? C_NULL : vx.ptr, vy === nothing ? C_NULL : vy.ptr,
                            patience, cb, on_epoch === nothing ? C_NULL : pointer_from_objref(state),
                            _comm_ptr(comm, d.comm), d.on_batch, d.batch_every))
        ccall(_f(:nn_model_fit), Cint,
              (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{_FitOptions}, Ptr{_CEpochReport}),
              m, opt, xt, yt, o, last)
    end
    state.err === nothing || throw(state.err)
    if st == NN_ERR_CANCELLED
        return EpochReport(last[], true)   # the cancel rule: a callback's stop is not an error
    end
    _check(st)
    return EpochReport(last[])
end

"""
    evaluate(m, x, y; loss = :mse) -> (loss, accuracy)

Loss and accuracy (NaN for a non-classification loss) without changing the
model (`nn_model_evaluate`).
"""
function evaluate(m::Model, x, y; loss = :mse)
    xt = _input(m, x)
    yt = _target(m, y, loss)
    l = Ref{Cdouble}(0)
    a = Ref{Cdouble}(0)
    _check(ccall(_f(:nn_model_evaluate), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Cint, Ptr{Cdouble}, Ptr{Cdouble}),
                 m, xt, yt, _code(LOSSES, loss, "loss"), l, a))
    return l[], a[]
end

# ---------------------------------------------------------------------------
# Persistence

"""Saves the model as safetensors, atomically (`nn_model_save`)."""
function save(m::Model, path::AbstractString)
    _check(ccall(_f(:nn_model_save), Cint, (Ptr{Cvoid}, Cstring), m, path))
    return path
end

"""Loads a safetensors model onto a device (`nn_model_load`)."""
function load(path::AbstractString; device::Device = CPU)
    return _new_model() do out
        ccall(_f(:nn_model_load), Cint, (Cstring, Device, Ptr{Ptr{Cvoid}}), path, device, out)
    end
end

"""The bytes `save` would write (`nn_model_save_buffer`)."""
function save_buffer(m::Model)
    needed = Ref{Csize_t}(0)
    _check(ccall(_f(:nn_model_save_buffer), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Csize_t}),
                 m, C_NULL, 0, needed))
    buf = Vector{UInt8}(undef, needed[])
    _check(ccall(_f(:nn_model_save_buffer), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Csize_t}),
                 m, buf, length(buf), needed))
    return resize!(buf, needed[])
end

"""Loads a model from safetensors bytes (`nn_model_load_buffer`)."""
function load_buffer(bytes::AbstractVector{UInt8}; device::Device = CPU)
    data = Vector{UInt8}(bytes)
    return _new_model() do out
        ccall(_f(:nn_model_load_buffer), Cint, (Ptr{Cvoid}, Csize_t, Device, Ptr{Ptr{Cvoid}}),
              data, length(data), device, out)
    end
end

include("data.jl")
# Embedding inference (nn_model_predict) and introspection: predict.jl
include("predict.jl")
# Checkpoints, state dicts, metadata, export to C: checkpoint.jl
include("checkpoint.jl")
include("comm.jl")      # process groups (nn_comm)
# ONNX export and import: onnx.jl
include("onnx.jl")

end # module
