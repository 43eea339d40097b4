# Inference for embedding, one ccall per prediction (`nn_model_predict`), and
# introspection of models and layers (`nn_model_in_features`,
# `nn_model_out_features`, `nn_layer_activation_of`). Included from NN.jl.

_width(n::Int64) = n < 0 ? nothing : Int(n)

"""
    in_features(m) -> Union{Int,Nothing}

Input width of the model: `in_features` of its first Linear layer; `nothing`
for a model without a Linear layer (`nn_model_in_features`).
"""
in_features(m::Model) = _width(ccall(_f(:nn_model_in_features), Int64, (Ptr{Cvoid},), m))

"""
    out_features(m) -> Union{Int,Nothing}

Output width of the model: `out_features` of its last Linear layer
(activations keep the width); `nothing` without a Linear layer
(`nn_model_out_features`).
"""
out_features(m::Model) = _width(ccall(_f(:nn_model_out_features), Int64, (Ptr{Cvoid},), m))

"""
    activation(layer::Layer) -> Union{Symbol,Nothing}

The activation an activation layer applies (`:relu`, `:softmax`, ...);
`nothing` for a Linear layer (`nn_layer_activation_of`). (`activation(:relu)`
with a symbol creates a layer.)
"""
function activation(l::Layer)
    a = ccall(_f(:nn_layer_activation_of), Cint, (Ptr{Cvoid},), l)
    return a < 0 ? nothing : _sym(ACTIVATIONS, a)
end

function _predict_width_check(m::Model, what, got::Integer)
    nin = in_features(m)
    # Without a Linear layer the width is unknown: libnn reports that before
    # it reads x or writes y.
    nin === nothing || got == nin ||
        throw(DimensionMismatch("predict: $what has $got features per sample; the model takes $nin"))
    nout = out_features(m)
    return nout === nothing ? 0 : nout
end

# nn_model_predict(m, rows, x, y): x holds rows * in_features floats and y
# rows * out_features (checked by the callers); nothing yields between the
# ccall and _check, so the thread-local message is this call's.
_predict_call(m::Model, rows::Integer, x::Array{Float32}, y::Array{Float32}) =
    _check(ccall(_f(:nn_model_predict), Cint, (Ptr{Cvoid}, Int64, Ptr{Float32}, Ptr{Float32}),
                 m, rows, x, y))

"""
    predict(m, X::AbstractMatrix{Float32}) -> Matrix{Float32}
    predict(m, x::AbstractVector{Float32}) -> Vector{Float32}

Inference in one `nn_model_predict` call. As everywhere in this binding, rows
are samples: `X` is `n × in_features` and the result `n × out_features`; a
vector is one sample and gives a vector of `out_features`. The results are
`Float32` whatever the model's dtype and device (an `:f64` model converts on
the way in and out) and equal `forward` on the same rows bit for bit. Many
tasks/threads may predict with one model at once.

libnn reads rows in C order, so `X` is copied once, transposed, into an
`in_features × n` buffer and the result transposed back (a vector is passed
as it is). A wrong width throws `DimensionMismatch`; libnn's errors (e.g. a
model without a Linear layer) throw `NNError` with libnn's message. Other
element types go through `forward` (the method for any `x`), whose results
are in the model's float type.
"""
function predict(m::Model, x::AbstractMatrix{Float32})
    n, f = size(x)
    nout = _predict_width_check(m, "X ($n×$f)", f)
    xt = permutedims!(Matrix{Float32}(undef, f, n), x, (2, 1))   # column i = sample i: row-major [n, f]
    yt = Matrix{Float32}(undef, nout, n)                          # row-major [n, out]
    _predict_call(m, n, xt, yt)
    return permutedims(yt)
end

function predict(m::Model, x::AbstractVector{Float32})
    nout = _predict_width_check(m, "x (length $(length(x)))", length(x))
    xv = x isa Vector{Float32} ? x : Vector{Float32}(x)
    y = Vector{Float32}(undef, nout)
    _predict_call(m, 1, xv, y)
    return y
end
