# nn_comm from Julia in one process (a group of one; libnn initialises MPI),
# or the missing-module error. Included from runtests.jl. Untested here (no
# Julia on the machine that wrote it).
@testset "process groups (Comm)" begin
    c = try
        Comm()
    catch err
        err
    end
    if c isa NNError
        @test c.name === :unsupported
        @test occursin("libnn_mpi.so", c.message)
    else
        @test (comm_rank(c), comm_size(c)) == (0, 1)
        t = Tensor(Float32[1.5 -2.0; 3.0 4.0])
        @test Array(allreduce!(c, t, :sum)) == Float32[1.5 -2.0; 3.0 4.0]
        @test Array(broadcast!(c, t, 0)) == Float32[1.5 -2.0; 3.0 4.0]
        e = try
            allreduce!(c, Tensor(Int64[1, 2]), :mean)
            nothing
        catch err
            err
        end
        @test e isa NNError && e.name === :dtype && occursin("MEAN needs a floating dtype", e.message)
        x = Float32[0.1 0.5; -0.3 0.8; 0.9 -0.7; 0.2 0.4]
        y = reshape(Float32[1, 0, 1, 0], 4, 1)
        losses = map((nothing, c)) do cm
            m = mlp([2, 3, 1]; hidden = :tanh, output = :sigmoid)
            init!(m, :xavier_uniform; seed = 2)
            opt = SGD(m; lr = 0.5, momentum = 0.9)
            fit!(m, opt, x, y; epochs = 5, batch_size = 2, shuffle = false, loss = :bce, comm = cm).loss
        end
        @test losses[1] == losses[2]
        close(c)
    end
end
