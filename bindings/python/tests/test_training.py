"""Layers, models, losses, optimizers, fit/evaluate, callbacks, save/load."""

import math
import os
import tempfile
import time
import unittest

from helpers import nn, np, load_digits, flat

XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_Y = [0.0, 1.0, 1.0, 0.0]     # BCE needs float targets (as in C and PyTorch)


def xor_model():
    m = nn.Model.mlp([2, 8, 1], hidden="tanh", output="sigmoid")
    m.init("xavier_uniform", seed=3)
    return m


class TestLayers(unittest.TestCase):
    def test_linear_forward_matches_formula(self):
        layer = nn.Linear(3, 2)
        self.assertEqual(layer.kind, "linear")
        self.assertEqual(layer.weight.shape, (2, 3))
        self.assertEqual(layer.bias.shape, (2,))
        self.assertEqual((layer.in_features, layer.out_features), (3, 2))
        layer.weight.copy_([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])     # writes through
        layer.bias.copy_([0.5, -0.5])
        x = [[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]]
        want = [[sum(w * v for w, v in zip(wr, xr)) + b
                 for wr, b in zip([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], [0.5, -0.5])] for xr in x]
        self.assertEqual(layer(x).tolist(), want)
        self.assertEqual(layer.forward(nn.Tensor(x)).tolist(), want)
        self.assertIsNone(nn.Linear(2, 2, bias=False).bias)
        self.assertIn("bias=False", repr(nn.Linear(2, 2, bias=False)))

    def test_activation_layer(self):
        act = nn.Activation("relu")
        self.assertEqual(act.kind, "activation")
        self.assertEqual(act.activation, "relu")
        self.assertEqual(act([[-1.0, 2.0]]).tolist(), [[0.0, 2.0]])
        sm = nn.Activation("softmax")([[0.0, 0.0]])
        self.assertEqual(sm.tolist(), [[0.5, 0.5]])
        with self.assertRaises(nn.InvalidArgumentError):
            act.weight

    def test_model_from_layers(self):
        m = nn.Model([nn.Linear(2, 4), nn.Activation("relu"), nn.Linear(4, 1)])
        m.add("sigmoid")
        self.assertEqual(len(m), 4)
        self.assertEqual(m.num_params, 2 * 4 + 4 + 4 + 1)
        self.assertEqual([l.kind for l in m], ["linear", "activation", "linear", "activation"])
        self.assertEqual([l.activation for l in m.layers if l.kind == "activation"], ["relu", "sigmoid"])
        self.assertEqual(m[-1].activation, "sigmoid")
        self.assertIn("Linear(2, 4)", m.summary())
        self.assertEqual(str(m), m.summary())
        self.assertIn("4 layers", repr(m))
        with self.assertRaises(nn.ShapeError):
            m.add(nn.Linear(3, 1))          # 3 != 1 out_features
        layer = nn.Linear(1, 1)
        m.add(layer)
        with self.assertRaises(ValueError):
            nn.Model().add(layer)           # already owned by m
        self.assertIs(layer.model, m)
        empty = nn.Model.create()
        self.assertEqual(empty([[1.0, 2.0]]).tolist(), [[1.0, 2.0]])

    def test_model_properties(self):
        m = nn.Model.mlp([64, 64, 10], hidden="relu", output="identity")
        self.assertEqual(len(m), 3)
        self.assertEqual(m.num_params, 64 * 64 + 64 + 64 * 10 + 10)
        self.assertEqual(m.device, "cpu")
        self.assertEqual(m.dtype, nn.float32)
        self.assertIs(m.to("cpu"), m)
        m.init("zeros")
        self.assertEqual(set(flat(m.layers[0].weight.tolist())), {0.0})
        m.init("he_uniform", seed=0)
        w = m.layers[0].weight.tolist()
        bound = math.sqrt(6 / 64)
        self.assertTrue(all(abs(v) <= bound for v in flat(w)))
        m2 = nn.Model.mlp([64, 64, 10]).init("he_uniform", seed=0)
        self.assertEqual(m2.layers[0].weight.tolist(), w)       # seeded
        m.to_dtype("float64")
        self.assertEqual(m.dtype, nn.float64)
        self.assertEqual(m.layers[0].weight.dtype, nn.float64)
        self.assertEqual(m([[0.0] * 64]).dtype, nn.float64)
        with self.assertRaises(nn.DeviceError):
            m.to("cuda:99")


class TestLossesAndGradients(unittest.TestCase):
    def test_loss_values(self):
        p, y = [[1.0, 2.0], [3.0, 5.0]], [[1.0, 1.0], [1.0, 1.0]]
        self.assertAlmostEqual(nn.loss("mse", p, y), (0 + 1 + 4 + 16) / 4)
        self.assertAlmostEqual(nn.loss("sse", p, y), 21.0)
        self.assertAlmostEqual(nn.loss(nn.Loss.half_mse, p, y), 21.0 / 4)
        v, g = nn.loss("mse", p, y, grad=True)
        self.assertEqual(g.shape, (2, 2))
        self.assertEqual(g.tolist(), [[0.0, 0.5], [1.0, 2.0]])     # 2 (p - y) / 4
        logits = [[2.0, 0.0, -1.0]]
        lse = math.log(sum(math.exp(z) for z in logits[0]))
        self.assertAlmostEqual(nn.loss("cross_entropy", logits, [0]), lse - 2.0, places=6)
        self.assertAlmostEqual(nn.loss("cross_entropy", logits, [0.0]), lse - 2.0, places=6)  # ids -> int64
        with self.assertRaises(nn.InvalidArgumentError):
            nn.loss("cross_entropy", logits, [3])
        self.assertAlmostEqual(nn.loss("bce", [[0.5]], [[1.0]]), math.log(2), places=6)

    def test_backward_and_manual_step(self):
        m = nn.Model.mlp([2, 3, 1], hidden="tanh", output="identity")
        x, y = [[1.0, 2.0], [0.5, -1.0]], [[1.0], [0.0]]
        m.zero_grad()
        v = m.backward(x, y, "mse")
        self.assertAlmostEqual(v, nn.loss("mse", m(x), y), places=6)
        g1 = m.layers[0].grad("weight").tolist()
        self.assertEqual(len(g1), 3)
        self.assertNotEqual(set(flat(g1)), {0.0})
        m.backward(x, y, "mse")                         # accumulates
        g2 = m.layers[0].grad("weight").tolist()
        for a, b in zip(flat(g2), flat(g1)):
            self.assertAlmostEqual(a, 2 * b, places=5)
        opt = nn.SGD(m, lr=0.1)
        w0 = m.layers[0].weight.tolist()
        opt.step()
        w1 = m.layers[0].weight.tolist()
        for a, b, g in zip(flat(w1), flat(w0), flat(g2)):
            self.assertAlmostEqual(a, b - 0.1 * g, places=6)
        opt.zero_grad()
        self.assertEqual(set(flat(m.layers[0].grad().tolist())), {0.0})
        self.assertEqual(m.layers[0].grad("bias").shape, (3,))


class TestOptimizers(unittest.TestCase):
    def test_lr_and_schedule(self):
        m = nn.Model.mlp([2, 1])
        opt = nn.SGD(m, 0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
        self.assertAlmostEqual(opt.lr, 0.1)
        opt.lr = 0.2
        self.assertAlmostEqual(opt.lr, 0.2)
        self.assertIs(opt.step_lr(2, 0.5), opt)
        lrs = []
        for _ in range(5):
            opt.epoch_end()
            lrs.append(opt.lr)
        self.assertEqual([round(v, 10) for v in lrs], [0.2, 0.1, 0.1, 0.05, 0.05])
        with self.assertRaises(nn.InvalidArgumentError):
            opt.lr = -1
        with self.assertRaises(nn.InvalidArgumentError):
            nn.SGD(m, 0.1, nesterov=True)            # nesterov needs momentum
        self.assertAlmostEqual(nn.Adam(m).lr, 1e-3)
        self.assertAlmostEqual(nn.AdamW(m, lr=0.01).lr, 0.01)
        self.assertIn("lr=", repr(opt))

    def test_fit_schedule_reported(self):
        m = xor_model()
        opt = nn.SGD(m, 0.5).step_lr(1, 0.5)
        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=3, batch_size=0, loss="bce")
        self.assertEqual([r.lr for r in hist], [0.5, 0.25, 0.125])
        self.assertAlmostEqual(opt.lr, 0.0625)


class TestFit(unittest.TestCase):
    def test_xor(self):
        m = xor_model()
        opt = nn.Adam(m, lr=0.05)
        seen = []
        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=300, batch_size=0, loss="bce",
                     on_epoch=lambda r: seen.append(r.epoch))
        self.assertEqual(seen, list(range(300)))
        self.assertEqual(len(hist), 300)
        self.assertEqual(hist[-1].epochs, 300)
        self.assertLess(hist[-1].loss, hist[0].loss)
        self.assertTrue(math.isnan(hist[-1].val_loss))
        out = flat(m.predict(XOR_X).tolist() if np is not None else m.predict(XOR_X))
        self.assertEqual([1 if p > 0.5 else 0 for p in out], XOR_Y)     # 4/4 correct
        loss, acc = m.evaluate(XOR_X, XOR_Y, loss="bce")
        self.assertEqual(acc, 1.0)
        self.assertLess(loss, 0.05)

    def test_digits(self):
        (xtr, ytr), (xte, yte) = load_digits()
        if np is not None:   # the same data as NumPy arrays: floats and integer class ids
            xtr, ytr = np.array(xtr, dtype=np.float64), np.array(ytr)
            xte, yte = np.array(xte, dtype=np.float32), np.array(yte, dtype=np.int32)
        t0 = time.process_time()   # CPU time: wall time on a loaded machine says little
        m = nn.Model.mlp([64, 64, 10], hidden="relu", output="identity")
        m.init("he_uniform", seed=0)
        opt = nn.Adam(m, lr=3e-3)
        reports = []
        hist = m.fit(xtr, ytr, optimizer=opt, epochs=15, batch_size=32, loss="cross_entropy",
                     shuffle=True, seed=1, validation=(xte, yte), patience=0,
                     on_epoch=reports.append)
        elapsed = time.process_time() - t0
        self.assertEqual(len(hist), 15)
        self.assertEqual(hist[-1].val_accuracy, reports[-1].val_accuracy)
        loss, acc = m.evaluate(xte, yte, loss="cross_entropy")
        self.assertAlmostEqual(acc, hist[-1].val_accuracy)
        self.assertGreaterEqual(acc, 0.95, "test accuracy %.4f" % acc)
        self.assertLess(elapsed, 10.0, "fit took %.1f s of CPU" % elapsed)
        pred = m.predict(xte)
        if np is not None:
            self.assertIsInstance(pred, np.ndarray)
            self.assertEqual(pred.shape, (360, 10))
            self.assertAlmostEqual(float((pred.argmax(axis=1) == yte).mean()), acc)
        else:
            self.assertIsInstance(pred, list)
            right = sum(1 for row, c in zip(pred, yte) if row.index(max(row)) == c)
            self.assertAlmostEqual(right / len(yte), acc)
        # the argmax through the Tensor API agrees
        arg = m(xte).argmax(dim=1).tolist()
        self.assertAlmostEqual(sum(1 for a, c in zip(arg, list(yte)) if a == c) / 360, acc)

    def test_tensor_inputs_and_default_optimizer(self):
        x = nn.Tensor(XOR_X, dtype="float64")       # converted to the model's float32
        y = nn.Tensor(XOR_Y, dtype="float64")      # float64 targets: libnn converts them
        m = xor_model()
        hist = m.fit(x, y, epochs=2, batch_size=1, loss="bce")
        self.assertEqual(len(hist), 2)
        hist = m.fit(x, y, epochs=2, batch_size=None, shuffle=False, loss="bce",
                     validation=(x, y), patience=5)
        self.assertFalse(math.isnan(hist[-1].val_accuracy))

    def test_callback_exception_propagates(self):
        m = xor_model()
        opt = nn.Adam(m, lr=0.05)

        class Boom(Exception):
            pass

        def cb(r):
            if r.epoch == 2:
                raise Boom("stop at %d" % r.epoch)

        with self.assertRaises(Boom) as cm:
            m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=50, batch_size=0, loss="bce", on_epoch=cb)
        self.assertEqual(str(cm.exception), "stop at 2")
        self.assertNotIsInstance(cm.exception, nn.Error)
        # training stopped after that epoch: 3 schedule steps
        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=1, batch_size=0, loss="bce")
        self.assertEqual(len(hist), 1)

    def test_callback_stop_is_a_normal_return(self):
        """The cancel rule: a callback that stops training (True, or
        nn.StopTraining) makes fit return normally, the last report marked."""
        m = xor_model()
        opt = nn.Adam(m, lr=0.05)

        def stop(r):
            if r.epoch == 4:
                raise nn.StopTraining()

        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=50, batch_size=0, loss="bce", on_epoch=stop)
        self.assertEqual(len(hist), 5)
        self.assertEqual([r.cancelled for r in hist], [False] * 4 + [True])
        self.assertEqual(hist[-1].epoch, 4)
        self.assertEqual(hist[-1].epochs, 50)
        self.assertIn("cancelled=True", repr(hist[-1]))
        seen = []
        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=50, batch_size=0, loss="bce",
                     on_epoch=lambda r: seen.append(r.loss) or r.epoch == 1)
        self.assertEqual(len(hist), 2)
        self.assertTrue(hist[-1].cancelled)
        self.assertEqual([r.loss for r in hist], seen)
        # the model kept what it learned: training goes on from there
        w = m.layers[0].weight.tolist()
        hist = m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=2, batch_size=0, loss="bce")
        self.assertFalse(any(r.cancelled for r in hist))
        self.assertNotEqual(m.layers[0].weight.tolist(), w)

    def test_not_finite_rolls_back(self):
        m = nn.Model.mlp([1, 1])
        w0 = m.layers[0].weight.tolist()
        opt = nn.SGD(m, lr=1e30)
        with self.assertRaises(nn.NotFiniteError):
            m.fit([[1e3], [2e3]], [[1e3], [-1e3]], optimizer=opt, epochs=5, batch_size=1, loss="mse")
        w = flat(m.layers[0].weight.tolist())
        self.assertTrue(all(math.isfinite(v) for v in w))
        self.assertEqual(flat(w0), w)

    def test_fit_argument_errors(self):
        m = xor_model()
        other = nn.Adam(xor_model())
        with self.assertRaises(nn.InvalidArgumentError):
            m.fit(XOR_X, XOR_Y, optimizer=other, epochs=1, loss="bce")
        with self.assertRaises(nn.InvalidArgumentError):
            m.fit(XOR_X, XOR_Y, epochs=0, loss="bce")
        with self.assertRaises(nn.ShapeError):
            m.fit([[1.0, 2.0, 3.0]], [1.0], epochs=1, loss="bce")
        with self.assertRaises(TypeError):
            m.fit(XOR_X, XOR_Y, optimizer="adam")


class TestPersistence(unittest.TestCase):
    def test_save_load_round_trip(self):
        (xtr, ytr), (xte, _) = load_digits()
        m = nn.Model.mlp([64, 16, 10], hidden="relu", output="softmax")
        m.init("he_normal", seed=5)
        m.fit(xtr[:200], ytr[:200], epochs=2, loss="cross_entropy")
        before = m(xte).tolist()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            m.save(path)
            self.assertEqual(os.listdir(d), ["m.safetensors"])           # no temporary left
            m2 = nn.Model.load(path)
            self.assertEqual(m2(xte).tolist(), before)                   # identical predictions
            self.assertEqual(m2.summary(), m.summary())
            self.assertEqual([l.activation for l in m2 if l.kind == "activation"],
                             ["relu", "softmax"])
            with open(path, "rb") as f:
                self.assertEqual(f.read(), m.save_bytes())
            m3 = nn.Model.load(os.fsencode(path), device="cpu")       # bytes paths too
            self.assertEqual(m3.num_params, m.num_params)
        blob = m.save_bytes()
        self.assertIsInstance(blob, bytes)
        m4 = nn.Model.load_bytes(blob)
        self.assertEqual(m4(xte).tolist(), before)
        self.assertEqual(m4.save_bytes(), blob)                          # bit-identical
        m4.to_dtype("float64")
        m5 = nn.Model.load_bytes(m4.save_bytes())
        self.assertEqual(m5.dtype, nn.float64)


if __name__ == "__main__":
    unittest.main()
