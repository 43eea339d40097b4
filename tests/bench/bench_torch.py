#!/usr/bin/env python3
"""PyTorch side of tests/bench/bench_cpu.c (issue 5): the same workloads,
printed as lines "key threads value" that bench_cpu --torch FILE merges into
its table. Medians of several repetitions after a warm-up.

    python3 tests/bench/bench_torch.py [--quick] [--threads 1,2]
"""
import argparse
import statistics
import time

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
    m = mlp([10, 40, 40, 5], torch.nn.Tanh)
    row = [0.1 * i for i in range(10)]

    def run():
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(calls):
                m(torch.tensor([row])).tolist()
        return (time.perf_counter() - t0) * 1e6 / calls
    return med(run, reps)


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
    m = mlp(sizes, torch.nn.ReLU)
    x = torch.rand(batch, sizes[0])

    def run():
        t0 = time.perf_counter()
        with torch.no_grad():
            m(x)
        return batch / (time.perf_counter() - t0)
    return med(run, reps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    reps = 1 if a.quick else 5
    for th in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(th)
        torch.manual_seed(0)
        out = [
            ("tiny_online_train", tiny_online(reps, 1 if a.quick else 5)),
            ("tiny_1-sample_infer", tiny_infer(reps, 100 if a.quick else 5000)),
            ("784-512-512-10_b128_train", train([784, 512, 512, 10], 128, 2 if a.quick else 16, reps)),
            ("784-2048-2048-10_b512_train", train([784, 2048, 2048, 10], 512, 1 if a.quick else 2, 1 if a.quick else 3)),
            ("784-2048-2048-10_b1024_infer", infer([784, 2048, 2048, 10], 1024, reps)),
        ]
        for key, v in out:
            print(f"{key} {th} {v:.6g}", flush=True)


if __name__ == "__main__":
    main()
