# Data files, row selection and metrics (nn.h group "data"); included from runtests.jl.
@testset "data files, rows, metrics" begin
    dir = mktempdir()
    p = joinpath(dir, "a.csv")
    write(p, "a,b\n1,2.5\n3,4\n")
    t = load_csv(p; skip_rows = 1, dtype = :f64)
    @test size(t) == (2, 2)
    @test Array(t) == [1.0 2.5; 3.0 4.0]
    write(p, "1,2\n3,zz\n")
    err = try load_csv(p); nothing catch e; e end
    @test err isa NNError && occursin("line 2, column 2", err.message)
    np = joinpath(dir, "a.npy")
    save_npy(t, np)
    @test Array(load_npy(np)) == [1.0 2.5; 3.0 4.0]
    s = slice_dim(t, 0, 1, 2)
    @test Array(s) == [3.0 4.0]
    @test Array(index_select(t, 0, [1, 0])) == [3.0 4.0; 1.0 2.5]
    @test size(concat([t, s], 0)) == (3, 2)
    pred = Tensor([2.5, 0.0, 2.0, 8.0]); y = Tensor([3.0, -0.5, 2.0, 7.0])
    @test metric(:mae, pred, y) ≈ 0.5
    @test metric(:r2, pred, y) ≈ 0.9486081370449679          # scikit-learn r2_score
    scores = Tensor(Float32[0.9 0.1; 0.2 0.8; 0.6 0.4]); ids = Tensor(Int64[0, 1, 1])
    @test metric(:accuracy, scores, ids) ≈ 2 / 3
    @test Array(confusion_matrix(scores, ids, 2)) == Int64[1 0; 1 1]
end
