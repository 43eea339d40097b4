# Checkpoints (exact resume), PyTorch state dicts, model metadata and the
# model as C source: nn_checkpoint_save/_load, nn_optimizer_epoch,
# nn_model_load_weights, nn_model_set_metadata/_get_metadata,
# nn_model_export_c. Included from NN.jl.

export save_checkpoint, load_checkpoint, epoch, load_weights!, set_metadata!, get_metadata, metadata, export_c

"""
    save_checkpoint(m::Model, o::Optimizer, path)

Saves the model and its optimizer (state tensors, step and epoch counts,
learning rate, StepLR schedule) to one safetensors file, atomically
(`nn_checkpoint_save`). `load` and PyTorch read it as a plain model.
"""
function save_checkpoint(m::Model, o::Optimizer, path::AbstractString)
    o.model === m || throw(ArgumentError("save_checkpoint: the optimizer was created for another model"))
    _check(ccall(_f(:nn_checkpoint_save), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Cstring), m, o, path))
    return path
end

"""
    load_checkpoint(path; device = CPU) -> (model, optimizer)

Loads a checkpoint (`nn_checkpoint_load`): the model and its optimizer as
they were saved, so that `fit!` continues bit for bit.
"""
function load_checkpoint(path::AbstractString; device::Device = CPU)
    mref = Ref{Ptr{Cvoid}}(C_NULL)
    oref = Ref{Ptr{Cvoid}}(C_NULL)
    _check(ccall(_f(:nn_checkpoint_load), Cint, (Cstring, Device, Ptr{Ptr{Cvoid}}, Ptr{Ptr{Cvoid}}),
                 path, device, mref, oref))
    m = finalizer(_finalize_model, Model(mref[], 0, false))
    o = Optimizer(oref[], m)
    m.optimizers += 1
    return m, finalizer(_free!, o)
end

"""Epochs ended so far (`nn_optimizer_epoch`): `fit!`'s shuffle order follows it."""
epoch(o::Optimizer) = Int(ccall(_f(:nn_optimizer_epoch), Int64, (Ptr{Cvoid},), o))

"""
    load_weights!(m::Model, path)

Loads a safetensors state dict whose names and shapes match `m` exactly, as
PyTorch's `load_state_dict(strict=True)` (`nn_model_load_weights`); dtypes
are converted. On a mismatch (an `NNError` naming the missing, unexpected
and mis-shaped tensors) the model is unchanged.
"""
function load_weights!(m::Model, path::AbstractString)
    _check(ccall(_f(:nn_model_load_weights), Cint, (Ptr{Cvoid}, Cstring), m, path))
    return m
end

"""
    set_metadata!(m::Model, key, value)

Sets (`value === nothing`: removes) a string entry saved with the model
(`nn_model_set_metadata`). Keys starting with "nn." are reserved; key <= 128
bytes, value <= 65536 bytes, at most 128 entries.
"""
function set_metadata!(m::Model, key::AbstractString, value::Union{AbstractString,Nothing})
    if value === nothing
        _check(ccall(_f(:nn_model_set_metadata), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}), m, key, C_NULL))
    else
        _check(ccall(_f(:nn_model_set_metadata), Cint, (Ptr{Cvoid}, Cstring, Cstring), m, key, value))
    end
    return m
end

"""The value of a metadata entry (`nn_model_get_metadata`), or `nothing` when not set."""
function get_metadata(m::Model, key::AbstractString)
    needed = Ref{Csize_t}(0)
    _check(ccall(_f(:nn_model_get_metadata), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t, Ptr{Csize_t}),
                 m, key, C_NULL, 0, needed))
    needed[] == 0 && return nothing
    buf = Vector{UInt8}(undef, needed[])
    _check(ccall(_f(:nn_model_get_metadata), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t, Ptr{Csize_t}),
                 m, key, buf, length(buf), needed))
    return String(buf[1:needed[]-1])
end

"""Every metadata entry as a `Dict{String,String}` (`nn_model_metadata_count`, `nn_model_metadata_key`)."""
function metadata(m::Model)
    out = Dict{String,String}()
    n = Int(ccall(_f(:nn_model_metadata_count), Cint, (Ptr{Cvoid},), m))
    for i in 0:n-1
        needed = Ref{Csize_t}(0)
        _check(ccall(_f(:nn_model_metadata_key), Cint, (Ptr{Cvoid}, Cint, Ptr{UInt8}, Csize_t, Ptr{Csize_t}),
                     m, i, C_NULL, 0, needed))
        buf = Vector{UInt8}(undef, needed[])
        _check(ccall(_f(:nn_model_metadata_key), Cint, (Ptr{Cvoid}, Cint, Ptr{UInt8}, Csize_t, Ptr{Csize_t}),
                     m, i, buf, length(buf), needed))
        key = String(buf[1:needed[]-1])
        out[key] = something(get_metadata(m, key), "")
    end
    return out
end

"""
    export_c(m::Model, path, prefix = "model")

Writes the model as one C99 file (`nn_model_export_c`): `<prefix>_predict`,
`<prefix>_predict_rows`, `<PREFIX>_IN_FEATURES`, `<PREFIX>_OUT_FEATURES`.
"""
function export_c(m::Model, path::AbstractString, prefix::AbstractString = "model")
    _check(ccall(_f(:nn_model_export_c), Cint, (Ptr{Cvoid}, Cstring, Cstring), m, path, prefix))
    return path
end
