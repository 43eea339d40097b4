"""nn.Comm across processes: run with `mpirun -np 2 python3 mpi_comm_run.py`
(CTest python_binding_mpi). Exits 1 on the first failure, printing it.

- allreduce (sum, mean, max, min) and broadcast against a local reference;
- broadcast_model: every rank ends with root's parameters;
- data-parallel Model.fit: 2 ranks, rank r holding rows [r*b, (r+1)*b) of
  every global batch, give the single process's weights (batch 2b) within 1e-5;
- an mpi4py communicator (where mpi4py is installed) is accepted.
"""

import math
import sys

from helpers import nn


def fail(msg):
    print("mpi_comm_run: rank %d: FAIL: %s" % (RANK, msg), flush=True)
    sys.exit(1)


comm = nn.Comm()
RANK, SIZE = comm.rank, comm.size
if SIZE < 2:
    fail("run me with mpirun -np 2 (size is %d)" % SIZE)

# allreduce / broadcast
vals = [float((i * 7 + RANK * 3) % 11 - 5) for i in range(6)]
allv = [[float((i * 7 + r * 3) % 11 - 5) for i in range(6)] for r in range(SIZE)]
for op, f in (("sum", sum), ("mean", lambda v: sum(v) / SIZE), ("max", max), ("min", min)):
    got = comm.allreduce(nn.Tensor(vals, dtype="float64"), op).tolist()
    want = [f([allv[r][i] for r in range(SIZE)]) for i in range(6)]
    if got != want:
        fail("allreduce %s: %s, expected %s" % (op, got, want))
got = comm.broadcast(nn.Tensor(vals, dtype="int32"), root=SIZE - 1).tolist()
if got != [int(v) for v in allv[SIZE - 1]]:
    fail("broadcast: %s" % got)


def values(m):
    p = m.predict([[0.1 * i, -0.2 * i, 0.3] for i in range(4)])
    return p.tolist() if hasattr(p, "tolist") else p    # NumPy array or lists


m = nn.Model.mlp([3, 4, 2], hidden="tanh", output="identity")
m.init("xavier_uniform", seed=10 + RANK)
comm.broadcast_model(m, root=0)
ref = nn.Model.mlp([3, 4, 2], hidden="tanh", output="identity")
ref.init("xavier_uniform", seed=10)
if values(m) != values(ref):
    fail("broadcast_model: rank %d does not hold rank 0's parameters" % RANK)

# data-parallel fit against one process
B, K = 4, 5
def row(g):
    return [math.sin(0.3 * g + j) for j in range(3)], [math.tanh(0.5 * math.cos(g)), math.sin(g) * 0.5]
rows = [k * SIZE * B + RANK * B + j for k in range(K) for j in range(B)]
x = [row(g)[0] for g in rows]
y = [row(g)[1] for g in rows]
ax = [row(g)[0] for g in range(SIZE * B * K)]
ay = [row(g)[1] for g in range(SIZE * B * K)]
fits = []
for shard, (xx, yy, bs, c) in enumerate(((x, y, B, comm), (ax, ay, SIZE * B, None))):
    mm = nn.Model.mlp([3, 6, 2], hidden="tanh", output="identity")
    mm.init("xavier_uniform", seed=3 + (RANK if c is not None else 0))
    mm.to_dtype("float64")
    hist = mm.fit(xx, yy, optimizer=nn.SGD(mm, lr=0.05, momentum=0.9), epochs=20, batch_size=bs,
                  shuffle=False, comm=c)
    fits.append((values(mm), hist[-1].loss))
(p1, l1), (p2, l2) = fits
for a, b in zip(sum(p1, []), sum(p2, [])):
    if abs(a - b) > 1e-5 * max(abs(b), 1e-3):
        fail("fit with comm: %r vs single process %r" % (p1, p2))
if abs(l1 - l2) > 1e-5 * abs(l2):
    fail("fit with comm: last epoch loss %r vs %r" % (l1, l2))

# mpi4py communicator
try:
    from mpi4py import MPI
except ImportError:
    MPI = None
if MPI is not None:
    sub = MPI.COMM_WORLD.Split(color=0, key=SIZE - 1 - RANK)   # ranks reversed
    with nn.Comm(sub) as c2:
        if (c2.rank, c2.size) != (SIZE - 1 - RANK, SIZE):
            fail("mpi4py communicator: rank %d size %d" % (c2.rank, c2.size))
        t = c2.allreduce(nn.Tensor([float(RANK)]), "sum").tolist()
        if t != [float(sum(range(SIZE)))]:
            fail("mpi4py allreduce: %s" % t)
    sub.Free()
    print("mpi_comm_run: rank %d: mpi4py communicator accepted" % RANK, flush=True)
else:
    print("mpi_comm_run: rank %d: mpi4py not installed, that case skipped" % RANK, flush=True)

comm.close()
print("mpi_comm_run: rank %d of %d: all passed" % (RANK, SIZE), flush=True)
