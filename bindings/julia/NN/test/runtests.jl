# Tests of the Julia binding. Run with libnn built, e.g.
#   NN_LIBRARY_PATH=/path/to/build julia --project=bindings/julia/NN -e 'using Pkg; Pkg.test()'
# Untested in CI (no Julia there).
using NN
using Test

@testset "NN" begin

@testset "version and errors" begin
    @test NN.version() == NN.NN_VERSION_MAJOR * 10000 + NN.NN_VERSION_MINOR * 100 + NN.NN_VERSION_PATCH
    @test NN.version_string() == "0.1.0"
    @test NN.device_count(:cpu) == 1
    @test NN.dtype_size(:bf16) == 2
    @test NN.status_string(NN.NN_ERR_SHAPE) isa String

    e = try
        zeros_tensor(:f32, 2, -3)
        nothing
    catch err
        err
    end
    @test e isa NNError
    @test e.status == NN.NN_ERR_INVALID_ARGUMENT
    @test e.name == :invalid_argument
    @test startswith(e.message, "nn_tensor_zeros")
    @test occursin("shape[1]", e.message)

    a = zeros_tensor(:f32, 2, 3)
    b = zeros_tensor(:f32, 4)
    e = try
        a + b
        nothing
    catch err
        err
    end
    @test e isa NNError && e.name == :shape
    @test occursin("[2, 3]", e.message) && occursin("[4]", e.message)
    @test occursin("NNError(shape)", sprint(showerror, e))
    @test_throws NNError zeros_tensor(:f32, 1; device = cuda(0))
    @test_throws ArgumentError zeros_tensor(:f128, 1)
end

@testset "tensors (column-major arrays, row-major tensors)" begin
    A = [4 5 6; 7 8 9]                    # 2x3 Int64
    t = Tensor(A)
    @test size(t) == (2, 3)
    @test ndims(t) == 2 && length(t) == 6
    @test dtype(t) === :i64
    @test device(t) == CPU
    @test Array(t) == A
    x = arange(1, 4; dtype = :i64)        # [1, 2, 3]
    s = t + x                             # broadcast over rows
    @test Array(s) == [5 7 9; 8 10 12]
    @test string(s) == "tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])"
    @test Array(t + 1) == A .+ 1
    @test dtype(t * 0.5) === :f32
    @test Array(transpose(t)) == permutedims(A)
    @test Array(t * transpose(t)) == A * permutedims(A)
    @test NN.item(sum(t)) == 39
    @test Array(reduce_dims(:argmax, t; dims = 2)) == [2, 2]     # 0-based indices
    @test size(reduce_dims(:max, t; dims = 2, keepdim = true)) == (2, 1)
    @test Array(reshape(t, 3, 2)) == [4 5; 6 7; 8 9]

    f = to_dtype(t, Float32)
    @test Array(unary(:sqrt, f))[1, 1] ≈ 2.0f0
    h = to_dtype(f, :bf16)
    @test Array(h) == Float32.(A)
    c = copy(f)
    write!(c, zeros(Float32, 2, 3))
    @test Array(f) == Float32.(A)
    @test all(Array(c) .== 0)

    r = rand_uniform(:f64, 100; low = 0, high = 1, seed = 9)
    @test all(0 .<= Array(r) .< 1)
    @test Array(full_tensor(:u8, 300, 3)) == UInt8[44, 44, 44]
    z = Tensor(3.5)
    @test size(z) == () && Array(z)[] == 3.5
    E = zeros_tensor(:f32, 0, 3)
    @test size(Array(E)) == (0, 3)
    A3 = reshape(collect(Float32, 1:24), 2, 3, 4)
    @test Array(Tensor(A3)) == A3

    X = Tensor([0.0 1.0; 1.0 1.0; 2.0 1.0; 3.0 1.0])
    y = Tensor([1.0, 3.0, 5.0, 7.0])
    w = Array(lstsq(X, y))
    @test w ≈ [2.0, 1.0]
    l, g = compute_loss(:mse, y, zeros_tensor(:f64, 4); grad = true)
    @test l == (1 + 9 + 25 + 49) / 4
    @test Array(g) == [0.5, 1.5, 2.5, 3.5]
    close(g)
    @test_throws ArgumentError Array(g)
end

@testset "XOR" begin
    X = Float32[0 0; 0 1; 1 0; 1 1]
    Y = Float32[0, 1, 1, 0]
    m = mlp([2, 8, 1]; hidden = :tanh, output = :sigmoid)
    @test num_layers(m) == 4
    @test num_params(m) == 2 * 8 + 8 + 8 + 1
    opt = Adam(m; lr = 0.05)
    seen = Ref(0)
    last = fit!(m, opt, X, reshape(Y, 4, 1); epochs = 300, batch_size = 0, loss = :bce,
                on_epoch = r -> (seen[] += 1; nothing))
    @test seen[] == 300
    @test last.epoch == 299
    p = predict(m, X)
    @test size(p) == (4, 1)
    @test (vec(p) .>= 0.5) == (Y .>= 0.5)
    loss, acc = evaluate(m, X, reshape(Y, 4, 1); loss = :bce)
    @test acc == 1.0

    # Returning true stops early without an error; an exception is rethrown.
    r = fit!(m, opt, X, reshape(Y, 4, 1); epochs = 50, batch_size = 0, loss = :bce,
             on_epoch = r -> r.epoch == 2)
    @test r.epoch == 2
    @test r.cancelled
    @test !fit!(m, opt, X, reshape(Y, 4, 1); epochs = 2, batch_size = 0, loss = :bce).cancelled
    @test_throws ErrorException fit!(m, opt, X, reshape(Y, 4, 1); epochs = 5, loss = :bce,
                                     on_epoch = r -> error("boom"))
    other = mlp([2, 2, 1])
    @test_throws ArgumentError fit!(other, opt, X, reshape(Y, 4, 1))

    # The manual loop and StepLR.
    sgd = SGD(other; lr = 0.5, momentum = 0.9)
    step_lr!(sgd, 10, 0.5)
    for _ in 1:20
        zero_grad!(sgd)
        backward!(other, X, reshape(Y, 4, 1); loss = :mse)
        step!(sgd)
        epoch_end!(sgd)
    end
    @test lr(sgd) ≈ 0.125
end

@testset "digits" begin
    path = joinpath(@__DIR__, "..", "..", "..", "..", "examples", "data", "digits.csv")
    rows = [parse.(Int, split(l, ',')) for l in eachline(path) if !isempty(strip(l))]
    @test length(rows) == 1797
    # The split of examples/digits.c: splitmix64 Fisher-Yates, seed 2024, last 360 for testing.
    state = Ref(UInt64(2024))
    function next_random()
        state[] += 0x9E3779B97F4A7C15
        z = state[]
        z = (z ⊻ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ⊻ (z >> 27)) * 0x94D049BB133111EB
        return z ⊻ (z >> 31)
    end
    order = collect(1:1797)
    for i in 1796:-1:1                     # C's i = 1796 .. 1 (0-based)
        k = Int(next_random() % UInt64(i + 1))
        order[i+1], order[k+1] = order[k+1], order[i+1]
    end
    makeset(idx) = (Float32[rows[i][j] / 16 for i in idx, j in 1:64], Int64[rows[i][65] for i in idx])
    Xtr, ytr = makeset(order[1:1437])
    Xte, yte = makeset(order[1438:end])
    m = mlp([64, 64, 10]; hidden = :relu, output = :identity)
    opt = Adam(m; lr = 1e-3)
    last = fit!(m, opt, Xtr, ytr; epochs = 30, batch_size = 32, shuffle = true, seed = 1,
                loss = :cross_entropy, validation = (Xte, yte))
    @test last.val_accuracy >= 0.95
    logits = predict(m, Xte)
    predicted = [argmax(logits[i, :]) - 1 for i in 1:size(logits, 1)]
    @test sum(predicted .== yte) / length(yte) >= 0.95
    @test occursin("Linear(64, 64)", NN.model_summary(m))
end

@testset "save/load and layers" begin
    m = mlp([5, 7, 3]; hidden = :relu, output = :softmax)
    init!(m, :he_normal; seed = 42)
    X = rand_uniform(:f32, 11, 5; low = -1, high = 1, seed = 7)
    before = Array(forward(m, X))
    path = joinpath(mktempdir(), "m.safetensors")
    save(m, path)
    m2 = load(path)
    @test Array(m2(X)) == before
    bytes = save_buffer(m)
    @test bytes == read(path)
    m3 = load_buffer(bytes)
    @test save_buffer(m3) == bytes
    @test_throws NNError load(joinpath(mktempdir(), "missing.safetensors"))
    e = try
        load_buffer(Vector{UInt8}("not a model"))
        nothing
    catch err
        err
    end
    @test e isa NNError && e.name == :format

    b = Model()
    l1 = linear(2, 1)
    set_param!(l1, :weight, Float32[2 -1])
    set_param!(l1, :bias, Float32[0.5])
    add!(b, l1)
    add!(b, activation(:relu))
    @test_throws NNError add!(b, linear(3, 1))
    @test num_layers(b) == 2
    @test NN.kind(layer(b, 1)) === :linear
    @test NN.kind(b[2]) === :activation
    x = Tensor(Float32[1 1; 0 3])
    @test Array(b(x)) == reshape(Float32[1.5, 0.0], 2, 1)
    @test Array(layer(b, 1)(x)) == reshape(Float32[1.5, -2.5], 2, 1)
    w = param(layer(b, 1), :weight)          # shares the layer's storage
    write!(w, Float32[9 9])
    @test Array(param(b[1], :weight)) == Float32[9 9]
    @test Array(grad(b[1], :weight)) == Float32[0 0]
    to_dtype!(b, :f64)
    @test dtype(b) === :f64
    @test device(b) == CPU
end


@testset "predict (nn_model_predict) and introspection" begin
    # y = relu(W x + b), W = [1 2; 3 -4; 0.5 0], b = [0.25, 0, -1]
    h = Model()
    l = linear(2, 3)
    set_param!(l, :weight, Float32[1 2; 3 -4; 0.5 0])
    set_param!(l, :bias, Float32[0.25, 0, -1])
    add!(h, l)
    add!(h, activation(:relu))
    @test predict(h, Float32[1 1; -2 0.5]) == Float32[3.25 0 0; 0 0 0]   # rows are samples
    @test predict(h, Float32[1, 1]) == Float32[3.25, 0, 0]
    @test size(predict(h, zeros(Float32, 0, 2))) == (0, 3)
    @test predict(h, view(Float32[9 1 1; 9 -2 0.5], :, 2:3)) == Float32[3.25 0 0; 0 0 0]

    # Bit for bit what forward gives, F32 and F64 models, every activation.
    for dt in (:f32, :f64), (k, act) in enumerate(NN.ACTIVATIONS)
        m = mlp([10, 40, 33, 5]; hidden = act, output = isodd(k) ? :identity : :softmax)
        init!(m, :xavier_uniform; seed = 7)
        to_dtype!(m, dt)
        for n in (1, 3, 64)
            X = Array(rand_uniform(:f32, n, 10; low = -2, high = 2, seed = n))
            want = Float32.(Array(forward(m, NN._input(m, X))))
            got = predict(m, X)
            @test got isa Matrix{Float32} && size(got) == (n, 5)
            @test reinterpret(UInt32, vec(got)) == reinterpret(UInt32, vec(want))
        end
    end

    # Tasks on several threads share one model.
    m = mlp([10, 40, 33, 5]; hidden = :tanh, output = :softmax)
    Xs = [Array(rand_uniform(:f32, 1 + 37 * t, 10; seed = 500 + t)) for t in 0:7]
    want = [predict(m, X) for X in Xs]
    ok = fetch.([Threads.@spawn all(predict(m, Xs[t]) == want[t] for _ in 1:20) for t in 1:8])
    @test all(ok)

    e = try
        predict(Model(), Float32[1 2])
        nothing
    catch err
        err
    end
    @test e isa NNError && e.name == :invalid_argument
    @test e.message == "nn_model_predict: the model has no Linear layer, so its input width is unknown"
    @test_throws DimensionMismatch predict(m, zeros(Float32, 2, 7))
    @test_throws DimensionMismatch predict(m, zeros(Float32, 9))

    @test (in_features(m), out_features(m)) == (10, 5)
    @test in_features(Model()) === nothing && out_features(Model()) === nothing
    @test activation(layer(h, 1)) === nothing
    @test activation(layer(h, 2)) === :relu
    @test [activation(activation(a)) for a in NN.ACTIVATIONS] == collect(NN.ACTIVATIONS)
end

include("data.jl")
include("comm.jl")
@testset "ONNX" begin
    m = mlp([5, 7, 3]; hidden = :leaky_relu, output = :softmax)
    init!(m, :he_normal; seed = 42)
    X = rand_uniform(:f32, 11, 5; low = -1, high = 1, seed = 7)
    path = joinpath(mktempdir(), "m.onnx")
    export_onnx(m, path)
    m2 = import_onnx(path)
    @test num_layers(m2) == num_layers(m)
    @test Array(m2(X)) == Array(m(X))
    fixtures = joinpath(@__DIR__, "..", "..", "..", "..", "tests", "fixtures", "onnx")
    e = try
        import_onnx(joinpath(fixtures, "torch_elu.onnx"))
        nothing
    catch err
        err
    end
    @test e isa NNError && e.name == :unsupported && occursin("(op Elu)", e.message)
end

end
