"""fit(progress=...) draws a progress bar and returns a History whose plot()
writes the curves with matplotlib (headless). CTest `python_progress_plot`
runs this in a venv with matplotlib and tqdm (NN_REQUIRE_PLOT=1: no skips)."""

import contextlib
import io
import math
import os
import tempfile
import unittest

from helpers import load_digits
import nn

REQUIRE = os.environ.get("NN_REQUIRE_PLOT") == "1"


def have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def small_fit(progress, epochs=3):
    (xtr, ytr), (xte, yte) = load_digits(seed=1, n_train=300)
    m = nn.Model.mlp([64, 16, 10], hidden="relu", output="identity")
    m.init("he_uniform", seed=3)
    return m.fit(xtr, ytr, optimizer=nn.Adam(m, lr=1e-2), epochs=epochs, batch_size=32,
                 loss="cross_entropy", validation=(xte[:100], yte[:100]), progress=progress)


class TestProgress(unittest.TestCase):
    def test_history_is_a_list_of_reports(self):
        h = small_fit(False)
        self.assertIsInstance(h, nn.History)
        self.assertIsInstance(h, list)
        self.assertEqual(h.epochs, [1, 2, 3])
        self.assertEqual(len(h.loss), 3)
        self.assertLess(h.loss[-1], h.loss[0])
        self.assertTrue(all(0 <= a <= 1 for a in h.val_accuracy))

    def test_plain_progress_line(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            small_fit("plain")
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 3, err.getvalue())  # not a terminal: one line per epoch
        self.assertTrue(lines[0].startswith("epoch 1/3 ["), lines[0])
        for word in ("loss ", "val_loss ", "val_acc ", "rows/s", "ETA "):
            self.assertIn(word, lines[-1])

    def test_batch_reports_reach_the_bar(self):
        seen = []
        orig = nn.progress.ProgressBar.batch

        def spy(self, r):
            seen.append((r.epoch, r.batch, r.batches))
            return orig(self, r)
        nn.progress.ProgressBar.batch = spy
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                small_fit("plain", epochs=2)
        finally:
            nn.progress.ProgressBar.batch = orig
        # 300 rows in batches of 32: 10 batches per epoch, each reported
        self.assertEqual([s for s in seen if s[0] == 0], [(0, b, 10) for b in range(10)])
        self.assertEqual(len(seen), 20)

    @unittest.skipUnless(have("tqdm") or REQUIRE, "tqdm not installed")
    def test_tqdm_bar(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            small_fit("tqdm")
        self.assertIn("3/3", err.getvalue())
        self.assertIn("loss=", err.getvalue())

    def test_bad_progress_value(self):
        with self.assertRaises(ValueError):
            small_fit("fancy", epochs=1)

    @unittest.skipUnless(have("matplotlib") or REQUIRE, "matplotlib not installed")
    def test_plot_writes_png(self):
        h = small_fit(False)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "curves.png")
            fig = h.plot(path, title="digits")
            self.assertTrue(os.path.exists(path))
            self.assertGreater(os.path.getsize(path), 1000)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertEqual(len(fig.axes), 2)  # loss and accuracy
            # without a validation set: one panel, and NaN accuracy is not drawn
            m = nn.Model.mlp([2, 1], hidden="identity", output="identity")
            h2 = m.fit([[0.0, 1.0], [1.0, 0.0]], [[1.0], [0.0]], epochs=2, loss="mse")
            self.assertTrue(math.isnan(h2.val_accuracy[0]))
            fig2 = h2.plot(os.path.join(d, "mse.svg"))
            self.assertEqual(len(fig2.axes), 1)
            self.assertGreater(os.path.getsize(os.path.join(d, "mse.svg")), 1000)


if __name__ == "__main__":
    unittest.main()
