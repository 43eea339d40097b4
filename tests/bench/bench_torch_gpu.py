#!/usr/bin/env python3
"""PyTorch side of tests/bench/bench_gpu.c (issue 6): the same workloads on
the same GPU (cuda:0), FP32 with TF32 off (libnn's default), timed with CUDA
events after a warm-up, medians of several repetitions. Prints lines
"key value" that bench_gpu --torch FILE merges into its table (units as
there: us/sample, us/call, samples/s).

    python3 tests/bench/bench_torch_gpu.py [--quick]

Training mirrors nn_model_fit: the data set on the GPU, a shuffled order per
epoch, batches gathered on the GPU, SGD (momentum 0.9 for the big nets), MSE,
the epoch's mean loss read once at the end of the epoch.
"""
import argparse
import statistics
import sys

import torch


def mlp(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(act())
    return torch.nn.Sequential(*layers).cuda()


def timed(f):
    """Milliseconds of f() between two CUDA events."""
    a = torch.cuda.Event(enable_timing=True)
    b = torch.cuda.Event(enable_timing=True)
    a.record()
    f()
    b.record()
    b.synchronize()
    return a.elapsed_time(b)


def med(f, reps):
    f()  # warm-up
    f()
    return statistics.median(f() for _ in range(reps))


def tiny_online(reps, epochs):
    m = mlp([10, 40, 40, 5], torch.nn.Tanh)
    x = torch.rand(100, 10, device="cuda") * 2 - 1
    y = torch.rand(100, 5, device="cuda") * 2 - 1
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()

    def epoch_loop():
        for _ in range(epochs):
            total = torch.zeros((), device="cuda")
            for i in range(100):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(m(x[i:i + 1]), y[i:i + 1])
                loss.backward()
                opt.step()
                total += loss.detach()
            total.item()

    return med(lambda: timed(epoch_loop) * 1e3 / (100 * epochs), reps)


def tiny_infer(reps, calls):
    m = mlp([10, 40, 40, 5], torch.nn.Tanh)
    row = [[0.1 * i for i in range(10)]]

    def run():
        with torch.no_grad():
            for _ in range(calls):
                m(torch.tensor(row, device="cuda")).tolist()

    return med(lambda: timed(run) * 1e3 / calls, reps)


def train(sizes, batch, steps, reps):
    m = mlp(sizes, torch.nn.ReLU)
    n = batch * steps
    x = torch.rand(n, sizes[0], device="cuda") * 2 - 1
    y = torch.rand(n, sizes[-1], device="cuda") * 2 - 1
    opt = torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9)
    loss_fn = torch.nn.MSELoss()

    def epoch():
        perm = torch.randperm(n, device="cuda")
        total = torch.zeros((), device="cuda")
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.detach()
        (total / steps).item()

    return med(lambda: n / (timed(epoch) * 1e-3), reps)


def infer(sizes, batch, reps, calls):
    m = mlp(sizes, torch.nn.ReLU)
    x = torch.rand(batch, sizes[0], device="cuda") * 2 - 1

    def run():
        with torch.no_grad():
            for i in range(calls):
                y = m(x)
            y.cpu()

    return med(lambda: batch * calls / (timed(run) * 1e-3), reps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_torch_gpu: torch sees no CUDA device", file=sys.stderr)
        return 0
    # FP32 everywhere, no TF32 (libnn's default): the comparison is like for like.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    reps = 3 if a.quick else 7
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name(0)}", file=sys.stderr)
    print("tiny_online %.6g" % tiny_online(reps, 2 if a.quick else 10), flush=True)
    print("tiny_infer %.6g" % tiny_infer(reps, 200 if a.quick else 5000), flush=True)
    big = [
        ("train_512_b32", [784, 512, 512, 10], 32, 200, True),
        ("train_512_b128", [784, 512, 512, 10], 128, 100, True),
        ("train_2048_b512", [784, 2048, 2048, 10], 512, 40, True),
        ("infer_2048_b1024", [784, 2048, 2048, 10], 1024, 0, False),
        ("train_4096_b4096", [784, 4096, 4096, 10], 4096, 10, True),
        ("infer_4096_b4096", [784, 4096, 4096, 10], 4096, 0, False),
    ]
    for key, sizes, batch, steps, is_train in big:
        if is_train:
            v = train(sizes, batch, min(steps, 4) if a.quick else steps, reps)
        else:
            v = infer(sizes, batch, reps, 3 if a.quick else 20)
        print("%s %.6g" % (key, v), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
