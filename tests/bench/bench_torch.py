#!/usr/bin/env python3
"""PyTorch side of tests/bench/bench_cpu.c (issues 5 and 15): the same
workloads with the same thread counts (torch.set_num_threads), printed as
lines "key threads value" that bench_cpu --torch FILE merges into its table;
lines starting with '#' are notes it prints under the table. Medians of
several repetitions after a warm-up. scripts/bench.sh runs it with the venv's
python (PyTorch 2.x from PyPI: MKL and oneDNN).

    python tests/bench/bench_torch.py [--quick] [--threads 1,2]
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import torch


def mlp(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(act())
    return torch.nn.Sequential(*layers)


def med(f, reps):
    f()  # warm-up
    return statistics.median(f() for _ in range(reps))


def tiny_online(reps, epochs):
    m = mlp([10, 40, 40, 5], torch.nn.Tanh)
    x, y = torch.rand(100, 10) * 2 - 1, torch.rand(100, 5) * 2 - 1
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()

    def run():
        t0 = time.perf_counter()
        for _ in range(epochs):
            for i in range(100):
                opt.zero_grad()
                loss_fn(m(x[i:i + 1]), y[i:i + 1]).backward()
                opt.step()
        return (time.perf_counter() - t0) * 1e6 / (100 * epochs)
    return med(run, reps)


def tiny_infer(reps, calls):
    """One row of host floats in, one row out: the eager module and a frozen
    TorchScript module, both under torch.inference_mode, the input a
    zero-copy view of a numpy row (as nn_model_predict reads caller memory).
    Returns (us/call of the faster, its name, the other's us/call)."""
    m = mlp([10, 40, 40, 5], torch.nn.Tanh).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated in favour of torch.export/compile
        frozen = torch.jit.freeze(torch.jit.script(m))
    row = np.random.default_rng(0).uniform(-1, 1, (1, 10)).astype(np.float32)
    x = torch.from_numpy(row)

    def timer(f):
        def run():
            with torch.inference_mode():
                t0 = time.perf_counter()
                for i in range(calls):
                    out = f(x).numpy()
                    row[0, i % 10] += out[0, 0] * 1e-9
                return (time.perf_counter() - t0) * 1e6 / calls
        return run
    eager, script = timer(m), timer(frozen)
    script()  # TorchScript's profiling executor optimises after the first runs
    te, ts = [], []
    for _ in range(reps + 1):  # alternate the two, first round a warm-up
        te.append(eager())
        ts.append(script())
    te, ts = statistics.median(te[1:]), statistics.median(ts[1:])
    if ts <= te:
        return ts, "frozen TorchScript (torch.jit.freeze)", te
    return te, "eager module", ts


def train(sizes, batch, steps, reps):
    m = mlp(sizes, torch.nn.ReLU)
    n = batch * steps
    x, y = torch.rand(n, sizes[0]) * 2 - 1, torch.rand(n, sizes[-1]) * 2 - 1
    opt = torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9)
    loss_fn = torch.nn.MSELoss()

    def run():
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for b in range(steps):
            idx = perm[b * batch:(b + 1) * batch]
            opt.zero_grad()
            loss_fn(m(x[idx]), y[idx]).backward()
            opt.step()
        return n / (time.perf_counter() - t0)
    return med(run, reps)


def infer(sizes, batch, reps):
    m = mlp(sizes, torch.nn.ReLU).eval()
    x = torch.rand(batch, sizes[0])

    def run():
        with torch.inference_mode():
            t0 = time.perf_counter()
            m(x)
            return batch / (time.perf_counter() - t0)
    return med(run, reps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    q = a.quick
    reps = 1 if q else 5
    torch.set_num_interop_threads(1)
    cfg = torch.__config__.show()
    libs = [w for w in ("MKL", "MKL-DNN", "OpenBLAS") if w in cfg]
    print(f"# torch {torch.__version__} ({', '.join(libs) or 'no MKL/oneDNN'}), "
          f"threads set with torch.set_num_threads", flush=True)
    route_notes = []
    for th in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(th)
        torch.manual_seed(0)
        us, route, other = tiny_infer(reps, 200 if q else 20000)
        route_notes.append(f"{th}T {route} {us:.3g} us (the other {other:.3g} us)")
        out = [
            ("tiny_online_train", tiny_online(reps, 1 if q else 5)),
            ("tiny_1-sample_infer", us),
            ("784-512-512-10_b128_train", train([784, 512, 512, 10], 128, 2 if q else 16, reps)),
            ("784-2048-2048-10_b512_train", train([784, 2048, 2048, 10], 512, 1 if q else 2, 1 if q else 3)),
            ("784-2048-2048-10_b1024_infer", infer([784, 2048, 2048, 10], 1024, reps)),
        ]
        for h in (256, 1024, 4096):
            steps = (1 if q else 2) if h >= 4096 else (2 if q else 8)
            out.append((f"784-{h}-{h}-10_b256_train", train([784, h, h, 10], 256, steps, 1 if q else 3)))
        for key, v in out:
            print(f"{key} {th} {v:.6g}", flush=True)
    print("# tiny 1-sample inference, the faster of the eager module and frozen TorchScript, both under "
          f"torch.inference_mode: {'; '.join(route_notes)}", flush=True)


if __name__ == "__main__":
    main()
