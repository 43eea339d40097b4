"""Progress bars for Model.fit(progress=True) and the History it returns.

``fit(..., progress=True)`` draws a bar with tqdm when it is installed, else a
plain line on stderr (redrawn in place on a terminal, one line per epoch when
piped); ``progress="plain"`` forces the plain line, ``"tqdm"`` requires tqdm.
``fit`` returns a History: the list of EpochReports, with ``loss``,
``val_loss``, ``val_accuracy`` columns and ``plot(path)`` (matplotlib).
"""

import math
import sys
import time

__all__ = ["History", "ProgressBar"]


class History(list):
    """The EpochReports of one fit, in order (a list), with per-field columns."""

    def _col(self, name):
        return [getattr(r, name) for r in self]

    @property
    def epochs(self):
        return [r.epoch + 1 for r in self]

    @property
    def loss(self):
        return self._col("loss")

    @property
    def val_loss(self):
        return self._col("val_loss")

    @property
    def val_accuracy(self):
        return self._col("val_accuracy")

    @property
    def lr(self):
        return self._col("lr")

    def plot(self, path=None, title=None):
        """Draws the loss (and validation loss) and, when there is one, the
        validation accuracy per epoch with matplotlib, without a display
        (Agg canvas). Writes the image to ``path`` (format from its
        extension, e.g. .png, .svg, .pdf) when given; returns the Figure."""
        try:
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
        except ImportError as e:
            raise ImportError("nn: History.plot needs matplotlib (pip install matplotlib)") from e
        has_acc = any(not math.isnan(a) for a in self.val_accuracy)
        has_val = any(not math.isnan(v) for v in self.val_loss)
        fig = Figure(figsize=(10 if has_acc else 6, 4))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 2 if has_acc else 1, 1)
        ax.plot(self.epochs, self.loss, marker="o", label="loss")
        if has_val:
            ax.plot(self.epochs, self.val_loss, marker="o", label="val_loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        ax.legend()
        if has_acc:
            ax2 = fig.add_subplot(1, 2, 2)
            ax2.plot(self.epochs, self.val_accuracy, marker="o", color="tab:green", label="val_accuracy")
            ax2.set_xlabel("epoch")
            ax2.set_ylabel("accuracy")
            ax2.grid(True, alpha=0.3)
            ax2.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def _fmt_time(s):
    s = int(s + 0.5) if s == s and s >= 0 else 0
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else "%d:%02d" % (s // 60, s % 60)


class ProgressBar:
    """One bar over the epochs of a fit, its loss updated per batch (nn_fit_options v2).

    mode: True/"auto" (tqdm when importable, else plain), "tqdm", "plain".
    """

    def __init__(self, epochs, rows, mode=True, stream=None):
        self.epochs = int(epochs)
        self.rows = int(rows)
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.tqdm = None
        if mode in (True, "auto", "tqdm"):
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm(total=self.epochs, unit="epoch", desc="fit", file=self.stream)
            except ImportError:
                if mode == "tqdm":
                    raise ImportError("nn: progress='tqdm' needs tqdm (pip install tqdm)")
        elif mode != "plain":
            raise ValueError("nn: progress must be True, False, 'auto', 'tqdm' or 'plain', not %r" % (mode,))
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.last_draw = 0.0
        self.batches_seen = 0

    def batch(self, r):
        """A per-batch report (nn_batch_report): updates the bar's loss, at
        most 20 times a second."""
        self.batches_seen += 1
        now = time.monotonic()
        if now - self.last_draw < 0.05:
            return
        self.last_draw = now
        if self.tqdm is not None:
            self.tqdm.set_postfix({"batch": "%d/%d" % (r.batch + 1, r.batches), "loss": "%.4g" % r.loss})
        elif self.live:
            frac = (r.batch + 1) / max(r.batches, 1)
            done = r.epoch + frac
            elapsed = now - self.start
            eta = elapsed / done * (self.epochs - done) if done > 0 else 0
            self.stream.write("\r\033[Kepoch %d/%d batch %d/%d loss %.4g ETA %s"
                              % (r.epoch + 1, self.epochs, r.batch + 1, r.batches, r.loss, _fmt_time(eta)))
            self.stream.flush()

    def _line(self, r):
        done = r.epoch + 1
        width = 20
        fill = int(width * done / max(self.epochs, 1))
        bar = "=" * fill + (">" if fill < width else "") + " " * (width - fill - 1)
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (self.epochs - done) if done else 0
        rate = self.rows / r.seconds if r.seconds > 0 else float("nan")
        s = "epoch %d/%d [%s] loss %.4g" % (done, self.epochs, bar[:width], r.loss)
        if not math.isnan(r.val_loss):
            s += " val_loss %.4g" % r.val_loss
        if not math.isnan(r.val_accuracy):
            s += " val_acc %.4f" % r.val_accuracy
        if not math.isnan(rate):
            s += " %.0f rows/s" % rate
        return s + " ETA " + _fmt_time(eta)

    def epoch(self, r):
        if self.tqdm is not None:
            post = {"loss": "%.4g" % r.loss}
            if not math.isnan(r.val_loss):
                post["val_loss"] = "%.4g" % r.val_loss
            if not math.isnan(r.val_accuracy):
                post["val_acc"] = "%.4f" % r.val_accuracy
            self.tqdm.set_postfix(post, refresh=False)
            self.tqdm.update(1)
            return
        line = self._line(r)
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.tqdm is not None:
            self.tqdm.close()
        elif self.live:
            self.stream.write("\n")
            self.stream.flush()
