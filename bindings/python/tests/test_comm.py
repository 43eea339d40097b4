"""nn.Comm in one process (a group of one, MPI initialised by libnn), and
the missing-module error. The multi-process cases run under mpirun:
bindings/python/tests/mpi_comm_run.py (CTest python_binding_mpi)."""

import math
import unittest

from helpers import nn


def _comm_or_reason():
    try:
        return nn.Comm(), None
    except nn.UnsupportedError as e:
        return None, e


class TestComm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.comm, cls.reason = _comm_or_reason()

    @classmethod
    def tearDownClass(cls):
        if cls.comm is not None:
            cls.comm.close()

    def need(self):
        if self.comm is None:
            self.assertIn("libnn_mpi.so", self.reason.message)   # says what is missing
            self.skipTest("no MPI module: %s" % self.reason.message)

    def test_group_of_one(self):
        self.need()
        self.assertEqual((self.comm.rank, self.comm.size), (0, 1))
        self.assertEqual(repr(self.comm), "nn.Comm(rank=0, size=1)")
        t = nn.Tensor([[1.5, -2.0], [3.0, 4.0]])
        for op in ("sum", "mean", "max", "min"):
            self.assertEqual(self.comm.allreduce(t, op).tolist(), [[1.5, -2.0], [3.0, 4.0]])
        self.assertEqual(self.comm.broadcast(nn.Tensor([1, 2, 3], dtype="int32"), 0).tolist(), [1, 2, 3])

    def test_errors_carry_status_and_message(self):
        self.need()
        t = nn.Tensor([1, 2], dtype="int64")
        with self.assertRaises(nn.DTypeError) as cm:
            self.comm.allreduce(t, "mean")
        self.assertIn("nn_comm_allreduce: MEAN needs a floating dtype", str(cm.exception))
        with self.assertRaises(nn.InvalidArgumentError) as cm:
            self.comm.broadcast(t, root=1)
        self.assertIn("root is 1; the group's ranks are 0..0", str(cm.exception))
        with self.assertRaises(ValueError):
            self.comm.allreduce(t, "argmin")
        with self.assertRaises(TypeError):
            nn.Comm("world")

    def test_fit_with_a_group_of_one_equals_fit_alone(self):
        self.need()
        x = [[math.sin(i + j) for j in range(3)] for i in range(12)]
        y = [[math.cos(i)] for i in range(12)]
        out = []
        for comm in (None, self.comm):
            m = nn.Model.mlp([3, 5, 1], hidden="tanh", output="identity")
            m.init("xavier_uniform", seed=4)
            h = m.fit(x, y, optimizer=nn.SGD(m, lr=0.1, momentum=0.9), epochs=3, batch_size=4,
                      shuffle=False, comm=comm)
            p = m.predict(x)     # a NumPy array where NumPy is installed, else lists
            out.append((p.tolist() if hasattr(p, "tolist") else p, h[-1].loss))
        self.assertEqual(out[0], out[1])

    def test_mpi4py_communicator(self):
        self.need()
        try:
            from mpi4py import MPI
        except ImportError:
            self.skipTest("mpi4py is not installed")
        with nn.Comm(MPI.COMM_SELF) as c:
            self.assertEqual((c.rank, c.size), (0, 1))
            self.assertEqual(c.allreduce(nn.Tensor([2.0]), "sum").tolist(), [2.0])


if __name__ == "__main__":
    unittest.main()
