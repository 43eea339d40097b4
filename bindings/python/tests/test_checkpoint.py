"""Checkpoints and exact resume, Optimizer.epoch, load_weights (PyTorch files),
metadata and export_c through the Python binding."""

import os
import random
import tempfile
import unittest

from helpers import nn, REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures")


def data():
    rng = random.Random(4)
    x = [[rng.uniform(-1, 1) for _ in range(4)] for _ in range(29)]
    y = [[sum(r) * 0.5, r[0] - r[1]] for r in x]
    return x, y


def fresh():
    m = nn.Model.mlp([4, 6, 2], hidden="tanh", output="identity")
    m.init("torch_default", seed=3)
    opt = nn.AdamW(m, lr=0.01).step_lr(2, 0.5)
    return m, opt


class TestCheckpoint(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_resume_is_exact(self):
        x, y = data()
        ref, ref_opt = fresh()
        ref.fit(x, y, optimizer=ref_opt, epochs=5, batch_size=8, seed=9)
        self.assertEqual(ref_opt.epoch, 5)
        m, opt = fresh()
        m.set_metadata("run", "resume")
        m.fit(x, y, optimizer=opt, epochs=2, batch_size=8, seed=9)
        nn.save_checkpoint(m, opt, self.path("a.ckpt"))
        opt.close()
        m.close()
        m2, opt2 = nn.load_checkpoint(self.path("a.ckpt"))
        self.assertEqual(opt2.epoch, 2)
        self.assertEqual(opt2.lr, 0.005)
        self.assertEqual(m2.get_metadata("run"), "resume")
        m2.fit(x, y, optimizer=opt2, epochs=3, batch_size=8, seed=9)
        self.assertEqual(opt2.lr, ref_opt.lr)
        m2.set_metadata("run", None)
        self.assertEqual(m2.save_bytes(), ref.save_bytes())  # every weight, bit for bit
        nn.save_checkpoint(m2, opt2, self.path("b.ckpt"))
        nn.save_checkpoint(ref, ref_opt, self.path("ref.ckpt"))
        with open(self.path("b.ckpt"), "rb") as f1, open(self.path("ref.ckpt"), "rb") as f2:
            self.assertEqual(f1.read(), f2.read())      # and the optimizer state
        # A checkpoint is a plain model for Model.load.
        self.assertEqual(nn.Model.load(self.path("ref.ckpt")).save_bytes(), ref.save_bytes())

    def test_not_a_checkpoint(self):
        m, _ = fresh()
        m.save(self.path("plain.st"))
        with self.assertRaises(nn.FormatError) as cm:
            nn.load_checkpoint(self.path("plain.st"))
        self.assertIn("nn.optimizer", str(cm.exception))


class TestLoadWeights(unittest.TestCase):
    def test_pytorch_state_dict(self):
        m = nn.Model([nn.Linear(3, 4), nn.Activation("relu"), nn.Linear(4, 2)])
        m.load_weights(os.path.join(FIXTURES, "torch_state_dict.safetensors"))
        y = nn.Tensor(m.predict([[0.5, -1.0, 2.0]])).tolist()[0]
        # PyTorch's output (tests/fixtures/load_weights_fixtures.h)
        self.assertAlmostEqual(y[0], 0.6650627661200375, places=6)
        self.assertAlmostEqual(y[1], -0.007934504699775857, places=6)

    def test_mismatch_names_tensors(self):
        m = nn.Model([nn.Linear(3, 5), nn.Activation("relu"), nn.Linear(5, 2)])
        with self.assertRaises(nn.FormatError) as cm:
            m.load_weights(os.path.join(FIXTURES, "torch_state_dict.safetensors"))
        self.assertIn('"0.weight" is [4, 3] in the file but [5, 3] in the model', str(cm.exception))


class TestMetadata(unittest.TestCase):
    def test_round_trip_and_limits(self):
        m, _ = fresh()
        self.assertIsNone(m.get_metadata("absent"))
        self.assertEqual(m.get_metadata("absent", "x"), "x")
        m.set_metadata("features", "a,b,c,d")
        m.set_metadata("unicode", "café €")
        m.set_metadata("empty", "")
        back = nn.Model.load_bytes(m.save_bytes())
        self.assertEqual(back.get_metadata("features"), "a,b,c,d")
        self.assertEqual(back.get_metadata("unicode"), "café €")
        self.assertEqual(back.get_metadata("empty"), "")
        self.assertEqual(back.metadata, {"empty": "", "features": "a,b,c,d", "unicode": "café €"})
        with self.assertRaises(nn.InvalidArgumentError) as cm:
            m.set_metadata("nn.architecture", "[]")
        self.assertIn("reserved", str(cm.exception))
        with self.assertRaises(nn.InvalidArgumentError):
            m.set_metadata("v", "x" * 65537)


class TestExportC(unittest.TestCase):
    def test_writes_c(self):
        m, _ = fresh()
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "net.c")
            m.export_c(p, prefix="net")
            with open(p) as f:
                text = f.read()
        self.assertIn("#define NET_IN_FEATURES 4", text)
        self.assertIn("void net_predict(const float *x, float *y)", text)
        with self.assertRaises(nn.InvalidArgumentError):
            m.export_c(os.path.join(tempfile.gettempdir(), "x.c"), prefix="1bad")


if __name__ == "__main__":
    unittest.main()
