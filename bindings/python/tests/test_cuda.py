"""The binding on a GPU: the same calls with device="cuda:0" give the CPU's
results. Without a usable GPU every case is skipped, and the skip message
gives libnn's reason (no libnn_cuda.so, no driver, or no GPU)."""

import os
import tempfile
import unittest

from helpers import nn, flat


def _unavailable():
    try:
        nn.Tensor.zeros((1,), device="cuda:0")
        return None
    except nn.DeviceError as e:
        return str(e)


REASON = _unavailable()


def _trained(device, epochs=40):
    """A seeded 4-16-3 tanh net fitted on fixed data on `device`."""
    x = [[((i * 7 + j * 3) % 11) / 11.0 - 0.5 for j in range(4)] for i in range(48)]
    y = [(i * 5) % 3 for i in range(48)]
    m = nn.Model.mlp([4, 16, 3], hidden="tanh", output="identity")
    m.init("xavier_uniform", seed=11)
    m.to(device)
    opt = nn.SGD(m, 0.1, momentum=0.9)
    hist = m.fit(x, y, optimizer=opt, epochs=epochs, batch_size=8, loss="cross_entropy", seed=5)
    return m, hist, x


def _close(a, b, rtol):
    return all(abs(p - q) <= rtol * max(abs(p), abs(q)) + rtol * 1e-2 for p, q in zip(a, b))


@unittest.skipIf(REASON is not None, "no CUDA device: %s" % REASON)
class TestCuda(unittest.TestCase):
    def test_tensor_round_trip(self):
        t = nn.Tensor([[1.5, -2.0], [0.25, 8.0]], device="cuda:0")
        self.assertEqual(t.device, "cuda:0")
        self.assertEqual((t * 2).tolist(), [[3.0, -4.0], [0.5, 16.0]])
        self.assertEqual(t.to(device="cpu").device, "cpu")
        self.assertIn("device='cuda:0'", str(t))

    def test_fit_matches_cpu(self):
        mc, hc, x = _trained("cpu")
        mg, hg, _ = _trained("cuda:0")
        self.assertEqual(mg.device, "cuda:0")
        for lc, lg in zip(mc.layers, mg.layers):
            if lc.kind != "linear":
                continue
            self.assertTrue(_close(flat(lc.weight.tolist()), flat(lg.weight.tolist()), 1e-4))
            self.assertTrue(_close(lc.bias.tolist(), lg.bias.tolist(), 1e-4))
        self.assertTrue(_close([hc[-1].loss], [hg[-1].loss], 1e-4))
        self.assertTrue(_close(flat(mc(x).tolist()), flat(mg(x).tolist()), 1e-4))

    def test_save_load_onto_gpu(self):
        m, _, x = _trained("cuda:0", epochs=3)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            m.save(path)
            back = nn.Model.load(path, device="cuda:0")
            self.assertEqual(back.device, "cuda:0")
            self.assertEqual(back(x).tolist(), m(x).tolist())


if __name__ == "__main__":
    unittest.main()
