"""The `fastinit explain` command: table, recommendation, --json, --plot, and
what it says without matplotlib."""
import builtins
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastinit
from fastinit import explain

from _stats import fresh_seed


def _run(capsys, *argv):
    rc = explain.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_table_and_recommendation(capsys):
    seed = fresh_seed() % 1000
    rc, out, _ = _run(capsys, "--activation", "tanh", "--depth", "8", "--width", "32", "--batch", "64",
                      "--seed", str(seed))
    assert rc == 0
    assert "8 layers of 32 units, tanh" in out
    for name in ("zeros", "normal_0.01", "normal_1", "lecun_normal", "xavier_normal", "he_normal",
                 "xavier_uniform(gain=1.6666666666666667)"):
        assert f"\n{name} " in out or f"\n{name}:" in out, name
    assert "recommended for tanh: fastinit.xavier_uniform_(w, gain=1.6666666666666667)" in out
    assert fastinit.recommend("tanh").reason in out
    # the figures printed are diagnose's
    r = fastinit.diagnose(8, 32, "tanh", ["he_normal"], batch=64, seed=seed)
    assert f"{r['he_normal'].act_std[-1]:.3g}" in out


def test_recommended_scheme_is_not_listed_twice(capsys):
    rc, out, _ = _run(capsys, "--depth", "4", "--width", "16", "--batch", "8")
    assert rc == 0
    assert "kaiming_normal(" not in out                  # relu: He normal is already in the list
    assert "the same draws as he_normal above" in out
    rc, out, _ = _run(capsys, "--activation", "selu", "--depth", "4", "--width", "16", "--batch", "8")
    assert rc == 0 and "recommended for selu: fastinit.lecun_normal_(w)" in out


def test_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    js, png, svg = tmp_path / "out.json", tmp_path / "out.png", tmp_path / "out.svg"
    rc, out, _ = _run(capsys, "--activation", "leaky_relu", "--negative-slope", "0.2", "--depth", "12",
                      "--width", "24", "--batch", "32", "--schemes", "zeros,normal_1,he_normal,kaiming_uniform_",
                      "--json", str(js), "--plot", str(png))
    assert rc == 0 and f"wrote {js}" in out and f"wrote {png}" in out
    data = json.loads(js.read_text())
    assert data["config"]["activation"] == "leaky_relu" and data["config"]["negative_slope"] == 0.2
    assert list(data["schemes"]) == ["zeros", "normal_1", "he_normal", "kaiming_uniform_"]
    assert len(data["schemes"]["he_normal"]["act_std"]) == 12
    assert data["recommendation"]["kwargs"] == {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}
    want = fastinit.diagnose(12, 24, "leaky_relu", ["he_normal"], batch=32, negative_slope=0.2)
    assert data["schemes"]["he_normal"]["act_std"] == want["he_normal"].act_std.tolist()
    # a real PNG with something drawn on it
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    import matplotlib.image
    img = matplotlib.image.imread(str(png))
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert len(np.unique(img.reshape(-1, img.shape[-1])[:, :3], axis=0)) > 50     # lines in several colours
    # the format from the name
    rc, _, _ = _run(capsys, "--depth", "3", "--width", "8", "--batch", "8", "--plot", str(svg))
    assert rc == 0 and svg.read_text().lstrip().startswith("<?xml")
    assert sorted(os.listdir(tmp_path)) == ["out.json", "out.png", "out.svg"]   # no temporary files left
    umask = os.umask(0)
    os.umask(umask)
    for f in (js, png, svg):
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f          # a new file's, not mkstemp's 0600


def _hide(monkeypatch, module):
    """Imports of module (and its submodules) fail, as where it is not installed."""
    real = builtins.__import__

    def importer(name, *a, **k):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named '{module}'")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", importer)


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    _hide(monkeypatch, "matplotlib")
    rc, out, err = _run(capsys, "--depth", "3", "--width", "8", "--plot", str(tmp_path / "x.png"))
    assert rc != 0
    assert 'pip install "fastinit[explain]"' in err and "matplotlib" in err
    assert out == ""                                     # nothing computed before saying so
    assert not (tmp_path / "x.png").exists()


def test_bad_arguments(capsys):
    rc, _, err = _run(capsys, "--schemes", "he_normal,glorot", "--depth", "3", "--width", "8")
    assert rc == 2 and "unknown scheme 'glorot'" in err
    rc, _, err = _run(capsys, "--depth", "0")
    assert rc == 2 and "depth" in err
    with pytest.raises(SystemExit):
        explain.main(["--activation", "swish"])
    assert "invalid choice: 'swish'" in capsys.readouterr().err


def test_python_dash_m_and_the_console_command(tmp_path):
    for cmd in ([sys.executable, "-m", "fastinit", "explain"], ["fastinit", "explain"]):
        if cmd[0] == "fastinit":
            exe = os.path.join(os.path.dirname(sys.executable), "fastinit")
            if not os.path.exists(exe):
                continue
            cmd = [exe, "explain"]
        p = subprocess.run(cmd + ["--depth", "3", "--width", "8", "--batch", "8"], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)        # not the source tree: the installed package
        assert p.returncode == 0, p.stderr
        assert "recommended for relu" in p.stdout


def test_train_html_json_and_plot_together(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    js, png, page = tmp_path / "t.json", tmp_path / "t.png", tmp_path / "r.html"
    rc, out, err = _run(capsys, "--activation", "tanh", "--depth", "4", "--width", "16", "--batch", "16",
                        "--train", "--epochs", "1", "--quiet", "--json", str(js), "--plot", str(png),
                        "--html", str(page))
    assert rc == 0, err
    assert err == ""                                    # --quiet: no progress bar
    assert "6 hidden layers of 256 units, tanh" in out   # the training table
    data = json.loads(js.read_text())
    # the training defaults plus the recommended scheme, which none of them equals for tanh
    assert list(data["training"]["schemes"]) == list(fastinit.explain.DEFAULT_TRAIN_SCHEMES) + [
        "xavier_uniform(gain=1.6666666666666667)"]
    assert len(data["training"]["schemes"]["he_normal"]["test_acc"]) == 1
    import matplotlib.image
    img = matplotlib.image.imread(str(png))
    assert img.shape[0] > 600                           # two rows of panels: profiles and training
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and len(html) > 20_000
    import re
    embedded = json.loads(re.search(r'<script type="application/json" id="fastinit-data">(.*?)</script>',
                                    html, re.S).group(1))
    assert json.dumps(embedded).count('"act_std"') >= 7 * 6     # every activation's profiles, to switch between
    assert embedded["training"]["tanh"]["schemes"]["he_normal"]["test_acc"] == \
        data["training"]["schemes"]["he_normal"]["test_acc"]     # and the training curves


def test_plot_has_labels_legend_and_title(tmp_path):
    pytest.importorskip("matplotlib")
    r = fastinit.diagnose(7, 16, "tanh", ["zeros", "normal_1", "xavier_normal"], batch=8)
    fig = explain.plot(r, tmp_path / "p.png")
    top = fig.axes[:2]
    assert [ax.get_xlabel() for ax in top] == ["layer", "layer"]
    assert top[0].get_ylabel() == "std of the activations"
    assert "gradient" in top[1].get_ylabel()
    assert all(ax.get_yscale() == "log" for ax in top)
    assert fig._suptitle.get_text().startswith("7 layers x 16 units, tanh")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"{n} ({r[n].verdict}" + ("; all zero, not drawn)" if n == "zeros" else ")")
                      for n in r.schemes]
    for ax in top:                                   # one line per scheme, with the profile's values
        lines = {l.get_label().split(" (")[0]: l for l in ax.get_lines()}
        assert set(lines) == set(r.schemes)
    np.testing.assert_array_equal(lines["normal_1"].get_ydata(), r["normal_1"].grad_a_std)


def test_bad_outputs_fail_before_the_work(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    for argv, word in ((["--json", str(tmp_path / "no" / "x.json")], "no folder"),
                       (["--plot", str(tmp_path / "x.xyz")], ".png"),
                       (["--html", str(tmp_path / "no" / "r.html")], "no folder"),
                       (["--epochs", "0"], "--epochs"), (["--dpi", "0"], "--dpi")):
        rc, out, err = _run(capsys, "--depth", "3", "--width", "8", *argv)
        assert rc == 2 and word in err and out == "", (argv, err)
    assert os.listdir(tmp_path) == []


def test_train_without_sklearn_says_how_to_get_it(capsys, monkeypatch):
    _hide(monkeypatch, "sklearn")
    rc, out, err = _run(capsys, "--depth", "3", "--width", "8", "--train")
    assert rc != 0 and 'pip install "fastinit[explain]"' in err and "sklearn" in err and out == ""
