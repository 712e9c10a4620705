"""The lottery ticket on scikit-learn's digits: iterative magnitude pruning with rewinding.

An MLP 64-300-100-10 (the lottery-ticket paper's LeNet-300-100, for 8x8 images)
is initialized through fastinit.torch (under ``patch()``, so every parameter has
an init record), trained, and pruned for ``rounds`` rounds; each round prunes
20 % of the surviving weights of each layer (``prune_(..., masks=previous)``)
and rewinds the survivors, and every bias, to their initial values
(``rewind_`` with the init records: no copy of the initial weights is kept),
then trains again. Per round it measures the test accuracy of

- the ticket: pruned, rewound to init, retrained;
- the random re-initialization control: the same masks over a fresh draw of
  the same init distributions (``reinit_``), retrained the same way;
- the dense network (round 0: no pruning).

All seeds are fixed (the run is repeatable bit for bit on one machine); the
accuracies are averaged over ``seeds``. Writes a figure (docs/img/lottery_digits.png
by default) and prints a table.

    python examples/lottery_digits.py [--rounds 5] [--epochs 40] [--seeds 0 1 2 3 4]
"""
import argparse
import copy
import pathlib

import numpy as np
import torch
from torch import nn

import fastinit.torch as ft

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "docs" / "img" / "lottery_digits.png"


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def load_data():
    """scikit-learn's bundled 8x8 digits (1797 images, no download), scaled to [0, 1],
    split 70/30 stratified with a fixed seed (the same split for every run)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return (torch.from_numpy(xtr), torch.from_numpy(ytr)), (torch.from_numpy(xte), torch.from_numpy(yte))


def train(model, data, masks, *, epochs, seed, lr=1.2e-3, batch=60):
    """Adam (the paper's rate for LeNet-300-100) on shuffled minibatches; the pruned
    weights are set back to zero after every step."""
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if masks:
                ft.apply_masks_(model, masks)
    return model


@torch.no_grad()
def accuracy(model, data):
    x, y = data
    return float((model(x).argmax(1) == y).float().mean())


def one_seed(seed, train_data, test_data, *, rounds, epochs, amount=0.2):
    """[(fraction of weights remaining, ticket accuracy, control accuracy)] per round,
    round 0 being the dense network (ticket = control = dense there)."""
    torch.manual_seed(seed)
    with ft.patch():
        model = MLP()
    records = ft.init_records(model)                     # right after init: a few hundred bytes each
    everything = {n: torch.ones(p.shape, dtype=torch.bool) for n, p in model.named_parameters()}
    train(model, train_data, None, epochs=epochs, seed=seed)
    dense = accuracy(model, test_data)
    rows, masks = [(1.0, dense, dense)], None
    for r in range(1, rounds + 1):
        masks = ft.prune_(model, amount, scope="layer", masks=masks)     # 20 % of the survivors
        keep = everything | masks                                         # biases are rewound too
        control = copy.deepcopy(model)
        ft.rewind_(model, keep, records=records)                          # the ticket: back to init
        ft.reinit_(control, keep, seed=1_000_003 * (seed + 1) + r, records=records)   # same masks, fresh init
        train(model, train_data, masks, epochs=epochs, seed=seed)
        train(control, train_data, masks, epochs=epochs, seed=seed)
        remaining = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
        rows.append((remaining, accuracy(model, test_data), accuracy(control, test_data)))
    return rows, dense


def figure(results, path):
    """Accuracy against the fraction of weights remaining, mean and spread over seeds."""
    from matplotlib.figure import Figure

    remaining = results["remaining"] * 100
    fig = Figure(figsize=(6.4, 4.2), dpi=120)
    ax = fig.add_subplot()
    dense = results["dense"] * 100
    ax.axhline(dense.mean(), color="0.4", ls="--", lw=1, label=f"dense ({dense.mean():.2f} %)")
    ax.axhspan(dense.mean() - dense.std(), dense.mean() + dense.std(), color="0.85", lw=0)
    for key, label, color in (("ticket", "ticket: pruned, rewound to init", "C0"),
                              ("control", "control: same masks, fresh init", "C3")):
        acc = results[key] * 100
        ax.errorbar(remaining, acc.mean(0), yerr=acc.std(0), color=color, marker="o", ms=4, capsize=3,
                    label=label)
    ax.set_xlim(remaining.max() + 3, remaining.min() - 3)
    ax.set_xlabel("weights remaining in the pruned layers (%)")
    ax.set_ylabel("test accuracy (%)")
    n = results["ticket"].shape[0]
    ax.set_title(f"MLP 64-300-100-10 on digits: IMP, 20 % per round, {n} seed{'s' if n > 1 else ''}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def main(rounds=5, epochs=40, seeds=(0, 1, 2, 3, 4), out=DEFAULT_OUT, quiet=False):
    """Run every seed, write the figure to ``out`` (None: no figure), print the table;
    returns {'remaining': (rounds+1,), 'ticket', 'control': (seeds, rounds+1), 'dense': (seeds,)}."""
    train_data, test_data = load_data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # a small MLP: one thread is fastest, and the timing steadiest
    try:
        per_seed = [one_seed(s, train_data, test_data, rounds=rounds, epochs=epochs) for s in seeds]
    finally:
        torch.set_num_threads(threads)
    results = {
        "remaining": np.array([r[0] for r in per_seed[0][0]]),
        "ticket": np.array([[r[1] for r in rows] for rows, _ in per_seed]),
        "control": np.array([[r[2] for r in rows] for rows, _ in per_seed]),
        "dense": np.array([d for _, d in per_seed]),
    }
    if not quiet:
        print(f"seeds {list(seeds)}, {epochs} epochs per training, test accuracy % (mean +- std over seeds)")
        print(f"{'round':>5} {'remaining':>9} {'ticket':>14} {'random re-init':>15} {'dense':>14}")
        d = results["dense"] * 100
        for r, rem in enumerate(results["remaining"]):
            t, c = results["ticket"][:, r] * 100, results["control"][:, r] * 100
            print(f"{r:>5} {rem * 100:>8.1f}% {t.mean():>8.2f} +- {t.std():4.2f} {c.mean():>9.2f} +- {c.std():4.2f}"
                  f" {d.mean():>8.2f} +- {d.std():4.2f}")
    if out is not None:
        path = figure(results, out)
        if not quiet:
            print(f"wrote {path}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    main(args.rounds, args.epochs, tuple(args.seeds), args.out)
