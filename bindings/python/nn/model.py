"""Layers, sequential models, losses, optimizers and the training loop."""

import ctypes
import os
import weakref

from . import _capi, _predict
from ._capi import C, DType, Activation as _Act, Init, Loss, Param, LayerKind, check
from .tensor import Tensor, as_dtype, np, _new
from .progress import History, ProgressBar

__all__ = ["Layer", "Linear", "Activation", "Model", "Optimizer", "SGD", "Adam", "AdamW",
           "EpochReport", "StopTraining", "loss"]


def _loss_arg(loss):
    return _capi.enum_arg(Loss, loss, "loss")


def _closed(what):
    return ValueError("nn: operation on a closed %s" % what)


# ------------------------------------------------------------------------------
# Layers
# ------------------------------------------------------------------------------

class Layer(_capi.Handle):
    """A layer: ``nn.Linear(in, out, bias=True)`` or ``nn.Activation("relu")``.

    A layer you create is yours until ``model.add(layer)``; from then on (and
    for layers read from ``model.layers``) it is borrowed from the model, which
    it keeps alive, and the model frees it.
    """

    _h = None
    _owned = False
    _model = None

    @classmethod
    def _borrow(cls, ptr, model, index):
        kind = C.nn_layer_kind_of(ptr)
        sub = Linear if kind == LayerKind.LINEAR else Activation
        layer = sub.__new__(sub)
        layer._h = ptr
        layer._owned = False
        layer._model = model
        layer._index = index
        return layer

    def _adopt(self, ptr):
        self._h = _capi.new_handle("layer", ptr)
        self._owned = True

    @property
    def _ptr(self):
        if not self._h:
            raise _closed("Layer")
        if self._model is not None and not self._model._h:
            raise ValueError("nn: the model this layer belongs to is closed")
        return self._h

    @property
    def kind(self):
        """"linear" or "activation"."""
        return "linear" if C.nn_layer_kind_of(self._ptr) == LayerKind.LINEAR else "activation"

    @property
    def activation(self):
        """The activation an activation layer applies, by name (e.g. "relu");
        None for a Linear layer (nn_layer_activation_of)."""
        a = C.nn_layer_activation_of(self._ptr)
        return None if a < 0 else _Act(a).name

    @property
    def model(self):
        """The model that owns this layer, or None."""
        return self._model

    def _param(self, which, fn):
        w = _capi.enum_arg(Param, which, "parameter")
        return _new(fn, self._ptr, w)

    @property
    def weight(self):
        """The weight ``[out, in]``: a Tensor sharing the layer's storage (writes
        with ``copy_`` change the layer). Get it again after ``Model.to``."""
        return self._param(Param.weight, C.nn_layer_param)

    @property
    def bias(self):
        """The bias ``[out]`` (sharing storage), or None for a layer without bias."""
        if self.kind != "linear" or not self._has_bias():
            return None
        return self._param(Param.bias, C.nn_layer_param)

    def _has_bias(self):
        # The layer's own answer: nn_layer_param fails for a missing bias.
        out = ctypes.c_void_p()
        if C.nn_layer_param(self._ptr, Param.bias, ctypes.byref(out)) != 0:
            return False
        C.nn_tensor_free(out.value)
        return True

    def param(self, which="weight"):
        return self._param(which, C.nn_layer_param)

    def grad(self, which="weight"):
        """A copy of the accumulated gradient of "weight" or "bias"."""
        return self._param(which, C.nn_layer_grad)

    def forward(self, x):
        """``y = layer(x)`` (inference only)."""
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=DType.float32)
        return _new(C.nn_layer_forward, self._ptr, x._ptr)

    __call__ = forward

    def close(self):
        """Frees a layer you own; a no-op for a layer a model owns."""
        h, self._h = self._h, None
        if h and self._owned:
            _capi.free_handle("layer", h)


class Linear(Layer):
    """A fully connected layer (torch.nn.Linear): y = x W^T + b."""

    def __init__(self, in_features, out_features, bias=True):
        out = ctypes.c_void_p()
        check(C.nn_layer_linear(int(in_features), int(out_features), bool(bias), ctypes.byref(out)))
        self._adopt(out.value)

    @property
    def in_features(self):
        return self.weight.shape[1]

    @property
    def out_features(self):
        return self.weight.shape[0]

    def __repr__(self):
        if not self._h:
            return "<nn.Linear (closed)>"
        return "Linear(in_features=%d, out_features=%d, bias=%s)" % (
            self.in_features, self.out_features, self._has_bias())


class Activation(Layer):
    """An activation layer: identity, relu, sigmoid, tanh, step, softmax, leaky_relu."""

    def __init__(self, act):
        a = _capi.enum_arg(_Act, act, "activation")
        out = ctypes.c_void_p()
        check(C.nn_layer_activation(a, ctypes.byref(out)))
        self._adopt(out.value)

    def __repr__(self):
        if not self._h:
            return "<nn.Activation (closed)>"
        return "Activation(%r)" % self.activation


# ------------------------------------------------------------------------------
# Training reports
# ------------------------------------------------------------------------------

class EpochReport:
    """What fit reports after each epoch (nn_epoch_report)."""

    __slots__ = ("epoch", "epochs", "loss", "val_loss", "val_accuracy", "lr", "seconds",
                 "cancelled")

    def __init__(self, c):
        for f in self.__slots__[:-1]:
            setattr(self, f, getattr(c, f))
        #: True on the last report of a fit that a callback stopped (the cancel
        #: rule: fit returns normally, it does not raise).
        self.cancelled = False

    def __repr__(self):
        return ("EpochReport(epoch=%d/%d, loss=%.6g, val_loss=%.6g, val_accuracy=%.4g, lr=%.6g, "
                "seconds=%.3f%s)" % (self.epoch, self.epochs, self.loss, self.val_loss,
                                     self.val_accuracy, self.lr, self.seconds,
                                     ", cancelled=True" if self.cancelled else ""))


class StopTraining(Exception):
    """Raise inside ``on_epoch`` to stop ``fit`` (the same as returning True)."""


# ------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------

class Model(_capi.Handle):
    """A sequential model (like torch.nn.Sequential): ``Model([layers])``,
    ``Model.mlp(sizes, hidden, output)``, ``Model.load(path)``."""

    _h = None

    def __init__(self, layers=()):
        out = ctypes.c_void_p()
        check(C.nn_model_create(ctypes.byref(out)))
        self._h = _capi.new_handle("model", out.value)
        self._optimizers = weakref.WeakSet()
        for layer in layers:
            self.add(layer)

    @classmethod
    def _wrap(cls, ptr):
        m = cls.__new__(cls)
        m._h = _capi.new_handle("model", ptr)
        m._optimizers = weakref.WeakSet()
        return m

    @classmethod
    def create(cls):
        """An empty model on the CPU."""
        return cls()

    @classmethod
    def mlp(cls, sizes, hidden="relu", output="identity"):
        """Linear(s0, s1), hidden, ..., Linear(s[n-2], s[n-1]), output (an
        "identity" activation adds no layer)."""
        sizes = [int(s) for s in sizes]
        arr = (ctypes.c_int64 * max(len(sizes), 1))(*sizes)
        out = ctypes.c_void_p()
        check(C.nn_model_mlp(len(sizes), arr, _capi.enum_arg(_Act, hidden, "activation"),
                             _capi.enum_arg(_Act, output, "activation"), ctypes.byref(out)))
        return cls._wrap(out.value)

    @property
    def _ptr(self):
        if not self._h:
            raise _closed("Model")
        return self._h

    # -- lifetime -------------------------------------------------------------------
    def close(self):
        """Frees the model (its optimizers are closed first; its layers become unusable)."""
        if not self._h:
            return
        for opt in list(self._optimizers):
            opt.close()
        h, self._h = self._h, None
        _capi.free_handle("model", h)

    # -- structure ---------------------------------------------------------------------
    def add(self, layer):
        """Appends a layer (a Layer, or an activation name); the model takes it over.
        Returns the model, so calls chain."""
        if isinstance(layer, (str, _Act)):
            layer = Activation(layer)
        if not isinstance(layer, Layer):
            raise TypeError("nn: Model.add needs a Layer, not %r" % (layer,))
        if not layer._owned:
            raise ValueError("nn: this layer already belongs to a model")
        check(C.nn_model_add(self._ptr, layer._ptr))
        _capi._count("layer", -1)  # the model owns the handle now
        layer._owned = False
        layer._model = self
        layer._index = len(self) - 1
        return self

    def __len__(self):
        return C.nn_model_num_layers(self._ptr)

    def layer(self, index):
        """The layer at ``index`` (negative counts from the end), borrowed from the model."""
        n = len(self)
        i = index + n if index < 0 else index
        out = ctypes.c_void_p()
        check(C.nn_model_layer(self._ptr, int(i), ctypes.byref(out)))
        return Layer._borrow(out.value, self, i)

    __getitem__ = layer

    @property
    def layers(self):
        return [self.layer(i) for i in range(len(self))]

    def __iter__(self):
        return iter(self.layers)

    @property
    def num_params(self):
        return C.nn_model_num_params(self._ptr)

    def init(self, scheme="torch_default", seed=0):
        """Re-initialises every Linear layer: torch_default, he_uniform, he_normal,
        xavier_uniform, xavier_normal, zeros. Returns the model."""
        check(C.nn_model_init(self._ptr, _capi.enum_arg(Init, scheme, "init scheme"), int(seed)))
        return self

    def to(self, device):
        """Moves the model to a device ("cpu", "cuda:0"); returns the model. Do it
        before creating an optimizer."""
        check(C.nn_model_to(self._ptr, _capi.parse_device(device)))
        return self

    @property
    def device(self):
        return _capi.device_str(C.nn_model_device(self._ptr))

    @property
    def dtype(self):
        return DType(C.nn_model_dtype(self._ptr))

    def to_dtype(self, dtype):
        """Converts the parameters to float32 or float64; returns the model."""
        check(C.nn_model_to_dtype(self._ptr, as_dtype(dtype)))
        return self

    def summary(self):
        return _capi.get_string(C.nn_model_summary, self._ptr)

    def __str__(self):
        return self.summary() if self._h else "<nn.Model (closed)>"

    def __repr__(self):
        if not self._h:
            return "<nn.Model (closed)>"
        return "<nn.Model: %d layers, %d parameters, %s, %s>" % (
            len(self), self.num_params, self.dtype, self.device)

    # -- data conversion -------------------------------------------------------------
    def _input(self, x):
        dt, dev = self.dtype, self.device
        if isinstance(x, Tensor):
            if x.dtype != dt or x.device != dev:
                x = x.to(dtype=dt, device=dev)
            return x
        return Tensor(x, dtype=dt, device=dev)

    def _target(self, y, loss):
        return _target(y, loss, self.dtype, self.device)

    # -- inference ----------------------------------------------------------------
    def forward(self, x):
        """The model's output as a Tensor (x converted to the model's dtype and device)."""
        x = self._input(x)
        return _new(C.nn_model_forward, self._ptr, x._ptr)

    __call__ = forward

    def predict(self, x):
        """The outputs for the rows ``x`` in one C call (nn_model_predict).

        ``x`` is ``[rows, in_features]`` or one row ``[in_features]``: a NumPy
        float32 array (passed without a copy when C-contiguous), another
        floating array (converted to float32 explicitly), a Tensor, or lists
        of numbers. Integer, bool and complex arrays raise TypeError naming
        the dtype. Returns float32 ``[rows, out_features]`` / ``[out_features]``
        whatever the model's dtype and device: a NumPy array, or lists of
        floats without NumPy. Bit for bit what ``forward`` gives for the same
        float32 rows (an F64 model's outputs rounded to float32: use
        ``forward`` to keep them in float64). Several threads may predict with
        one model at once. A wrong row width raises ``nn.ShapeError``; libnn's
        own errors (e.g. a model without a Linear layer) raise the matching
        ``nn.Error`` with libnn's message.
        """
        return _predict.predict(self._ptr, x)

    @property
    def in_features(self):
        """Input width: in_features of the first Linear layer; None without one."""
        return _predict.features(C.nn_model_in_features, self._ptr)

    @property
    def out_features(self):
        """Output width: out_features of the last Linear layer; None without one."""
        return _predict.features(C.nn_model_out_features, self._ptr)

    # -- training --------------------------------------------------------------------
    def zero_grad(self):
        check(C.nn_model_zero_grad(self._ptr))

    def backward(self, x, y, loss="mse"):
        """Forward + loss + backpropagation (gradients accumulate); returns the loss."""
        lo = _loss_arg(loss)
        x = self._input(x)
        y = self._target(y, lo)
        v = ctypes.c_double()
        check(C.nn_model_backward(self._ptr, x._ptr, y._ptr, lo, ctypes.byref(v)))
        return v.value

    def fit(self, x, y, optimizer=None, epochs=10, batch_size=32, loss="mse", shuffle=True,
            seed=0, validation=None, patience=0, on_epoch=None, comm=None, progress=False):
        """Trains with nn_model_fit and returns its History (the list of
        EpochReports, with ``plot(path)``; see nn.progress).

        ``progress=True`` draws a progress bar on stderr (tqdm when installed,
        else a plain line; ``"plain"`` forces the plain line).

        ``optimizer`` defaults to ``Adam(self, lr=1e-3)``. ``batch_size``: 1
        online, 0 or None full batch. ``validation=(x_val, y_val)``.
        ``on_epoch(report)`` runs after each epoch.

        The cancel rule (the same in the Python, Rust and Julia bindings): a
        callback that returns a true value (or raises ``nn.StopTraining``)
        stops training after that epoch, and ``fit`` returns normally: the
        model keeps what it learned and the last report has
        ``cancelled=True`` (C's NN_ERR_CANCELLED is not an error here). Any
        other exception raised by the callback stops training and is
        re-raised here.

        Targets follow C's dtype rules (see ``_target``): integer class ids
        (or whole-number floats) for "cross_entropy", float targets for the
        other losses; anything else fails with libnn's NN_ERR_DTYPE message.
        ``comm`` (an ``nn.Comm``): data-parallel training, each rank with its
        own shard and ``batch_size`` rows per rank (see nn/comm.py).
        """
        lo = _loss_arg(loss)
        if optimizer is None:
            optimizer = Adam(self, lr=1e-3)
        if not isinstance(optimizer, Optimizer):
            raise TypeError("nn: optimizer must be an nn.Optimizer")
        tx = self._input(x)
        ty = self._target(y, lo)
        opts = _capi.nn_fit_options()
        C.nn_fit_options_init(ctypes.byref(opts))
        opts.epochs = int(epochs)
        opts.batch_size = 0 if batch_size is None else int(batch_size)
        opts.shuffle = bool(shuffle)
        opts.seed = int(seed)
        opts.loss = lo
        opts.patience = int(patience)
        vx = vy = None
        if validation is not None:
            vx_in, vy_in = validation
            vx = self._input(vx_in)
            vy = self._target(vy_in, lo)
            opts.val_x = vx._ptr
            opts.val_y = vy._ptr
        if comm is not None:
            opts.comm = comm._ptr
        history = History()
        state = {"error": None}
        bar = ProgressBar(epochs, tx.shape[0] if tx.shape else 1, progress) if progress else None

        def callback(report_p, _user):
            try:
                r = EpochReport(report_p.contents)
                history.append(r)
                if bar is not None:
                    bar.epoch(r)
                if on_epoch is not None and on_epoch(r):
                    return 1
                return 0
            except StopTraining:
                return 1
            except BaseException as e:  # noqa: B902 - re-raised from fit
                state["error"] = e
                return 1

        cb = _capi.nn_epoch_callback(callback)   # kept alive for the call
        opts.on_epoch = cb
        bcb = None
        if bar is not None and opts.version >= 2:
            def batch_callback(report_p, _user):
                try:
                    bar.batch(report_p.contents)
                except BaseException as e:  # noqa: B902 - re-raised from fit
                    state["error"] = e
                    return 1
                return 0
            bcb = _capi.nn_batch_callback(batch_callback)
            opts.on_batch = bcb
            rows = tx.shape[0] if tx.shape else 1
            nb = 1 if not opts.batch_size else -(-rows // int(opts.batch_size))
            opts.batch_every = max(1, nb // 100)
        last = _capi.nn_epoch_report()
        try:
            status = C.nn_model_fit(self._ptr, optimizer._ptr, tx._ptr, ty._ptr, ctypes.byref(opts),
                                    ctypes.byref(last))
        finally:
            if bar is not None:
                bar.close()
        if state["error"] is not None:
            err, state["error"] = state["error"], None
            raise err
        if status == _capi.Status.ERR_CANCELLED:
            if not history or history[-1].epoch != last.epoch:
                history.append(EpochReport(last))
            history[-1].cancelled = True
            return history
        check(status)
        return history

    def evaluate(self, x, y, loss="mse"):
        """(loss, accuracy) on (x, y); accuracy is NaN for non-classification losses."""
        lo = _loss_arg(loss)
        tx = self._input(x)
        ty = self._target(y, lo)
        v = ctypes.c_double()
        acc = ctypes.c_double()
        check(C.nn_model_evaluate(self._ptr, tx._ptr, ty._ptr, lo, ctypes.byref(v), ctypes.byref(acc)))
        return v.value, acc.value

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Saves as safetensors (PyTorch state_dict names), atomically."""
        check(C.nn_model_save(self._ptr, os.fsencode(os.fspath(path))))

    @classmethod
    def load(cls, path, device="cpu"):
        out = ctypes.c_void_p()
        check(C.nn_model_load(os.fsencode(os.fspath(path)), _capi.parse_device(device),
                              ctypes.byref(out)))
        return cls._wrap(out.value)

    def save_bytes(self):
        """The safetensors file as bytes."""
        needed = ctypes.c_size_t(0)
        check(C.nn_model_save_buffer(self._ptr, None, 0, ctypes.byref(needed)))
        buf = ctypes.create_string_buffer(max(needed.value, 1))
        check(C.nn_model_save_buffer(self._ptr, buf, needed.value, ctypes.byref(needed)))
        return buf.raw[:needed.value]

    @classmethod
    def load_bytes(cls, data, device="cpu"):
        data = bytes(data)
        out = ctypes.c_void_p()
        check(C.nn_model_load_buffer(data, len(data), _capi.parse_device(device), ctypes.byref(out)))
        return cls._wrap(out.value)


def _target_kind(y):
    """(ndim, is_integer) of a target: a Tensor, a NumPy array or nested lists."""
    if isinstance(y, Tensor):
        return y.ndim, not y.dtype.is_floating
    if np is not None and isinstance(y, (np.ndarray, np.generic)):
        y = np.asarray(y)
        return y.ndim, y.dtype.kind in "biu"
    if isinstance(y, (list, tuple)):
        if len(y) == 0:
            return 1, True
        if isinstance(y[0], (list, tuple)) or (np is not None and isinstance(y[0], np.ndarray)):
            from .tensor import _flatten
            shape, flat = _flatten(y)
            return len(shape), all(_is_int(v) for v in flat)
        return 1, all(_is_int(v) for v in y)
    return 0, _is_int(y)


def _is_int(v):
    if np is not None and isinstance(v, np.generic):
        return v.dtype.kind in "biu"
    return isinstance(v, int)   # bool is an int


def _target(y, loss, dtype, device):
    """Targets for a loss, as strict as the C library (no silent truncation):

    - cross_entropy with 1-D class ids: integer ids become int64; float ids are
      accepted only when every one is a whole number (NumPy loads CSV columns
      as float64), else they go to libnn as floats, which refuses them
      (NN_ERR_DTYPE with its message);
    - every other target keeps its kind: floats are converted to the model's
      float dtype, integers go to libnn as int64, which refuses them for a
      regression or BCE loss (NN_ERR_DTYPE with its message).
    """
    nd, is_int = _target_kind(y)
    if loss == Loss.cross_entropy and nd == 1:
        want = DType.int64
        if not is_int:
            t = y if isinstance(y, Tensor) else Tensor(y, dtype=DType.float64)
            whole = t.numel == 0 or _all_whole(t)
            if not whole:
                want = dtype         # libnn refuses float class ids with its message
    else:
        want = DType.int64 if is_int else dtype
    if isinstance(y, Tensor):
        if y.dtype != want or y.device != device:
            y = y.to(dtype=want, device=device)
        return y
    return Tensor(y, dtype=want, device=device)


def _all_whole(t):
    """True when every element of a float tensor is a finite whole number."""
    f = t.to(DType.float64) if t.dtype != DType.float64 else t
    flat = f.reshape(-1).tolist()
    return all(v == v and abs(v) != float("inf") and v == int(v) for v in flat)


def loss(name, pred, target, grad=False):
    """A loss value (float); with ``grad=True`` also d loss / d pred: ``(value, grad)``."""
    lo = _loss_arg(name)
    p = pred if isinstance(pred, Tensor) else Tensor(pred, dtype=DType.float32)
    t = _target(target, lo, p.dtype, p.device)
    v = ctypes.c_double()
    if grad:
        g = ctypes.c_void_p()
        check(C.nn_loss_compute(lo, p._ptr, t._ptr, ctypes.byref(v), ctypes.byref(g)))
        return v.value, Tensor._wrap(g.value)
    check(C.nn_loss_compute(lo, p._ptr, t._ptr, ctypes.byref(v), None))
    return v.value


# ------------------------------------------------------------------------------
# Optimizers
# ------------------------------------------------------------------------------

class Optimizer(_capi.Handle):
    """Base of SGD and Adam; keeps its model alive."""

    _h = None

    def _init(self, model, ptr):
        self._h = _capi.new_handle("optimizer", ptr)
        self.model = model
        model._optimizers.add(self)

    @property
    def _ptr(self):
        if not self._h:
            raise _closed("Optimizer")
        return self._h

    @property
    def lr(self):
        """The current learning rate (settable)."""
        return C.nn_optimizer_lr(self._ptr)

    @lr.setter
    def lr(self, value):
        check(C.nn_optimizer_set_lr(self._ptr, float(value)))

    def step_lr(self, step_size, gamma):
        """Attaches a StepLR schedule: every step_size-th epoch_end multiplies lr by gamma."""
        check(C.nn_optimizer_set_step_lr(self._ptr, int(step_size), float(gamma)))
        return self

    def step(self):
        check(C.nn_optimizer_step(self._ptr))

    def zero_grad(self):
        check(C.nn_optimizer_zero_grad(self._ptr))

    def epoch_end(self):
        """Advances the schedule (scheduler.step())."""
        check(C.nn_optimizer_epoch_end(self._ptr))

    def close(self):
        h, self._h = self._h, None
        if h:
            _capi.free_handle("optimizer", h)

    def __repr__(self):
        if not self._h:
            return "<nn.%s (closed)>" % type(self).__name__
        return "<nn.%s lr=%g>" % (type(self).__name__, self.lr)


class SGD(Optimizer):
    """torch.optim.SGD (dampening 0)."""

    def __init__(self, model, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        out = ctypes.c_void_p()
        check(C.nn_optimizer_sgd(model._ptr, float(lr), float(momentum), float(weight_decay),
                                 bool(nesterov), ctypes.byref(out)))
        self._init(model, out.value)


class Adam(Optimizer):
    """torch.optim.Adam (``decoupled=True``: AdamW)."""

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled=False):
        b1, b2 = betas
        out = ctypes.c_void_p()
        check(C.nn_optimizer_adam(model._ptr, float(lr), float(b1), float(b2), float(eps),
                                  float(weight_decay), bool(decoupled), ctypes.byref(out)))
        self._init(model, out.value)


class AdamW(Adam):
    """torch.optim.AdamW (decoupled weight decay, default 1e-2)."""

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(model, lr, betas, eps, weight_decay, decoupled=True)
