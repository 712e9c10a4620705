"""fastinit._report.write_html: one self-contained HTML page of depth
profiles and training curves.

Without a browser: the file is written atomically, needs no network (no
remote reference of any kind, a Content-Security-Policy that forbids every
fetch and lets only the page's own script and style run), parses, and embeds
the data safely. With headless Chromium (skipped only where none is
installed): two states set by the URL fragment render the SVG series of
exactly the schemes chosen, and their screenshots are neither blank nor
alike. Set FASTINIT_REPORT_SHOTS=<folder> to keep the screenshots.
"""
import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

import fastinit
from fastinit import _report
from fastinit._diagnose import ACTIVATIONS
from fastinit._report import write_html

SCHEMES = ["zeros", "normal_0.01", "normal_1", "xavier_normal", "he_normal", "lecun_normal"]
NASTY = "</script><script>alert(1)</script><!-- & </SCRIPT > \u2028"



# ---------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def profiles():
    """Real depth profiles for every activation (64 units: at 128 a busy
    machine's threaded BLAS takes seconds), with a few overflowed (None)
    figures in relu's normal_1, as a deeper network would give."""
    out = {a: fastinit.diagnose(20, 64, a, SCHEMES, batch=64).to_dict() for a in ACTIVATIONS}
    n1 = out["relu"]["schemes"]["normal_1"]
    n1["act_std"][-3:] = [None, None, None]
    n1["grad_a_std"][:2] = [None, None]
    n1["grad_w_std"][:2] = [None, None]
    return out


def _run_dict(kind, epochs, k):
    """One scheme's training result, by hand: plausible curves of a kind."""
    e = np.arange(epochs)
    if kind == "learns":
        loss = (2.3 * np.exp(-(0.25 + 0.05 * k) * e) + 0.1).tolist()
        acc = (0.97 - 0.6 * np.exp(-(0.35 + 0.05 * k) * e)).tolist()
        summary = "the loss falls steadily and the test accuracy follows"
    elif kind == "slow":
        loss = (2.3 - 0.04 * e).tolist()
        acc = (0.1 + 0.02 * e).tolist()
        summary = "the loss hardly moves: the first layers get almost no gradient"
    elif kind == "stuck":
        loss = [2.3026] * epochs
        acc = [0.1] * epochs
        summary = "every unit stays identical, so the network never beats chance"
    else:
        loss = [2.3, 7.9, 310.0, 8.1e7] + [None] * (epochs - 4)
        acc = [0.1, 0.11, 0.1, 0.1] + [None] * (epochs - 4)
        summary = "the loss overflows in the fifth epoch"
    return {"loss": loss, "train_acc": [None if a is None else min(1.0, a + 0.01) for a in acc], "test_acc": acc,
            "diverged": kind == "diverged", "verdict": kind, "summary": summary}


def _training(activations=("relu", "tanh"), epochs=12):
    kinds = {"zeros": "stuck", "normal_0.01": "slow", "normal_1": "diverged", "xavier_normal": "learns",
             "he_normal": "learns", "lecun_normal": "learns"}
    return {a: {"config": {"depth": 20, "width": 64, "activation": a, "epochs": epochs, "dataset": "digits",
                           "lr": 0.05, "batch": 64},
                "schemes": {s: _run_dict(kind, epochs, k) for k, (s, kind) in enumerate(kinds.items())}}
            for a in activations}


@pytest.fixture(scope="module")
def training():
    t = _training()
    t["tanh"]["schemes"]["zeros"]["summary"] = "stuck " + NASTY
    return t


@pytest.fixture(scope="module")
def page(profiles, training, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert write_html(path, profiles, training, title="Init <matters> & more") == os.fspath(path)
    return path


class _Doc(HTMLParser):
    """Elements (tag, attrs, text inside) with an open/close balance check."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "area", "base", "col", "embed",
            "param", "track"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self.stack, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(el)
        if tag not in self.VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1]["tag"] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1]['tag'] if self.stack else 'nothing'}")
            while self.stack and self.stack[-1]["tag"] != tag:
                self.stack.pop()
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for el in self.elements:
            a = el["attrs"]
            if tag and el["tag"] != tag:
                continue
            if cls and cls not in (a.get("class") or "").split():
                continue
            if any(a.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(el)
        return out


def _parse(text):
    doc = _Doc()
    doc.feed(text)
    doc.close()
    return doc


def _embedded(text):
    doc = _parse(text)
    (data,) = doc.find("script", id="fastinit-data")
    return json.loads(data["text"])


# ---------------------------------------------------------------------------- without a browser

def test_page_is_written_and_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert len(text) > 20_000
    # no remote reference of any kind: not even a namespace URL
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"(?i)\b(src|href|action|poster|data)\s*=\s*[\"']?\s*(//|[a-z][a-z0-9+.-]*:)", text)
    assert "@import" not in text and "url(" not in text.lower()
    assert "<link" not in text.lower() and "<img" not in text.lower() and "<iframe" not in text.lower()
    doc = _parse(text)
    for el in doc.elements:
        for k in ("src", "href"):
            v = el["attrs"].get(k)
            assert v is None or v.startswith("#"), (el["tag"], k, v)
    # and the browser is told so: nothing may be fetched
    (csp,) = doc.find("meta", http_equiv="Content-Security-Policy")
    assert "default-src 'none'" in csp["attrs"]["content"]
    assert "unsafe" not in csp["attrs"]["content"]


def test_page_parses_and_embeds_the_data(page, profiles, training):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    doc = _parse(text)
    assert not doc.errors and not doc.stack, (doc.errors, [e["tag"] for e in doc.stack])
    assert doc.find("title")[0]["text"] == "Init <matters> & more"
    assert "Init &lt;matters&gt; &amp; more" in text
    data = _embedded(text)
    assert data["profiles"] == json.loads(json.dumps(profiles))
    assert data["training"] == json.loads(json.dumps(training))
    assert data["activations"] == list(ACTIVATIONS)
    assert data["schemes"] == SCHEMES
    assert data["profiles"]["relu"]["schemes"]["normal_1"]["act_std"][-1] is None
    # every element the script looks up by id is in the page
    (script,) = [s for s in doc.find("script") if "type" not in s["attrs"]]
    ids = {e["attrs"]["id"] for e in doc.elements if "id" in e["attrs"]}
    wanted = set(re.findall(r"\$\(\"([a-z0-9-]+)\"\)", script["text"]))
    assert wanted and wanted <= ids, wanted - ids


def test_csp_hashes_allow_exactly_the_inline_script_and_style(page):
    text = page.read_text(encoding="utf-8")
    doc = _parse(text)
    csp = doc.find("meta", http_equiv="Content-Security-Policy")[0]["attrs"]["content"]
    policy = dict(p.strip().split(" ", 1) for p in csp.split(";") if p.strip())

    def digest(body):
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
    (script,) = re.findall(r"<script>(.*?)</script>", text, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert policy["script-src"] == digest(script)
    assert policy["style-src"] == digest(style)


def test_data_is_safe_inside_script(tmp_path):
    prof = {"tanh": {"config": {"depth": 2, "width": 4, "activation": "tanh", "note": NASTY},
                     "schemes": {NASTY: {"act_std": [1.0, 0.5], "grad_a_std": [0.5, 1.0], "grad_w_std": [1, 2],
                                         "verdict": "stable", "summary": NASTY}}}}
    path = tmp_path / "nasty.html"
    write_html(path, prof, title=NASTY)
    text = path.read_text(encoding="utf-8")
    assert len(re.findall(r"(?i)</script", text)) == 2          # the page's own two
    scripts = "".join(re.findall(r"(?s)<script[^>]*>(.*?)</script>", text))
    assert "<!--" not in scripts and "\u2028" not in scripts
    (raw,) = re.findall(r'(?s)<script type="application/json" id="fastinit-data">(.*?)</script>', text)
    assert not set("<>&") & set(raw) and raw.isascii()
    data = _embedded(text)
    assert list(data["profiles"]["tanh"]["schemes"]) == [NASTY]
    assert data["profiles"]["tanh"]["schemes"][NASTY]["summary"] == NASTY
    assert data["profiles"]["tanh"]["config"]["note"] == NASTY


def test_inputs_results_numpy_and_non_finite(tmp_path):
    diag = fastinit.diagnose(6, 16, "relu", ["zeros", "he_normal"], batch=32)
    prof = {"relu": diag,                                        # a Diagnosis, not its dict
            "linear": {"config": {"depth": 3}, "schemes": {"he_normal": {
                "act_std": np.array([1.0, np.inf, np.nan]), "grad_a_std": [np.float32(2.0), float("inf"), 1],
                "grad_w_std": (1, 2, 3), "verdict": "explodes", "summary": "grows"}}}}
    path = write_html(pathlib.Path(tmp_path) / "r.html", prof)
    data = _embedded(pathlib.Path(path).read_text(encoding="utf-8"))
    assert data["profiles"]["relu"] == json.loads(diag.to_json())
    assert data["profiles"]["linear"]["schemes"]["he_normal"]["act_std"] == [1.0, None, None]
    assert data["profiles"]["linear"]["schemes"]["he_normal"]["grad_a_std"] == [2.0, None, 1]
    assert data["training"] is None and data["schemes"] == ["zeros", "he_normal"]
    # training only, for an activation the profiles lack
    path = write_html(tmp_path / "t.html", {}, _training(("gelu",), epochs=5))
    data = _embedded(pathlib.Path(path).read_text(encoding="utf-8"))
    assert data["activations"] == ["gelu"] and data["profiles"] == {}
    with pytest.raises(ValueError, match="nothing to report"):
        write_html(tmp_path / "e.html", {})
    with pytest.raises(TypeError, match="profiles must map"):
        write_html(tmp_path / "e.html", [diag])
    with pytest.raises(TypeError, match="schemes"):
        write_html(tmp_path / "e.html", {"relu": {"config": {}}})
    with pytest.raises(TypeError, match="cannot go into the report"):
        write_html(tmp_path / "e.html", {"relu": {"schemes": {"a": {"act_std": [object()]}}}})
    assert not (tmp_path / "e.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "t.html"]


def _leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_write_is_atomic(tmp_path, monkeypatch):
    prof = {"relu": fastinit.diagnose(4, 8, "relu", ["he_normal"], batch=16).to_dict()}
    path = tmp_path / "report.html"
    write_html(path, prof)
    first = path.read_bytes()
    assert first and _leftovers(tmp_path, {"report.html"}) == []
    write_html(path, prof, title="second")
    assert b"second" in path.read_bytes() and _leftovers(tmp_path, {"report.html"}) == []
    before = path.read_bytes()

    # a disk that fills up half-way through the write
    real_fdopen = os.fdopen

    class HalfWrite:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, b):
            self.f.write(b[: len(b) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(_report.os, "fdopen", lambda fd, mode: HalfWrite(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        write_html(path, prof, title="third")
    assert path.read_bytes() == before                          # the previous report intact
    fresh = tmp_path / "fresh.html"
    with pytest.raises(OSError, match="No space"):
        write_html(fresh, prof)
    assert not fresh.exists()                                   # no partial file
    assert _leftovers(tmp_path, {"report.html"}) == []          # no temporary file left
    monkeypatch.undo()

    # and a failure at the rename itself
    def no_replace(src, dst):
        raise PermissionError("rename refused")
    monkeypatch.setattr(_report.os, "replace", no_replace)
    with pytest.raises(PermissionError):
        write_html(path, prof, title="fourth")
    monkeypatch.undo()
    assert path.read_bytes() == before and _leftovers(tmp_path, {"report.html"}) == []
    # a directory in the way: nothing left behind either
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(OSError):
        write_html(tmp_path / "dir.html", prof)
    assert _leftovers(tmp_path, {"report.html", "dir.html"}) == []


# ---------------------------------------------------------------------------- headless Chromium

def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = _browser()
    if exe is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH")
    return exe, tmp_path_factory.mktemp("chromium")


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
         "--force-color-profile=srgb", "--force-device-scale-factor=1", "--virtual-time-budget=5000"]


def _chromium(browser, url, *args):
    exe, base = browser
    home = base / f"home{len(list(base.iterdir()))}"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    cmd = [exe, *FLAGS, f"--user-data-dir={home / 'profile'}", *args, url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    assert r.returncode == 0, (cmd, r.stderr[-3000:])
    return r.stdout


STATES = {
    "relu": ("#activation=relu&schemes=he_normal,normal_1", "relu", ["normal_1", "he_normal"], "a"),
    "tanh": ("#activation=tanh&schemes=zeros,xavier_normal", "tanh", ["zeros", "xavier_normal"], "a"),
    # encoded names, an unknown one ignored, the weight gradient
    "gelu": ("#activation=gelu&schemes=lecun%5Fnormal,bogus,%3Cscript%3E,normal_0.01&grad=w", "gelu",
             ["normal_0.01", "lecun_normal"], "w"),
}


@pytest.fixture(scope="module")
def rendered(browser, page):
    out = {}
    shots = os.environ.get("FASTINIT_REPORT_SHOTS")
    for key, (frag, *_rest) in STATES.items():
        url = page.as_uri() + frag
        dom = _chromium(browser, url, "--dump-dom")
        png = None
        if key != "gelu":
            png = browser[1] / f"{key}.png"
            _chromium(browser, url, "--window-size=1200,1600", f"--screenshot={png}")
            assert png.exists(), png
            if shots:
                os.makedirs(shots, exist_ok=True)
                shutil.copy(png, os.path.join(shots, f"{key}.png"))
        out[key] = (_parse(dom), dom, png)
    return out


def _series(doc):
    return {(e["attrs"]["data-chart"], e["attrs"]["data-scheme"]): e["attrs"].get("d", "")
            for e in doc.find("path", cls="series")}


@pytest.mark.parametrize("key", list(STATES))
def test_fragment_sets_the_state(rendered, training, key):
    frag, act, schemes, grad = STATES[key]
    doc, dom, _ = rendered[key]
    (body,) = doc.find("body")
    assert body["attrs"].get("data-rendered") == f"activation={act};schemes={','.join(schemes)};grad={grad}"
    charts = ["act", "grad"] + (["loss", "acc"] if act in training else [])
    series = _series(doc)
    assert set(series) == {(c, s) for c in charts for s in schemes}
    assert len(doc.find("path", cls="series")) == len(series)   # one line per chart and scheme
    for (chart, scheme), d in series.items():
        assert d.startswith("M") and len(d) > 20, (chart, scheme, d)
        assert not re.search(r"NaN|Infinity|undefined", d), (chart, scheme, d)
    (grad_fig,) = doc.find("figure", id="chart-grad")
    assert grad_fig["attrs"]["data-field"] == ("grad_w_std" if grad == "w" else "grad_a_std")
    # the controls and the explanations follow the state
    assert sorted(e["attrs"]["data-scheme"] for e in doc.find("label", cls="chip") if "on" in e["attrs"]["class"].split()) == sorted(schemes)
    assert [e["attrs"]["data-scheme"] for e in doc.find("article", cls="scheme-card")] == schemes
    assert doc.find("h2", id="profile-title")[0]["text"] == f"20 layers \u00d7 64 units, {act}"
    # the page rewrites the fragment in its own form, to be shared
    (link,) = doc.find("a", id="permalink")
    want = f"#activation={act}&schemes={','.join(schemes)}" + ("&grad=w" if grad == "w" else "")
    assert link["attrs"]["href"] == want
    assert len(doc.find("script")) == 2 and "<script>alert" not in dom


def test_states_differ_as_chosen(rendered):
    relu, tanh = rendered["relu"][0], rendered["tanh"][0]
    assert {s for _, s in _series(relu)} == {"normal_1", "he_normal"}
    assert {s for _, s in _series(tanh)} == {"zeros", "xavier_normal"}
    # relu's normal_1 overflows (None): marked in the top strip, not dropped
    high = {(e["attrs"]["data-scheme"]) for e in relu.find("circle", cls="clip-mark", data_clip="high")}
    assert high == {"normal_1"}
    assert len(relu.find("circle", cls="clip-mark", data_clip="high")) >= 3 + 2 + 8   # act, grad, loss (NaN after divergence)
    assert relu.find("path", cls="diverged-mark", data_scheme="normal_1")
    # tanh's zeros are exactly 0: in the bottom strip of the log charts
    low = tanh.find("circle", cls="clip-mark", data_clip="low")
    assert {e["attrs"]["data-scheme"] for e in low} == {"zeros"} and len(low) >= 20
    assert not tanh.find("path", cls="diverged-mark")
    # the nasty summary shows as text, not markup
    (card,) = tanh.find("article", cls="scheme-card", data_scheme="zeros")
    assert NASTY.strip().replace("\u2028", "") in card["text"].replace("\u2028", "")


def _rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def _count_near(img, rgb, tol=6):
    a = np.asarray(img, dtype=np.int16)
    return int(np.all(np.abs(a - np.array(rgb, np.int16)) <= tol, axis=-1).sum())


def test_screenshots_are_drawn_and_differ(rendered, page):
    Image = pytest.importorskip("PIL.Image")
    # the scheme colours: the page's palette in the order the schemes first appear
    palette = re.search(r"var PALETTE = \[([^\]]*)\]", page.read_text(encoding="utf-8")).group(1)
    COLORS = dict(zip(SCHEMES, (_rgb(c) for c in re.findall(r"#[0-9a-f]{6}", palette))))
    imgs = {k: Image.open(rendered[k][2]).convert("RGB") for k in ("relu", "tanh")}
    for key, img in imgs.items():
        assert img.size == (1200, 1600)
        a = np.asarray(img)
        packed = (a[..., 0].astype(np.int32) << 16) | (a[..., 1].astype(np.int32) << 8) | a[..., 2]
        colors = len(np.unique(packed))
        assert colors > 300, (key, colors)
        bg = np.array(a[2, 2], np.int16)                              # the page background
        ink = np.any(np.abs(a.astype(np.int16) - bg) > 40, axis=-1).mean()   # lines and text, not panels
        assert ink > 0.02, (key, ink)
    # each state draws its own schemes' colours, and not the others'
    relu, tanh = imgs["relu"], imgs["tanh"]
    for name in ("normal_1", "he_normal"):
        assert _count_near(relu, COLORS[name]) > 400, name
        assert _count_near(tanh, COLORS[name]) < 60, name
    for name in ("zeros", "xavier_normal"):
        assert _count_near(tanh, COLORS[name]) > 400, name
        assert _count_near(relu, COLORS[name]) < 60, name
    diff = np.any(np.asarray(relu, np.int16) != np.asarray(tanh, np.int16), axis=-1).mean()
    assert diff > 0.02, diff
