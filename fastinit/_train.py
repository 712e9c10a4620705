"""Why initialization matters, trained: the same plain MLP learns scikit-learn's
handwritten digits once per scheme (``train``), and the curves show what the
depth profiles of ``diagnose`` predict.

The network is ``depth`` hidden layers ``a_l = f(a_{l-1} W_l^T + b_l)`` of
``width`` units, then a linear 10-way softmax layer, trained on the
cross-entropy by minibatch Adam (or SGD with momentum), in NumPy float64. Every layer's
weights, the output layer's too, are the scheme's fastinit fill of a float32
``(out, in)`` buffer (stream ``name_stream('train/layer<l>')`` of ``seed``,
the output layer being ``l = depth + 1``), cast to float64; the biases are the
scheme's ``bias``. The train/test split (stream ``'train/split'``) and the
order of the minibatches (``'train/batches'``) are drawn once from ``seed``
and are the same for every scheme, so the schemes differ only in their
starting point.
"""
import math
import sys

import numpy as np

from ._checks import check_choice, check_positive_int, check_real, check_uint64
from ._diagnose import (_Fields, _Results, _check_activation, _clean, _forward, _g, _identical_units, _layer_weights,
                        _resolve_all, _text_table)
from ._generator import name_stream

__all__ = ["train", "TrainResult", "TrainRun", "DEFAULT_TRAIN_SCHEMES"]

DEFAULT_TRAIN_SCHEMES = ("zeros", "normal_0.01", "normal_1", "xavier_normal", "he_normal")
FIELDS = ("loss", "train_acc", "test_acc")
TARGET = 0.9               # the test accuracy a scheme "reaches" (table, verdicts)
_CLASSES = 10
_TEST_SHARE = 0.25         # of each class
_STILL_LEARNING = 0.25     # test accuracy gained since epoch 1 by a run short of TARGET: "slow", not "stalls"
_NEAR_CHANCE = 0.2         # test accuracy below this: no better than guessing (chance is 0.1)
_BAR = 30                  # characters of the progress=True bar


# ---------------------------------------------------------------------------- data

def _rng(seed, name):
    """A NumPy generator for the named draw of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(name_stream(name),)))


def _digits(seed):
    """(x_train, y_train, x_test, y_test): the 1797 digits split 75/25 within
    each class by a permutation drawn from ``seed``, the 64 pixel features
    standardized with the training set's mean and std."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError('training on the digits needs scikit-learn for its handwritten digits: '
                          'pip install "fastinit[explain]"') from None
    data = load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(np.intp)
    rng = _rng(seed, "train/split")
    is_test = np.zeros(len(y), bool)
    for c in range(_CLASSES):
        members = np.flatnonzero(y == c)
        is_test[rng.permutation(members)[:round(_TEST_SHARE * len(members))]] = True
    x_train, x_test = x[~is_test], x[is_test]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0                                   # pixels blank in every training image
    return (x_train - mean) / std, y[~is_test], (x_test - mean) / std, y[is_test]


# ---------------------------------------------------------------------------- the network

class _Net:
    """One scheme's MLP: float64 weights and biases, and the optimizer's state."""

    def __init__(self, sch, dims, seed, activation, slope):
        self.activation, self.slope = activation, slope
        self.weights = _layer_weights(sch, dims, seed, "train")
        self.biases = [np.full(d, sch.bias) for d in dims[1:]]
        # the optimizer's state: SGD's velocity or Adam's first moment, Adam's second moment
        self.velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in zip(self.weights, self.biases)]
        self.second = [(np.zeros_like(w), np.zeros_like(b)) for w, b in zip(self.weights, self.biases)]
        self.steps = 0

    def forward(self, x):
        """The input and the activations of every hidden layer, their
        derivatives, the logits, and the hidden layers' pre-activations."""
        acts, derivs, pres = [x], [], []
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            pres.append(acts[-1] @ w.T + b)
            a, d = _forward(self.activation, self.slope, pres[-1])
            acts.append(a)
            derivs.append(d)
        return acts, derivs, acts[-1] @ self.weights[-1].T + self.biases[-1], pres

    def accuracy(self, x, y):
        return float(np.mean(np.argmax(self.forward(x)[2], axis=1) == y))

    def symmetric(self, x):
        """Every hidden layer's units compute the same pre-activation on every sample."""
        return all(_identical_units(h) for h in self.forward(x)[3])

    def step(self, x, y, opt):
        """One optimizer step on a minibatch. Returns (mean cross-entropy, ok); when the
        loss or a gradient is not finite, ok is False, the weights are left as
        they were and the loss returned is inf or NaN."""
        acts, derivs, z, _ = self.forward(x)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(len(y))
        loss = -float(np.mean(logp[rows, y]))
        if not math.isfinite(loss):
            return loss, False
        g = np.exp(logp)
        g[rows, y] -= 1.0
        g /= len(y)                                       # d loss / d logits
        grads = [None] * len(self.weights)
        for layer in reversed(range(len(self.weights))):
            grads[layer] = (g.T @ acts[layer], g.sum(axis=0))
            if layer:
                g = (g @ self.weights[layer]) * derivs[layer - 1]
        if not all(math.isfinite(np.vdot(gw, gw)) and math.isfinite(np.vdot(gb, gb)) for gw, gb in grads):
            return math.nan, False
        self.steps += 1
        for (gw, gb), w, b, (vw, vb), (sw, sb) in zip(grads, self.weights, self.biases, self.velocity, self.second):
            opt.update(w, gw, vw, sw, self.steps)
            opt.update(b, gb, vb, sb, self.steps)
        return loss, True


class _SGD:
    """Heavy-ball momentum: v = momentum * v - lr * g; w += v."""
    name = "sgd"

    def __init__(self, lr, momentum):
        self.lr, self.momentum = lr, momentum

    def update(self, w, g, v, _, __):
        v *= self.momentum
        v -= self.lr * g
        w += v


class _Adam:
    """Adam (Kingma & Ba 2015) with bias correction: m and v the running
    means of g and g^2 (beta1 = momentum, beta2 = 0.999), w -= lr * m_hat /
    (sqrt(v_hat) + 1e-8)."""
    name = "adam"
    beta2, eps = 0.999, 1e-8

    def __init__(self, lr, momentum):
        self.lr, self.beta1 = lr, momentum

    def update(self, w, g, m, v, t):
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        m_hat = m / (1.0 - self.beta1 ** t)
        v_hat = v / (1.0 - self.beta2 ** t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


_OPTIMIZERS = {"adam": (_Adam, 1e-3), "sgd": (_SGD, 0.01)}


# ---------------------------------------------------------------------------- results

class TrainRun(_Fields):
    """One scheme's training: NumPy arrays with one value per epoch (``loss``,
    the mean training cross-entropy over the epoch's minibatches;
    ``train_acc`` and ``test_acc``, the accuracies at the end of the epoch),
    also readable as ``run['loss']``; ``diverged`` and ``diverged_epoch``
    (1-based, or None); ``symmetric`` (every hidden layer's units still
    identical at the end); and a one-word ``verdict`` with its sentence
    ``summary``."""
    _fields = FIELDS

    def __init__(self, scheme, loss, train_acc, test_acc, diverged_epoch, symmetric):
        self.scheme = scheme
        self.loss, self.train_acc, self.test_acc = loss, train_acc, test_acc
        self.diverged_epoch = diverged_epoch
        self.diverged = diverged_epoch is not None
        self.symmetric = symmetric
        self.verdict = self.summary = None                # set by _verdicts, which compares the schemes

    def epochs_to(self, accuracy=TARGET):
        """The first epoch (1-based) whose test accuracy is at least ``accuracy``, or None."""
        hit = np.flatnonzero(self.test_acc >= accuracy)
        return int(hit[0]) + 1 if len(hit) else None

    def __repr__(self):
        return f"<TrainRun {self.scheme}: {self.verdict}, test accuracy {_pct(self.test_acc[-1])}>"

    def to_dict(self):
        d = {f: [_clean(v) for v in getattr(self, f).tolist()] for f in FIELDS}
        d.update(diverged=self.diverged, symmetric=self.symmetric, verdict=self.verdict, summary=self.summary)
        return d


def _pct(x):
    return f"{100 * x:.1f} %"


def _verdicts(runs):
    """Each run's verdict and summary. "slow" is relative: reaching the target
    at least twice as late, and 3 epochs later, than the fastest scheme, or
    not reaching it but gaining 25 points of test accuracy since epoch 1 and
    ending above 50 %."""
    reached = {k: r.epochs_to() for k, r in runs.items() if not r.diverged and not r.symmetric}
    timed = {k: e for k, e in reached.items() if e is not None}
    fastest = min(timed, key=timed.get) if timed else None
    target = f"{100 * TARGET:g} %"
    for r in runs.values():
        epochs, final, hit = len(r.test_acc), r.test_acc[-1], reached.get(r.scheme)
        if r.diverged:
            r.verdict = "diverges"
            r.summary = (f"the loss or its gradient overflowed in epoch {r.diverged_epoch}, so training "
                         f"stopped there, at {_pct(final)} test accuracy")
        elif r.symmetric:
            r.verdict = "symmetric"
            r.summary = (f"every hidden unit of a layer computes the same value and gets the same gradient, so "
                         f"they never become different: {_pct(final)} test accuracy after {epochs} epochs "
                         f"(chance is 10 %)")
        elif hit is None and final - r.test_acc[0] >= _STILL_LEARNING and final >= 0.5:
            r.verdict = "slow"
            r.summary = (f"learns, slowly: from {_pct(r.test_acc[0])} test accuracy after epoch 1 to "
                         f"{_pct(final)} after {epochs}, short of {target}")
        elif hit is None:
            r.verdict = "stalls"
            r.summary = (f"test accuracy stays near chance: {_pct(final)} after {epochs} epochs (chance is 10 %), "
                         f"while the training loss went from {r.loss[0]:.4g} to {r.loss[-1]:.4g}"
                         if final < _NEAR_CHANCE else
                         f"test accuracy never reaches {target}: {_pct(final)} after {epochs} epochs")
        elif hit >= max(2 * timed[fastest], timed[fastest] + 3):
            r.verdict = "slow"
            r.summary = (f"reaches {target} test accuracy only in epoch {hit}, {hit - timed[fastest]} epochs "
                         f"after {fastest}, and ends at {_pct(final)}")
        else:
            r.verdict = "learns"
            r.summary = (f"reaches {target} test accuracy in epoch {hit} and ends at {_pct(final)} "
                         f"(train {_pct(r.train_acc[-1])})")


class TrainResult(_Results):
    """The training curves of one network under several schemes:
    ``result[scheme]`` is a :class:`TrainRun`; ``result.table()`` a
    plain-text table; ``result.to_dict()`` JSON-clean (inf and NaN as null)."""
    _has = "this training has"

    def __init__(self, config, runs):
        super().__init__(config, runs)
        _verdicts(runs)

    @property
    def schemes(self):
        return tuple(self._entries)

    def __repr__(self):
        c = self.config
        return (f"<TrainResult {c['depth']} x {c['width']} {c['activation']}, {c['epochs']} epochs: "
                + ", ".join(f"{k} {r.verdict}" for k, r in self.items()) + ">")

    def table(self):
        """One row per scheme: the last epoch's loss and accuracies, the epoch
        that first reached 90 % test accuracy (or "never"), the verdict; then
        the summaries."""
        c = self.config
        head = ["scheme", "loss", "train acc", "test acc", f"epochs to {100 * TARGET:g} %", "verdict"]
        body = []
        for name, r in self.items():
            hit = r.epochs_to()
            body.append([name, _g(r.loss[-1]), _pct(r.train_acc[-1]), _pct(r.test_acc[-1]),
                         "never" if hit is None else str(hit), r.verdict])
        title = (f"{c['depth']} hidden layers of {c['width']} units, {c['activation']}"
                 + (f" (slope {c['negative_slope']})" if c["activation"] == "leaky_relu" else "")
                 + f", digits ({c['train_size']} train / {c['test_size']} test), "
                 + (f"Adam lr {c['lr']:g} beta1 {c['momentum']:g}" if c["optimizer"] == "adam" else
                    f"SGD lr {c['lr']:g} momentum {c['momentum']:g}")
                 + f", batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}")
        lines = [title, ""] + _text_table(head, body) + [""]
        lines += [f"{name}: {r.verdict}: {r.summary}" for name, r in self.items()]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- progress

class _TextBar:
    """progress=True: one stderr line rewritten with a carriage return, ended by a newline."""

    def __init__(self):
        self.stream, self.width, self.open = sys.stderr, 0, False

    def __call__(self, done, total, text):
        filled = _BAR * done // total
        line = f"[{'#' * filled}{'.' * (_BAR - filled)}] {done}/{total} {text}"
        self.stream.write("\r" + line.ljust(self.width))
        self.width, self.open = len(line), True
        if done == total:
            self.close()
        self.stream.flush()

    def close(self):
        if self.open:
            self.stream.write("\n")
            self.open = False


def _check_progress(progress):
    if progress is None or progress is False:
        return None
    if progress is True:
        return _TextBar()
    if not callable(progress):
        raise TypeError(f"progress must be None, True or a callable progress(done, total, text), "
                        f"got {type(progress).__name__} {progress!r}")
    return progress


# ---------------------------------------------------------------------------- train

def _fit(label, net, data, orders, batch_size, opt, tick):
    """Train one network, one epoch per minibatch order; ``tick(epoch, text)``
    after every epoch. A diverged run stops updating; its later epochs repeat
    the accuracies of its frozen weights."""
    x_train, y_train, x_test, y_test = data
    epochs = len(orders)
    loss = np.full(epochs, np.nan)
    train_acc, test_acc = np.empty(epochs), np.empty(epochs)
    diverged_epoch = None
    for e, order in enumerate(orders):
        if diverged_epoch is None:
            total_loss = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                value, ok = net.step(x_train[idx], y_train[idx], opt)
                total_loss += value * len(idx)
                if not ok:
                    diverged_epoch = e + 1
                    break
            loss[e] = total_loss / len(order)
            train_acc[e], test_acc[e] = net.accuracy(x_train, y_train), net.accuracy(x_test, y_test)
        else:
            train_acc[e], test_acc[e] = train_acc[e - 1], test_acc[e - 1]
        if tick is not None:
            tick(e + 1, f"loss {_g(loss[e])}, test {_pct(test_acc[e])}")
    return TrainRun(label, loss, train_acc, test_acc, diverged_epoch, net.symmetric(x_test))


def train(activation="relu", schemes=DEFAULT_TRAIN_SCHEMES, *, depth=6, width=256, epochs=20, batch_size=32,
          optimizer="adam", lr=None, momentum=0.9, seed=0, negative_slope=0.01, progress=None):
    """Train the same MLP on handwritten digits once per initialization scheme.

    The data are scikit-learn's bundled digits (``load_digits``: 1797 8x8
    images, 10 classes, no download), split 75/25 within each class by a
    permutation drawn from ``seed`` (1347 train, 450 test images), the pixels
    standardized with the training set's statistics. The network is ``depth``
    hidden layers of ``width`` units with ``activation`` and a linear 10-way
    softmax output layer; every weight matrix, the output layer's included,
    is filled by the scheme (so ``zeros`` never breaks the symmetry between
    units), every bias is the scheme's ``bias`` (0 unless given). Training
    minimizes the mean cross-entropy over minibatches with Adam
    (``optimizer='adam'``, the default: ``lr`` 1e-3, beta1 ``momentum``,
    beta2 0.999, eps 1e-8, bias-corrected) or with SGD and heavy-ball momentum
    (``'sgd'``: ``lr`` 0.01, ``v = momentum * v - lr * grad; w += v``), a
    fixed learning rate, no weight decay, no schedule, for a fixed number of
    epochs, in float64. Every scheme gets the same hyperparameters, the same
    seed and the same minibatch order.

    The defaults, chosen once for the whole scheme list: ``depth=6``,
    ``width=256``, ``epochs=20``, ``batch_size=32``, Adam. On the ReLU network
    He and Xavier reach 90 % test accuracy in 1-2 epochs and end at 96-98 %;
    ``zeros`` stays at chance (symmetric); ``normal_1`` stalls near 80 %;
    ``normal_0.01`` learns markedly slower (its signal shrinks about 9x per
    layer): 20-50 % after two epochs. With SGD instead ``normal_0.01`` never
    leaves chance (its gradient shrinks with the signal, too little for a
    fixed step) and ``normal_1`` overflows in its first epoch. On a tanh
    network (seed 0) He and Xavier pass 90 % in the first epoch and end at 97
    %, ``normal_1`` stalls near 40 % (saturated units), ``normal_0.01`` learns
    slowly (85 % after 20 epochs) and ``zeros`` stays at chance. The default
    ReLU run of the 5 default schemes takes about 50 s on 2 cores.

    A run whose loss or gradient stops being finite is marked diverged: its
    weights are no longer updated, the loss of that epoch is inf or NaN and of
    the later ones NaN, and its accuracies stay those of the last finite
    weights.

    Parameters
    ----------
    activation : str
        One of ``relu``, ``leaky_relu`` (slope ``negative_slope``), ``tanh``,
        ``sigmoid``, ``selu``, ``gelu``, ``linear``.
    schemes : sequence
        Scheme names or ``(name, {keyword: value})`` pairs, as for
        :func:`fastinit.diagnose`.
    depth, width : int
        Hidden layers and units per hidden layer.
    epochs, batch_size : int
        Passes over the training set, and images per SGD step (the last step
        of an epoch takes the remainder).
    lr, momentum : float
        Learning rate (positive) and momentum (in [0, 1)).
    seed : int
        Seeds the split, the minibatch order and the weights.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    progress : None, True or callable
        ``progress(done, total, text)`` is called after every epoch of every
        scheme, ``epochs * len(schemes)`` times in all (``done`` counting from
        1 to ``total``), a diverged run's epochs included; ``True`` draws a
        text bar on stderr; ``None`` or ``False``: nothing.

    Returns
    -------
    TrainResult
        ``result[scheme].test_acc`` and the other curves, ``verdict`` and
        ``summary``; ``result.table()``, ``result.to_dict()``.

    Examples
    --------
    >>> from fastinit.explain import train
    >>> r = train("relu", ["zeros", "he_normal"], epochs=5)
    >>> r["zeros"].verdict, r["he_normal"].verdict
    ('symmetric', 'learns')
    """
    activation = _check_activation(activation)
    depth = check_positive_int(depth, "depth")
    width = check_positive_int(width, "width")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    optimizer = check_choice(optimizer, "optimizer", tuple(_OPTIMIZERS))
    lr = _OPTIMIZERS[optimizer][1] if lr is None else check_real(lr, "lr")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    momentum = check_real(momentum, "momentum")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    seed = check_uint64(seed, "seed")
    slope = check_real(negative_slope, "negative_slope")
    progress = _check_progress(progress)
    resolved = _resolve_all(schemes, 0.0)

    data = _digits(seed)
    batches = _rng(seed, "train/batches")
    orders = [batches.permutation(len(data[1])) for _ in range(epochs)]
    dims = [data[0].shape[1]] + [width] * depth + [_CLASSES]
    total, runs = epochs * len(resolved), {}
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for k, sch in enumerate(resolved):
                def tick(e, text, k=k, label=sch.label):
                    progress(k * epochs + e, total, f"{label} epoch {e}/{epochs}: {text}")
                runs[sch.label] = _fit(sch.label, _Net(sch, dims, seed, activation, slope), data, orders,
                                       batch_size, _OPTIMIZERS[optimizer][0](lr, momentum),
                                       None if progress is None else tick)
    finally:
        if isinstance(progress, _TextBar):
            progress.close()
    config = {"activation": activation, "negative_slope": slope, "depth": depth, "width": width,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "momentum": momentum, "seed": seed,
              "schemes": [s.label for s in resolved],
              "data": "scikit-learn digits (8x8 images, 10 classes), 75/25 split within each class",
              "train_size": int(len(data[1])), "test_size": int(len(data[3])),
              "loss": "cross-entropy of a linear softmax output layer",
              "optimizer": optimizer, "target_accuracy": TARGET}
    return TrainResult(config, runs)
