"""``fastinit explain``: why initialization matters, for one architecture.

Prints the depth profile of a plain MLP under each scheme (``fastinit.diagnose``)
and the recommendation (``fastinit.recommend``); ``--json`` writes the figures,
``--plot`` a matplotlib figure, ``--train`` trains the network on scikit-learn's
bundled digits once per scheme, ``--html`` writes a self-contained interactive
page. matplotlib and scikit-learn come with ``pip install "fastinit[explain]"``.
"""
import argparse
import json
import os
import sys

from ._diagnose import ACTIVATIONS, DEFAULT_SCHEMES, diagnose, recommend, same_scheme
from ._report import write_atomic
from ._train import DEFAULT_TRAIN_SCHEMES, TrainResult, train

__all__ = ["main", "plot", "train", "TrainResult", "DEFAULT_TRAIN_SCHEMES"]

EXTRA = 'pip install "fastinit[explain]"'


def _parser():
    p = argparse.ArgumentParser(
        prog="fastinit explain",
        description="Why initialization matters: the scale of activations and gradients through depth under "
                    "each scheme, for a plain MLP, and which scheme to use.")
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS, help="the nonlinearity (default relu)")
    p.add_argument("--negative-slope", type=float, default=0.01, metavar="S", help="leaky_relu's slope (0.01)")
    p.add_argument("--depth", type=int, default=30, help="layers (default 30)")
    p.add_argument("--width", type=int, default=256, help="units per layer (default 256)")
    p.add_argument("--batch", type=int, default=512, help="samples in the random input batch (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.add_argument("--schemes", default=None, metavar="A,B,...",
                   help="comma-separated scheme names (default: " + ",".join(DEFAULT_SCHEMES)
                        + ", plus the recommended one)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--plot", metavar="FILE", help="write a figure (PNG, SVG or PDF by the name; needs matplotlib)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of a --plot bitmap (default 110)")
    p.add_argument("--html", metavar="FILE", help="write a self-contained interactive page")
    p.add_argument("--train", action="store_true",
                   help="also train a 6 x 256 network on scikit-learn's digits, once per scheme (--schemes, or "
                        + ",".join(DEFAULT_TRAIN_SCHEMES) + " plus the recommended one)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the training default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _need(module, what):
    try:
        __import__(module)
    except ImportError:
        print(f"fastinit explain: {what} needs {module}, which is not installed: {EXTRA}", file=sys.stderr)
        return False
    return True


def _schemes(arg, rec, defaults=DEFAULT_SCHEMES):
    """The schemes named by --schemes, or the defaults plus the recommended
    one where none of them draws the same weights."""
    if arg is None:
        names = list(defaults)
        if not any(same_scheme(rec.spec, n) for n in names):
            names.append(rec.spec)
        return names
    names = [s.strip() for s in arg.split(",") if s.strip()]
    if not names:
        raise ValueError("--schemes names no scheme")
    return names


def _check_outputs(args):
    """Everything that could fail after the work, checked before it: sizes,
    the output folders, the figure's format."""
    for name in ("epochs", "dpi"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            raise ValueError(f"--{name} must be positive, got {v}")
    for opt in ("json", "plot", "html"):
        path = getattr(args, opt)
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise ValueError(f"--{opt} {path}: no folder {folder}")
    if args.plot:
        from matplotlib.backend_bases import FigureCanvasBase
        ext = os.path.splitext(args.plot)[1].lstrip(".").lower()
        known = FigureCanvasBase.get_supported_filetypes()
        if ext not in known:
            raise ValueError(f"--plot {args.plot}: the name must end in one of "
                             + ", ".join("." + k for k in sorted(known)))


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.plot and not _need("matplotlib", "--plot"):
        return 1
    if args.train and not _need("sklearn", "--train"):
        return 1
    try:
        _check_outputs(args)
        rec = recommend(args.activation, negative_slope=args.negative_slope)
        schemes = _schemes(args.schemes, rec)
        result = diagnose(args.depth, args.width, args.activation, schemes, batch=args.batch, seed=args.seed,
                          negative_slope=args.negative_slope)
    except (TypeError, ValueError) as e:
        print(f"fastinit explain: {e}", file=sys.stderr)
        return 2
    try:
        return _report_all(args, rec, schemes, result)
    except OSError as e:
        print(f"fastinit explain: {e}", file=sys.stderr)
        return 2


def _report_all(args, rec, schemes, result):
    print(result.table())
    print()
    same = [n for n in schemes if isinstance(n, str) and same_scheme(rec.spec, n)]
    print(f"recommended for {args.activation}: {rec.call}  (gain {rec.gain:.4g}"
          + (f"; the same draws as {same[0]} above" if same and same[0] != rec.scheme else "") + ")")
    print(rec.reason)

    training = None
    if args.train:
        kw = {} if args.epochs is None else {"epochs": args.epochs}
        training = train(args.activation, _schemes(args.schemes, rec, DEFAULT_TRAIN_SCHEMES), seed=args.seed,
                         negative_slope=args.negative_slope, progress=not args.quiet, **kw)
        print()
        print(training.table())

    if args.json:
        data = result.to_dict()
        data["recommendation"] = rec.to_dict()
        if training is not None:
            data["training"] = training.to_dict()
        write_atomic(args.json, json.dumps(data, allow_nan=False, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        plot(result, args.plot, training=training, dpi=args.dpi)
        print(f"wrote {args.plot}")
    if args.html:
        from ._report import write_html
        profiles = {}
        for act in ACTIVATIONS:     # every activation, so that the page can switch between them
            if act == args.activation:
                profiles[act] = result.to_dict()
                continue
            names = _schemes(args.schemes, recommend(act, negative_slope=args.negative_slope))
            profiles[act] = diagnose(args.depth, args.width, act, names, batch=args.batch, seed=args.seed,
                                     negative_slope=args.negative_slope).to_dict()
        write_html(args.html, profiles, None if training is None else {args.activation: training.to_dict()})
        print(f"wrote {args.html}")
    return 0


def plot(result, path, training=None, dpi=110):
    """The depth profiles (activation std and gradient std against layer, log
    scale, one line per scheme) and, with ``training``, the training loss and
    test accuracy per epoch; written to ``path`` atomically (the format from
    its suffix). Returns the matplotlib ``Figure``."""
    import matplotlib
    import matplotlib.ticker
    import numpy as np
    from matplotlib.figure import Figure        # not pyplot: no backend chosen for the caller

    c = result.config
    rows = 2 if training is not None else 1
    fig = Figure(figsize=(12, 4.6 * rows))
    axes = fig.subplots(rows, 2, squeeze=False)
    colors = {}
    for i, name in enumerate(result.schemes):
        colors[name] = matplotlib.colormaps["tab10"](i % 10)
    layers = np.arange(1, c["depth"] + 1)
    for ax, field, label in ((axes[0, 0], "act_std", "std of the activations"),
                             (axes[0, 1], "grad_a_std", "std of the gradient w.r.t. the activations")):
        for name, p in result.items():
            y = np.asarray(p[field], float)
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)   # log scale: zeros and overflow left out
            note = p.verdict + ("; all zero, not drawn" if not np.any(np.asarray(p[field]) != 0) else "")
            ax.plot(layers, y, marker="o", markersize=2.5, color=colors[name], label=f"{name} ({note})")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.grid(True, which="major", alpha=0.3)
    act = c["activation"] + (f" (slope {c['negative_slope']:g})" if c["activation"] == "leaky_relu" else "")
    title = f"{c['depth']} layers x {c['width']} units, {act}: one forward and backward pass, batch {c['batch']}"
    if training is not None:
        t = training.config
        for name in training.schemes:
            r = training[name]
            color = colors.get(name, None)
            epochs = np.arange(1, len(r.loss) + 1)
            loss = np.where(np.isfinite(r.loss) & (r.loss > 0), r.loss, np.nan)   # log scale: 0 left out
            axes[1, 0].plot(epochs, loss, color=color, label=f"{name} ({r.verdict})")
            axes[1, 1].plot(epochs, 100 * np.asarray(r.test_acc), color=color, label=name)
        axes[1, 0].set_yscale("log")
        axes[1, 0].set_xlabel("epoch")
        axes[1, 0].set_ylabel("training loss (cross-entropy)")
        axes[1, 1].set_xlabel("epoch")
        axes[1, 1].set_ylabel("test accuracy (%)")
        axes[1, 1].set_ylim(0, 100)
        for ax in axes[1]:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axes[1, 0].legend(fontsize=8, loc="best")
        for ax in axes[1]:
            ax.grid(True, alpha=0.3)
        title += (f"\ntraining on scikit-learn's digits: {t.get('depth')} x {t.get('width')} "
                  f"{t.get('activation')}, {t.get('epochs')} epochs")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(title)
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(labels) + 2) // 3) / rows, 1, 1))
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
    return fig
