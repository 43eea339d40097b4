"""Handles are freed when objects die or leave a with-block; children keep parents alive."""

import gc
import unittest
import weakref

from helpers import nn

XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_Y = [0.0, 1.0, 1.0, 0.0]     # BCE needs float targets


def live():
    gc.collect()
    return nn.live_handles()


class TestLifetime(unittest.TestCase):
    def test_no_leaks_in_loops(self):
        before = live()
        for i in range(200):
            t = nn.Tensor([[1.0, 2.0], [3.0, 4.0]])
            u = (t @ t.T + 1).relu().sum(dim=0)
            _ = repr(u), t.T.tolist(), t.to("bfloat16").tolist(), (2 - t).mean().item()
            _ = nn.Tensor([1, 2], dtype="float16"), nn.lstsq(t, [1.0, 2.0])
            layer = nn.Linear(2, 2)
            _ = layer.weight, layer.bias, layer.grad("bias"), layer(t)
            if i % 20 == 0:
                m = nn.Model.mlp([2, 4, 1], hidden="tanh", output="sigmoid")
                opt = nn.SGD(m, 0.1)
                m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=2, batch_size=2, loss="bce",
                      validation=(XOR_X, XOR_Y), on_epoch=lambda r: None)
                m.evaluate(XOR_X, XOR_Y, "bce")
                _ = [l.weight for l in m.layers if l.kind == "linear"], m.summary()
                m.backward(XOR_X, XOR_Y, "bce")
                _ = nn.loss("bce", m(XOR_X), XOR_Y, grad=True)
                m2 = nn.Model.load_bytes(m.save_bytes())
                m2.add(nn.Activation("relu"))
                try:
                    nn.zeros((2,)) + nn.zeros((3,))
                except nn.ShapeError:
                    pass
                try:   # an exception in the callback must not leak the fit's tensors
                    m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=3, loss="bce",
                          on_epoch=lambda r: 1 / 0)
                except ZeroDivisionError:
                    pass
        del t, u, layer, m, opt, m2, _
        self.assertEqual(live(), before)

    def test_counts_move_with_objects(self):
        before = live()
        t = nn.zeros((3,))
        self.assertEqual(live()["tensor"], before["tensor"] + 1)
        del t
        self.assertEqual(live(), before)
        layer = nn.Linear(2, 2)
        self.assertEqual(live()["layer"], before["layer"] + 1)
        m = nn.Model().add(layer)           # the model owns it now
        self.assertEqual(live()["layer"], before["layer"])
        del layer, m
        self.assertEqual(live(), before)

    def test_context_managers(self):
        before = live()
        with nn.Model.mlp([2, 3, 1]) as m, nn.Adam(m) as opt, nn.zeros((2,)) as t:
            self.assertEqual(live()["model"], before["model"] + 1)
            m.fit(XOR_X, XOR_Y, optimizer=opt, epochs=1)
            self.assertEqual(t.shape, (2,))
        self.assertEqual(nn.live_handles(), before)       # freed at once, no gc needed
        with self.assertRaises(ValueError):
            m.num_params
        with self.assertRaises(ValueError):
            opt.lr
        with nn.Linear(2, 2) as layer:
            pass
        with self.assertRaises(ValueError):
            layer.weight
        self.assertEqual(live(), before)

    def test_optimizer_keeps_model_alive(self):
        m = nn.Model.mlp([2, 3, 1], hidden="tanh", output="sigmoid")
        ref = weakref.ref(m)
        opt = nn.Adam(m, lr=0.05)
        del m
        gc.collect()
        self.assertIsNotNone(ref())
        opt.model.fit(XOR_X, XOR_Y, optimizer=opt, epochs=3, batch_size=0, loss="bce")
        opt.step()
        del opt
        gc.collect()
        self.assertIsNone(ref())

    def test_layer_keeps_model_alive(self):
        m = nn.Model.mlp([2, 3, 1])
        ref = weakref.ref(m)
        layer = m.layers[2]
        w = layer.weight
        del m
        gc.collect()
        self.assertIsNotNone(ref())
        self.assertEqual(layer.weight.shape, (1, 3))
        del layer
        gc.collect()
        self.assertIsNone(ref())
        self.assertEqual(w.shape, (1, 3))          # a parameter handle keeps its storage

    def test_closing_model_closes_its_optimizers(self):
        before = live()
        m = nn.Model.mlp([2, 1])
        opt = nn.SGD(m, 0.1)
        m.close()
        with self.assertRaises(ValueError):
            opt.step()
        self.assertEqual(nn.live_handles(), before)

    def test_weight_view_sees_training(self):
        m = nn.Model.mlp([2, 3, 1], hidden="tanh", output="sigmoid")
        w = m.layers[0].weight
        before = w.tolist()
        m.fit(XOR_X, XOR_Y, optimizer=nn.Adam(m, lr=0.05), epochs=5, loss="bce")
        self.assertNotEqual(w.tolist(), before)
        self.assertEqual(w.tolist(), m.layers[0].weight.tolist())


if __name__ == "__main__":
    unittest.main()
