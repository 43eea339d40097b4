# Process groups for data-parallel training (nn.h group "comm"); included
# from NN.jl.
#
#     c = Comm()                      # MPI_COMM_WORLD (libnn initialises MPI if needed)
#     fit!(m, opt, x_shard, y_shard; comm = c, batch_size = 32)   # batch per rank
#     allreduce!(c, t, :mean); broadcast!(c, t, 0); broadcast_model!(c, m, 0)
#
# Run with `mpirun -np 2 julia script.jl`. Every function but comm_rank and
# comm_size is collective: all ranks call it in the same order. Without
# libnn_mpi.so or an MPI runtime, Comm() throws an NNError (:unsupported)
# saying which is missing.

export Comm, comm_rank, comm_size, allreduce!, broadcast!, broadcast_model!

"""
    Comm(mpi_comm::Ptr{Cvoid} = C_NULL)

A group of processes (`nn_comm_mpi`) over the `MPI_Comm` at address
`mpi_comm` (`C_NULL`: MPI_COMM_WORLD); libnn duplicates it. With MPI.jl (using
the same MPI library as libnn_mpi.so), pass the address of its handle, e.g.
`Comm(Ptr{Cvoid}(pointer_from_objref(MPI.COMM_WORLD)))` (MPI.jl's `Comm`
holds the `MPI_Comm` as its first field). Freed by its finalizer or `close`
(collective, like `MPI_Comm_free`).
"""
mutable struct Comm
    ptr::Ptr{Cvoid}
    function Comm(mpi_comm::Ptr{Cvoid} = C_NULL)
        out = Ref{Ptr{Cvoid}}(C_NULL)
        _check(ccall(_f(:nn_comm_mpi), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), mpi_comm, out))
        c = new(out[])
        finalizer(_free_comm!, c)
        return c
    end
end

function _free_comm!(c::Comm)
    if c.ptr != C_NULL
        ccall(_f(:nn_comm_free), Cvoid, (Ptr{Cvoid},), c.ptr)
        c.ptr = C_NULL
    end
    return nothing
end

Base.close(c::Comm) = _free_comm!(c)

function Base.unsafe_convert(::Type{Ptr{Cvoid}}, c::Comm)
    c.ptr == C_NULL && throw(ArgumentError("the Comm was closed"))
    return c.ptr
end

"""This process's rank in the group (0-based, as MPI's)."""
comm_rank(c::Comm) = Int(ccall(_f(:nn_comm_rank), Cint, (Ptr{Cvoid},), c))

"""Number of processes in the group."""
comm_size(c::Comm) = Int(ccall(_f(:nn_comm_size), Cint, (Ptr{Cvoid},), c))

"""
    allreduce!(c, t::Tensor, op = :sum) -> t

Reduces `t` over the group in place (`:sum`, `:mean`, `:max`, `:min`).
"""
function allreduce!(c::Comm, t::Tensor, op = :sum)
    _check(ccall(_f(:nn_comm_allreduce), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Cint), c, t,
                 _code(REDUCE_OPS, op, "op")))
    return t
end

"""
    broadcast!(c, t::Tensor, root = 0) -> t

Copies rank `root`'s `t` (0-based rank) into every rank's `t`, in place.
"""
function broadcast!(c::Comm, t::Tensor, root::Integer = 0)
    _check(ccall(_f(:nn_comm_broadcast), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Cint), c, t, root))
    return t
end

"""
    broadcast_model!(c, m::Model, root = 0) -> m

Copies rank `root`'s parameters into every rank's model (same architecture).
"""
function broadcast_model!(c::Comm, m::Model, root::Integer = 0)
    _check(ccall(_f(:nn_model_broadcast), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Cint), c, m, root))
    return m
end

_comm_ptr(::Nothing, default) = default
_comm_ptr(c::Comm, default) = Base.unsafe_convert(Ptr{Cvoid}, c)
