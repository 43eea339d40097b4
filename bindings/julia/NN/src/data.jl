# Data files (.npy, CSV), row selection and metrics (nn.h group "data").
# Included from NN.jl.

export load_npy, save_npy, load_csv, slice_dim, index_select, concat, metric, confusion_matrix

const METRICS = (:accuracy, :mae, :rmse, :r2)                                      # nn_metric

"""Loads a `.npy` file (versions 1-3, C or Fortran order) as a Tensor (`nn_tensor_load_npy`)."""
function load_npy(path::AbstractString; device::Device = CPU)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_load_npy), Cint, (Cstring, Device, Ptr{Ptr{Cvoid}}), path, device, out)
    end
end

"""Saves a tensor as a `.npy` file NumPy reads, atomically (`nn_tensor_save_npy`)."""
function save_npy(t::Tensor, path::AbstractString)
    _check(ccall(_f(:nn_tensor_save_npy), Cint, (Ptr{Cvoid}, Cstring), t, path))
    return path
end

"""
    load_csv(path; delimiter = ',', skip_rows = 0, dtype = :f32, device = CPU)

A numeric CSV table as a `[rows, cols]` Tensor (`nn_tensor_load_csv`); errors
name the file, line and column.
"""
function load_csv(path::AbstractString; delimiter::Char = ',', skip_rows::Integer = 0, dtype = :f32,
                  device::Device = CPU)
    isascii(delimiter) || throw(ArgumentError("delimiter must be an ASCII character"))
    return _new_tensor() do out
        ccall(_f(:nn_tensor_load_csv), Cint, (Cstring, Cchar, Cint, Cint, Device, Ptr{Ptr{Cvoid}}),
              path, Cchar(delimiter), skip_rows, _dtype(dtype), device, out)
    end
end

"""
    slice_dim(t, dim, start, stop)

`t[start:stop]` along the 0-based C dimension `dim`, with C (Python) slice
rules: 0-based `start`, exclusive `stop`, negatives count from the end. A view
sharing `t`'s storage (`nn_tensor_slice`).
"""
function slice_dim(t::Tensor, dim::Integer, start::Integer, stop::Integer)
    return _new_tensor() do out
        ccall(_f(:nn_tensor_slice), Cint, (Ptr{Cvoid}, Cint, Int64, Int64, Ptr{Ptr{Cvoid}}),
              t, dim, start, stop, out)
    end
end

"""Rows (0-based `index`, a Tensor or integers) along the 0-based C dimension `dim` (`nn_tensor_index_select`)."""
function index_select(t::Tensor, dim::Integer, index)
    idx = index isa Tensor ? index : Tensor(Int64[index...])
    return _new_tensor() do out
        ccall(_f(:nn_tensor_index_select), Cint, (Ptr{Cvoid}, Cint, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
              t, dim, idx, out)
    end
end

"""Joins tensors along the 0-based C dimension `dim` (`nn_tensor_concat`, torch.cat)."""
function concat(ts::AbstractVector{Tensor}, dim::Integer = 0)
    ptrs = Ptr{Cvoid}[Base.unsafe_convert(Ptr{Cvoid}, t) for t in ts]
    return GC.@preserve ts _new_tensor() do out
        ccall(_f(:nn_tensor_concat), Cint, (Cint, Ptr{Ptr{Cvoid}}, Cint, Ptr{Ptr{Cvoid}}),
              length(ptrs), ptrs, dim, out)
    end
end

"""`metric(:accuracy | :mae | :rmse | :r2, pred, target)` (`nn_metric_compute`)."""
function metric(m, pred::Tensor, target::Tensor)
    code = m isa Symbol ? _code(METRICS, m, "metric") : Cint(m)
    v = Ref{Cdouble}(0)
    _check(ccall(_f(:nn_metric_compute), Cint, (Cint, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cdouble}),
                 code, pred, target, v))
    return v[]
end

"""Int64 `[classes, classes]` confusion matrix, rows the true class (`nn_confusion_matrix`)."""
function confusion_matrix(pred::Tensor, target::Tensor, classes::Integer)
    return _new_tensor() do out
        ccall(_f(:nn_confusion_matrix), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Int64, Ptr{Ptr{Cvoid}}),
              pred, target, classes, out)
    end
end
