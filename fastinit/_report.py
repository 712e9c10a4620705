"""Why initialization matters, shown: one self-contained HTML page
(``write_html``) with the depth profiles of ``fastinit.diagnose`` and, when
given, the training curves of the same network under each scheme.

The page needs no network at all: its style, its script and its data are
inline, the charts are SVG drawn in the browser by that script from the
embedded JSON, and a Content-Security-Policy forbids every fetch (only the
page's own script and style, by hash, may run). The view (activation, schemes,
gradient) can be set by the address's fragment, e.g.
``report.html#activation=tanh&schemes=zeros,xavier_normal``, and the controls
keep the fragment up to date, so a view can be shared as a link.
"""
import base64
import errno
import hashlib
import html
import json
import math
import numbers
import os
import secrets
from collections.abc import Mapping

__all__ = ["write_html"]

DEFAULT_TITLE = "Why initialization matters"


def write_html(path, profiles, training=None, *, title=None):
    """Write one self-contained HTML report of depth profiles (and training
    curves) per activation and scheme.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. Written under a temporary name in the same
        directory and renamed into place when complete, so an interrupted
        write never leaves a partial file (and keeps a previous one intact).
    profiles : mapping
        Activation name -> a ``fastinit.diagnose(...)`` result or its
        ``to_dict()``: ``{"config": {...}, "schemes": {label: {"act_std":
        [...], "grad_a_std": [...], "grad_w_std": [...], "verdict": str,
        "summary": str, ...}}}``. ``None`` (or NaN, inf) stands for an
        overflowed figure.
    training : mapping, optional
        Activation name -> a training result or its ``to_dict()``:
        ``{"config": {...}, "schemes": {label: {"loss": [...], "train_acc":
        [...], "test_acc": [...], "diverged": bool, "verdict": str,
        "summary": str}}}``, one value per epoch.
    title : str, optional
        The page's title (default "Why initialization matters").

    Returns
    -------
    str
        ``path``.

    The page shows, for the activation chosen, the std of the activations and
    of the gradient (with respect to the activations or the weights) against
    the layer on a log scale, one line per scheme, the loss and accuracy per
    epoch when ``training`` has that activation, and each scheme's verdict.
    Its state can be set by the fragment
    ``#activation=<name>&schemes=<a>,<b>&grad=a|w`` (names URL-encoded,
    unknown ones ignored).
    """
    data = _payload(profiles, training)
    page = _render(data, DEFAULT_TITLE if title is None else str(title))
    write_atomic(path, page)
    return os.fspath(path)


# ---------------------------------------------------------------------------- data

def _jsonable(v, where):
    """v as plain JSON values: non-finite numbers become None, arrays lists."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x, f"{where}[{k!r}]") for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, where) for x in v]
    if hasattr(v, "tolist"):                     # NumPy arrays and scalars
        return _jsonable(v.tolist(), where)
    raise TypeError(f"{where}: a {type(v).__name__} cannot go into the report")


def _results(arg, name):
    """{activation: {"config": {...}, "schemes": {label: {...}}}} from a mapping of results or dicts."""
    if arg is None:
        return {}
    if not isinstance(arg, Mapping):
        raise TypeError(f"{name} must map activation names to results, got {type(arg).__name__}")
    out = {}
    for act, res in arg.items():
        if not isinstance(act, str):
            raise TypeError(f"{name}: activation names are strings, got {act!r}")
        if hasattr(res, "to_dict") and not isinstance(res, Mapping):
            res = res.to_dict()
        if not isinstance(res, Mapping) or not isinstance(res.get("schemes"), Mapping):
            raise TypeError(f"{name}[{act!r}] must be a result or its to_dict() "
                            f"(a mapping with a 'schemes' mapping)")
        res = _jsonable(res, f"{name}[{act!r}]")
        for label, sch in res["schemes"].items():
            if not isinstance(sch, dict):
                raise TypeError(f"{name}[{act!r}]['schemes'][{label!r}] must be a mapping")
        if not isinstance(res.get("config"), dict):
            res["config"] = {}
        out[act] = {"config": res["config"], "schemes": res["schemes"]}
    return out


def _payload(profiles, training):
    prof = _results(profiles, "profiles")
    train = _results(training, "training")
    if not prof and not train:
        raise ValueError("nothing to report: profiles (and training) are empty")
    activations = list(prof) + [a for a in train if a not in prof]
    schemes = []
    for act in activations:
        for src in (prof, train):
            for label in src.get(act, {}).get("schemes", {}):
                if label not in schemes:
                    schemes.append(label)
    try:
        import fastinit
        version = fastinit.__version__
    except Exception:  # pragma: no cover - the report does not need it
        version = ""
    return {"activations": activations, "schemes": schemes, "profiles": prof,
            "training": train if training is not None else None, "version": version}


def _script_json(obj):
    """JSON that is safe inside a <script> element: no '<', '>' or '&' (so no
    '</script>' nor '<!--'), ASCII only (so no U+2028 / U+2029)."""
    s = json.dumps(obj, allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha256(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _render(data, title):
    script = _SCRIPT
    style = _STYLE
    csp = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
           f"img-src 'none'; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'")
    page = _PAGE
    for token, value in (("%%CSP%%", csp), ("%%TITLE%%", html.escape(title)),
                         ("%%STYLE%%", style), ("%%SCRIPT%%", script),
                         ("%%VERSION%%", html.escape(data["version"]))):
        page = page.replace(token, value)
    # the data last: nothing in it can be mistaken for a token
    return page.replace("%%DATA%%", _script_json(data))


# ---------------------------------------------------------------------------- writing

def write_atomic(path, data):
    """data (str as UTF-8, bytes, or a callable writing to the binary file it
    is given) to path, under a temporary name in the same directory, then
    renamed over path: path is either its old self or complete.

    The temporary name is ``.{name}.{12 random hex digits}.tmp``, made with
    O_EXCL, so concurrent calls (threads or processes) never share one and the
    last rename wins whole. The file is opened for reading and writing (a
    callable may map it), flushed and fsynced before the rename, and the
    directory is fsynced after it, so a crash leaves either the old file or
    the new one. Any exception (KeyboardInterrupt included) removes the
    temporary; only a process killed outright (SIGKILL, power loss) leaves
    one, under that hidden name, never at ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    else:  # pragma: no cover
        raise FileExistsError(f"no free temporary name next to {path}")
    try:
        with os.fdopen(fd, "w+b") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:  # pragma: no cover - Windows, or a directory we may not read
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # pragma: no cover - file systems that cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- the page

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="%%CSP%%">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="fastinit %%VERSION%%">
<title>%%TITLE%%</title>
<style>%%STYLE%%</style>
</head>
<body>
<svg id="svg-ns" width="0" height="0" aria-hidden="true" focusable="false"></svg>
<div class="wrap">
<header class="page-head">
<h1>%%TITLE%%</h1>
<p class="intro">Each line follows one initialization scheme through a plain fully connected network, layer by
layer. A good initialization keeps the scale of the signal roughly constant with depth: the activations on the way
forward and the gradients on the way back. Weights too small and both fade towards zero; too large and they
explode; all-equal weights (zeros) make every unit of a layer compute the same thing, so training can never tell
them apart. The y axes are logarithmic: one grid line is a factor of ten.</p>
</header>
<noscript><p class="empty">This report draws its charts with JavaScript, which is turned off.</p></noscript>
<form class="controls" id="controls" autocomplete="off">
<label class="ctl ctl-act">Activation <select id="activation"></select></label>
<fieldset class="ctl ctl-schemes"><legend>Schemes</legend><div id="scheme-list" class="chips"></div>
<span class="mini-buttons"><button type="button" id="all-schemes">all</button><button type="button"
id="no-schemes">none</button></span></fieldset>
<fieldset class="ctl ctl-grad"><legend>Gradient with respect to</legend>
<label><input type="radio" name="grad" value="a" checked> activations</label>
<label><input type="radio" name="grad" value="w"> weights</label></fieldset>
<label class="ctl ctl-train" id="train-acc-ctl"><input type="checkbox" id="train-acc"> train accuracy too</label>
<a class="permalink" id="permalink" href="#" title="a link to this view">link to this view</a>
</form>
<section class="panel" id="profile-section">
<div class="panel-head"><h2 id="profile-title"></h2><p class="sub" id="profile-sub"></p></div>
<div class="charts">
<figure class="chart" id="chart-act"><figcaption><b>Activations</b>, forward pass<span class="cap-sub">std of
each layer's output</span></figcaption><div class="legend"></div><div class="plot"></div><div class="chart-note"></div></figure>
<figure class="chart" id="chart-grad"><figcaption><b>Gradients</b>, backward pass<span class="cap-sub"
id="grad-sub"></span></figcaption><div class="legend"></div><div class="plot"></div><div class="chart-note"></div></figure>
</div>
<p class="empty" id="profile-empty" hidden>No depth profile for this activation.</p>
</section>
<section class="panel" id="training-section" hidden>
<div class="panel-head"><h2 id="training-title"></h2><p class="sub" id="training-sub"></p></div>
<div class="charts" id="training-charts">
<figure class="chart" id="chart-loss"><figcaption><b>Loss</b> per epoch<span class="cap-sub"
id="loss-sub"></span></figcaption><div class="legend"></div><div class="plot"></div><div class="chart-note"></div></figure>
<figure class="chart" id="chart-acc"><figcaption><b>Test accuracy</b> per epoch<span class="cap-sub"
id="acc-sub"></span></figcaption><div class="legend"></div><div class="plot"></div><div class="chart-note"></div></figure>
</div>
<p class="empty" id="training-empty" hidden>No training run for this activation.</p>
</section>
<section class="panel" id="verdict-section">
<div class="panel-head"><h2>What each scheme does</h2></div>
<div class="cards" id="cards"></div>
</section>
<footer class="foot">Made by fastinit %%VERSION%% &middot; one self-contained file: no network needed</footer>
</div>
<script type="application/json" id="fastinit-data">%%DATA%%</script>
<script>%%SCRIPT%%</script>
</body>
</html>
"""

_STYLE = r"""
:root {
  --bg: #f4f5f8; --panel: #ffffff; --ink: #1c2230; --muted: #5d6675; --line: #e2e5ea; --grid: #edf0f3;
  --grid-major: #dde1e7; --axis: #8d96a3; --accent: #3266d1; --chip: #f7f8fa;
  --good: #17703d; --good-bg: #e1f3e8; --bad: #a8261b; --bad-bg: #fbe7e4; --warn: #8a5300; --warn-bg: #fcefd6;
  --neutral: #4a5260; --neutral-bg: #eceef2;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --panel: #1c2027; --ink: #e7eaf0; --muted: #a3abb8; --line: #2d323b; --grid: #252a32;
    --grid-major: #343a44; --axis: #7d8694; --accent: #7aa2ff; --chip: #232831;
    --good: #7fd6a0; --good-bg: #1b3526; --bad: #ff9b8f; --bad-bg: #3d201d; --warn: #f3c06b; --warn-bg: #3a2c14;
    --neutral: #c3c9d3; --neutral-bg: #2a2f38;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { -webkit-text-size-adjust: 100%; scrollbar-gutter: stable; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "Liberation Sans",
        "DejaVu Sans", Arial, sans-serif; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono",
        monospace; font-size: 0.92em; }
#svg-ns { position: absolute; width: 0; height: 0; overflow: hidden; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 28px 24px 36px; }
.page-head h1 { font-size: 27px; line-height: 1.2; margin: 0 0 8px; letter-spacing: -0.01em; }
.intro { margin: 0; color: var(--muted); max-width: 92ch; }
.controls { position: sticky; top: 0; z-index: 10; display: flex; flex-wrap: wrap; align-items: center;
  gap: 10px 26px; margin: 20px 0 18px; padding: 12px 16px; background: var(--panel);
  border: 1px solid var(--line); border-radius: 12px; box-shadow: 0 1px 3px rgba(16, 24, 40, 0.06); }
.ctl { margin: 0; padding: 0; border: 0; min-width: 0; display: flex; align-items: center; flex-wrap: wrap;
  gap: 6px 10px; font-size: 14px; }
.ctl legend { float: left; margin-right: 10px; padding: 0; color: var(--muted); font-size: 13px; }
.ctl-act { color: var(--muted); font-size: 13px; }
select { font: inherit; font-size: 14px; color: var(--ink); background: var(--chip); border: 1px solid var(--line);
  border-radius: 8px; padding: 5px 28px 5px 10px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px 3px 6px; border-radius: 999px;
  border: 1px solid var(--line); background: var(--chip); cursor: pointer; user-select: none; font-size: 13px; }
.chip input { margin: 0; accent-color: var(--c); }
.chip .line-swatch { width: 18px; height: 0; border-top: 3px solid var(--c); border-radius: 2px; }
.chip.on { border-color: var(--c); box-shadow: inset 0 0 0 1px var(--c); }
.chip:not(.on) { opacity: 0.62; }
.mini-buttons { display: inline-flex; gap: 4px; margin-left: 4px; }
.mini-buttons button { font: inherit; font-size: 12px; color: var(--accent); background: none; border: 1px solid var(--line);
  border-radius: 6px; padding: 1px 8px; cursor: pointer; }
.ctl-grad label, .ctl-train { display: inline-flex; align-items: center; gap: 5px; cursor: pointer; }
.permalink { margin-left: auto; font-size: 13px; color: var(--accent); text-decoration: none; white-space: nowrap; }
.permalink:hover { text-decoration: underline; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px 14px;
  margin: 0 0 18px; box-shadow: 0 1px 3px rgba(16, 24, 40, 0.05); }
.panel-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 14px; margin-bottom: 8px; }
.panel h2 { font-size: 19px; margin: 0; letter-spacing: -0.005em; }
.sub { margin: 0; color: var(--muted); font-size: 13px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 10px 28px; }
.chart { margin: 0; min-width: 0; }
.chart figcaption { font-size: 15px; margin: 6px 0 2px; }
.cap-sub { display: block; color: var(--muted); font-size: 12.5px; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12.5px; margin: 4px 0 2px; min-height: 19px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; white-space: nowrap; }
.legend-item .note { color: var(--muted); }
.plot { position: relative; width: 100%; }
.plot svg { display: block; overflow: visible; }
.chart-note { font-size: 12px; color: var(--muted); min-height: 18px; }
svg text { fill: var(--muted); font-size: 12px; font-family: inherit; }
svg .axis-label { fill: var(--ink); font-size: 12.5px; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .grid-major { stroke: var(--grid-major); stroke-width: 1; }
svg .axis { stroke: var(--axis); stroke-width: 1; }
svg .series { fill: none; stroke-width: 2.4; stroke-linejoin: round; stroke-linecap: round; }
svg .series-train { fill: none; stroke-width: 1.6; stroke-dasharray: 2 4; stroke-linecap: round; opacity: 0.9; }
svg .dot { stroke: var(--panel); stroke-width: 1; }
svg .clip-mark { fill: var(--panel); stroke-width: 1.8; }
svg .band { fill: var(--grid); opacity: 0.55; }
svg .band-edge { stroke: var(--axis); stroke-width: 1; stroke-dasharray: 4 3; }
svg .band-label { font-style: italic; }
svg .empty-text { fill: var(--muted); font-size: 14px; }
svg .guide { stroke: var(--axis); stroke-width: 1; stroke-dasharray: 3 3; }
svg .hover-zone { fill: transparent; cursor: crosshair; }
.tip { position: absolute; pointer-events: none; z-index: 3; background: var(--panel); color: var(--ink);
  border: 1px solid var(--line); border-radius: 8px; box-shadow: 0 4px 14px rgba(16, 24, 40, 0.14);
  padding: 6px 9px; font-size: 12px; line-height: 1.45; white-space: nowrap; }
.tip b { display: block; margin-bottom: 2px; }
.tip .row { display: flex; align-items: center; gap: 6px; }
.tip .val { margin-left: auto; padding-left: 12px; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 3px; background: var(--c); flex: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; }
.scheme-card { border: 1px solid var(--line); border-left: 4px solid var(--c); border-radius: 10px;
  padding: 10px 14px 11px; background: var(--panel); }
.scheme-card h3 { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; font-size: 15px; margin: 0 0 4px; }
.scheme-card p { margin: 4px 0 0; font-size: 13.5px; }
.scheme-card .what { color: var(--muted); font-size: 12px; margin-right: 2px; }
.badge { display: inline-block; font-size: 11.5px; font-weight: 600; letter-spacing: 0.02em; padding: 1px 8px;
  border-radius: 999px; background: var(--neutral-bg); color: var(--neutral); }
.badge.good { background: var(--good-bg); color: var(--good); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.empty { color: var(--muted); font-style: italic; margin: 6px 0; }
.foot { color: var(--muted); font-size: 12px; text-align: center; margin-top: 8px; }
@media (max-width: 640px) {
  .wrap { padding: 16px 12px 28px; }
  .charts { grid-template-columns: 1fr; }
  .cards { grid-template-columns: 1fr; }
  .permalink { margin-left: 0; }
  .controls { position: static; }
}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("fastinit-data").textContent);
  // the SVG namespace, taken from the page's own empty <svg> (so that no URL appears in this file)
  var SVGNS = document.getElementById("svg-ns").namespaceURI;
  var PALETTE = ["#4269d0", "#e0453a", "#f0a020", "#2e9e57", "#9a5cc6", "#17a3b8", "#a0522d", "#e377c2",
                 "#6b7a8f", "#b5a900"];
  var ALL = DATA.schemes, ACTS = DATA.activations;
  var PROFILES = DATA.profiles || {}, TRAINING = DATA.training || null;
  var COLOR = {};
  ALL.forEach(function (s, i) {
    COLOR[s] = i < PALETTE.length ? PALETTE[i] : "hsl(" + Math.round((i * 137.508) % 360) + ", 55%, 45%)";
  });
  var GOOD = ["stable", "learns", "trains", "converges", "ok", "good", "fine"];
  var WARN = ["slow", "slowly", "plateaus", "stalls", "saturates", "dies"];
  var BAD = ["explodes", "vanishes", "symmetric", "diverges", "diverged", "fails", "stuck", "nan"];
  var SUP = {"0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3", "4": "\u2074", "5": "\u2075",
             "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079", "-": "\u207b"};

  var state = {activation: ACTS[0], selected: new Set(ALL), grad: "a", trainAcc: false};

  var $ = function (id) { return document.getElementById(id); };
  var actSelect = $("activation"), schemeList = $("scheme-list");

  // ------------------------------------------------------------------ helpers
  function h(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else if (k === "color") e.style.setProperty("--c", attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function s(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (parent) parent.appendChild(e);
    return e;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function enc(x) { return encodeURIComponent(x); }
  function dec(x) { try { return decodeURIComponent(x); } catch (e) { return x; } }
  function sentence(t) {
    t = String(t || "").trim();
    if (!t) return "";
    t = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?]$/.test(t) ? t : t + ".";
  }
  function badgeClass(v) {
    v = String(v || "").toLowerCase();
    if (GOOD.indexOf(v) >= 0) return "badge good";
    if (WARN.indexOf(v) >= 0) return "badge warn";
    if (BAD.indexOf(v) >= 0) return "badge bad";
    return "badge";
  }
  function fmt(v) {
    if (v === null || v === undefined) return "overflow";
    if (!isNum(v)) return String(v);
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) {
      var p = v.toExponential(2).split("e");
      return p[0].replace(/\.?0+$/, "") + "\u00d710" + supText(String(parseInt(p[1], 10)));
    }
    return String(Number(v.toPrecision(3)));
  }
  function supText(k) { return k.split("").map(function (c) { return SUP[c] || c; }).join(""); }
  function pct(v) { return isNum(v) ? (Math.round(v * 1000) / 10) + "%" : "\u2013"; }
  function same(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) {
      var x = a[i], y = b[i];
      if (x === y) continue;
      if (!isNum(x) || !isNum(y) || Math.abs(x - y) > 1e-9 * Math.max(Math.abs(x), Math.abs(y))) return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ state and the fragment
  function schemesFor(act) {
    var have = {};
    [PROFILES[act], TRAINING && TRAINING[act]].forEach(function (d) {
      if (d && d.schemes) Object.keys(d.schemes).forEach(function (k) { have[k] = true; });
    });
    return ALL.filter(function (x) { return have[x]; });
  }
  function shown() {
    return schemesFor(state.activation).filter(function (x) { return state.selected.has(x); });
  }
  function parseHash(hash) {
    var out = {};
    hash = String(hash || "").replace(/^#/, "");
    if (!hash) return out;
    hash.split("&").forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      out[dec(i < 0 ? part : part.slice(0, i))] = i < 0 ? "" : part.slice(i + 1);
    });
    return out;
  }
  function applyHash() {
    var p = parseHash(location.hash);
    if (p.activation !== undefined) {
      var a = dec(p.activation);
      if (ACTS.indexOf(a) >= 0) state.activation = a;
    }
    if (p.schemes !== undefined) {
      var names = [];
      var add = function (x) { if (ALL.indexOf(x) >= 0 && names.indexOf(x) < 0) names.push(x); };
      p.schemes.split(",").forEach(function (raw) {
        var d = dec(raw);
        if (ALL.indexOf(d) >= 0) add(d);
        else d.split(",").forEach(function (x) { add(x.trim()); });   // a whole list encoded at once
      });
      // unknown names are ignored; a list of nothing but unknown names keeps the current choice
      if (names.length || p.schemes === "") state.selected = new Set(names);
    }
    if (p.grad !== undefined) state.grad = dec(p.grad) === "w" ? "w" : "a";
    if (p.train_acc !== undefined) state.trainAcc = p.train_acc === "1";
  }
  function hashOf() {
    var h = "#activation=" + enc(state.activation) + "&schemes=" + shown().map(enc).join(",");
    if (state.grad === "w") h += "&grad=w";
    if (state.trainAcc) h += "&train_acc=1";
    return h;
  }
  function writeHash() {
    var h = hashOf();
    if (location.hash === h) return;
    try { history.replaceState(null, "", h); }
    catch (e) { try { location.hash = h; } catch (e2) { /* a sandboxed view: the link below still works */ } }
  }

  // ------------------------------------------------------------------ controls
  function buildActivations() {
    ACTS.forEach(function (a) {
      var cfg = (PROFILES[a] && PROFILES[a].config) || {};
      var label = a + (a === "leaky_relu" && isNum(cfg.negative_slope) ? " (slope " + cfg.negative_slope + ")" : "");
      actSelect.appendChild(h("option", {value: a, text: label}));
    });
    actSelect.addEventListener("change", function () { state.activation = actSelect.value; render(); });
  }
  function buildSchemeList() {
    schemeList.textContent = "";
    schemesFor(state.activation).forEach(function (x) {
      var on = state.selected.has(x);
      var box = h("input", {type: "checkbox", value: x});
      box.checked = on;
      box.addEventListener("change", function () {
        if (box.checked) state.selected.add(x); else state.selected.delete(x);
        render();
      });
      schemeList.appendChild(h("label", {cls: "chip" + (on ? " on" : ""), color: COLOR[x], "data-scheme": x},
                               [box, h("span", {cls: "line-swatch"}), h("span", {text: x})]));
    });
  }
  function bindControls() {
    $("all-schemes").addEventListener("click", function () {
      schemesFor(state.activation).forEach(function (x) { state.selected.add(x); }); render();
    });
    $("no-schemes").addEventListener("click", function () {
      schemesFor(state.activation).forEach(function (x) { state.selected.delete(x); }); render();
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=grad]"), function (r) {
      r.addEventListener("change", function () { if (r.checked) { state.grad = r.value; render(); } });
    });
    $("train-acc").addEventListener("change", function () { state.trainAcc = $("train-acc").checked; render(); });
    $("controls").addEventListener("submit", function (e) { e.preventDefault(); });
    window.addEventListener("hashchange", function () {
      if (location.hash === hashOf()) return;
      applyHash(); render();
    });
    // redraw when a chart's box changes width: the window's, or a scroll bar that came with the page's height
    var timer = null, later = function () { clearTimeout(timer); timer = setTimeout(drawCharts, 80); };
    if (window.ResizeObserver) {
      var ro = new ResizeObserver(function (entries) {
        if (entries.some(function (e) {
          return e.target.offsetParent !== null && Math.floor(e.contentRect.width) !== +e.target.getAttribute("data-width");
        })) later();
      });
      Array.prototype.forEach.call(document.querySelectorAll(".plot"), function (p) { ro.observe(p); });
    } else {
      window.addEventListener("resize", later);
    }
  }

  // ------------------------------------------------------------------ scales and ticks
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }
  function niceInt(raw) {
    var c = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
    for (var i = 0; i < c.length; i++) if (c[i] >= raw) return c[i];
    return niceStep(raw);
  }
  // a log axis over positive values: {lo, hi} in decades, labelled ticks {e, m, k} (the value m * 10^k at
  // exponent e) and minor grid exponents; under two decades of data: 1-2-5 ticks around the data's middle
  function logAxis(vals, room) {
    var pos = vals.filter(function (v) { return isNum(v) && v > 0; });
    var lo, hi, ticks = [], minor = [];
    var a = pos.length ? Math.log10(Math.min.apply(null, pos)) : 0;
    var b = pos.length ? Math.log10(Math.max.apply(null, pos)) : 0;
    if (b - a < 2) {
      var T = Math.max((b - a) * 1.15 + 0.1, 1), c = (a + b) / 2;
      lo = c - T / 2; hi = c + T / 2;
      for (var k = Math.floor(lo); k <= Math.ceil(hi); k++) {
        for (var m = 1; m <= 9; m++) {
          var e = k + Math.log10(m);
          if (e < lo - 1e-9 || e > hi + 1e-9) continue;
          if (m === 1 || m === 2 || m === 5) ticks.push({e: e, m: m, k: k}); else minor.push(e);
        }
      }
    } else {
      lo = Math.floor(a - 0.02); hi = Math.ceil(b + 0.02);
      var n = hi - lo, steps = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 50, 100], step = steps[steps.length - 1];
      for (var i = 0; i < steps.length; i++) if (n / steps[i] <= Math.min(7, room)) { step = steps[i]; break; }
      for (var kk = Math.ceil(lo / step) * step; kk <= hi; kk += step) ticks.push({e: kk, m: 1, k: kk});
      if (step === 1 && n <= 4) {
        for (var k2 = lo; k2 < hi; k2++) for (var j = 2; j <= 9; j++) minor.push(Math.log10(j) + k2);
      }
    }
    return {lo: lo, hi: hi, ticks: ticks, minor: minor, plain: lo >= -3.5 && hi < 5};
  }
  function logTickLabel(g, tk, plain) {
    if (plain) { g.textContent = String(Number((tk.m * Math.pow(10, tk.k)).toPrecision(2))); return; }
    g.textContent = "";
    s("tspan", {text: (tk.m === 1 ? "" : tk.m + "\u00d7") + "10"}, g);
    s("tspan", {text: tk.k < 0 ? "\u2212" + (-tk.k) : String(tk.k), dy: "-0.45em", "font-size": "9.5"}, g);
  }

  // ------------------------------------------------------------------ one chart
  // spec: {id, series: [{scheme, color, xs, ys, dashed, sameAs, cls, chart, diverged}], log, percent,
  //        xLabel, yLabel, xWord, nullHigh, empty}
  function drawChart(fig, spec) {
    var plot = fig.querySelector(".plot"), legend = fig.querySelector(".legend"), note = fig.querySelector(".chart-note");
    plot.textContent = ""; legend.textContent = ""; note.textContent = "";
    var W = Math.max(260, Math.floor(plot.clientWidth || 560));
    plot.setAttribute("data-width", Math.floor(plot.clientWidth));
    var H = Math.round(Math.min(360, Math.max(250, W * 0.6)));
    var m = {l: 66, r: 16, t: 12, b: 46};
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var svg = s("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
                        "aria-label": spec.yLabel + " against " + spec.xLabel, "data-chart": spec.id});
    plot.appendChild(svg);
    var series = spec.series;

    // x domain
    var xmin = Infinity, xmax = -Infinity;
    series.forEach(function (se) { se.xs.forEach(function (x) { xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); }); });
    if (!isFinite(xmin)) { xmin = 1; xmax = spec.xDefault || 10; }
    if (xmax === xmin) { xmin -= 1; xmax += 1; }
    var X = function (x) { return m.l + (x - xmin) / (xmax - xmin) * pw; };

    // y domain; values a log scale cannot show get a strip of their own: overflow (null) above, 0 below
    var vals = [], needHigh = false, needLow = false;
    series.forEach(function (se) { se.ys.forEach(function (v) {
      if (isNum(v)) { if (spec.log && v <= 0) needLow = true; else vals.push(v); }
      else if (spec.nullHigh && (v === null || typeof v === "number")) needHigh = true;
    }); });
    var band = 24, top = m.t + (needHigh ? band : 0), bottom = m.t + ph - (needLow ? band : 0);
    var Y, yTicks = [], minor = [], lo, hi, ax = null;
    if (spec.log) {
      var ax = logAxis(vals, Math.max(3, Math.floor((bottom - top) / 30)));
      lo = ax.lo; hi = ax.hi; yTicks = ax.ticks; minor = ax.minor;
      Y = function (v) { return top + (hi - Math.log10(v)) / (hi - lo) * (bottom - top); };
    } else {
      if (spec.percent) { lo = 0; hi = 1; }
      else {
        lo = 0; hi = vals.length ? Math.max.apply(null, vals) : 1;
        var mn = vals.length ? Math.min.apply(null, vals) : 0;
        if (mn < 0) lo = mn;
        if (hi <= lo) hi = lo + 1;
        var st0 = niceStep((hi - lo) / 5); hi = Math.ceil(hi / st0 - 1e-9) * st0; lo = Math.floor(lo / st0 + 1e-9) * st0;
      }
      Y = function (v) { return top + (hi - v) / (hi - lo) * (bottom - top); };
      var st = spec.percent ? 0.2 : niceStep((hi - lo) / 5);
      for (var t = lo; t <= hi + st * 1e-6; t += st) yTicks.push(Math.round(t / st) * st);
    }
    var yOf = function (v) { return spec.log ? top + (hi - v) / (hi - lo) * (bottom - top) : Y(v); };  // a tick
    var yHigh = m.t + band / 2, yLow = m.t + ph - band / 2;

    // grid and axes
    var grid = s("g", {"class": "grid-layer"}, svg);
    if (needHigh) {
      s("rect", {"class": "band", x: m.l, y: m.t, width: pw, height: band}, grid);
      s("line", {"class": "band-edge", x1: m.l, x2: m.l + pw, y1: top, y2: top}, grid);
      s("text", {"class": "band-label", x: m.l - 8, y: yHigh + 4, "text-anchor": "end", text: spec.highTick || "overflow"}, grid);
    }
    if (needLow) {
      s("rect", {"class": "band", x: m.l, y: bottom, width: pw, height: band}, grid);
      s("line", {"class": "band-edge", x1: m.l, x2: m.l + pw, y1: bottom, y2: bottom}, grid);
      s("text", {"class": "band-label", x: m.l - 8, y: yLow + 4, "text-anchor": "end", text: "0"}, grid);
    }
    minor.forEach(function (k) { var y = yOf(k); s("line", {"class": "grid", x1: m.l, x2: m.l + pw, y1: y, y2: y}, grid); });
    yTicks.forEach(function (k) {
      var y = yOf(spec.log ? k.e : k);
      s("line", {"class": "grid-major", x1: m.l, x2: m.l + pw, y1: y, y2: y}, grid);
      if ((needLow && Math.abs(y - yLow) < 15) || (needHigh && Math.abs(y - yHigh) < 15)) return;  // the strip's label
      var tx = s("text", {x: m.l - 8, y: y + 4, "text-anchor": "end"}, grid);
      if (spec.log) logTickLabel(tx, k, ax.plain);
      else tx.textContent = spec.percent ? Math.round(k * 100) + "%" : String(Number(k.toPrecision(4)));
    });
    var xst = niceInt((xmax - xmin) / 8), xt = [];
    for (var x0 = Math.ceil(xmin / xst) * xst; x0 <= xmax + 1e-9; x0 += xst) xt.push(x0);
    if (Number.isInteger(xmin) && (!xt.length || xt[0] - xmin >= xst * 0.6)) xt.unshift(xmin);
    xt.forEach(function (xv) {
      var x = X(xv);
      s("line", {"class": "grid", x1: x, x2: x, y1: m.t, y2: m.t + ph}, grid);
      s("line", {"class": "axis", x1: x, x2: x, y1: m.t + ph, y2: m.t + ph + 5}, grid);
      s("text", {x: x, y: m.t + ph + 19, "text-anchor": "middle", text: String(xv)}, grid);
    });
    s("line", {"class": "axis", x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph}, grid);
    s("line", {"class": "axis", x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph}, grid);
    s("text", {"class": "axis-label", x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", text: spec.xLabel}, svg);
    s("text", {"class": "axis-label", x: 0, y: 0, "text-anchor": "middle", text: spec.yLabel,
               transform: "translate(14 " + ((top + bottom) / 2) + ") rotate(-90)"}, svg);

    if (!series.length) {
      s("text", {"class": "empty-text", x: m.l + pw / 2, y: m.t + ph / 2, "text-anchor": "middle",
                 text: spec.empty || "no scheme selected"}, svg);
      return;
    }

    // the series
    var layer = s("g", {"class": "series-layer"}, svg), marks = s("g", {"class": "mark-layer"}, svg);
    var clipped = {high: false, low: false}, diverged = [];
    var pts = series.map(function (se) {
      var p = [], dd = "", pen = false;
      se.xs.forEach(function (xv, i) {
        var v = se.ys[i], y, clip = null;
        if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) {
          if (!spec.nullHigh) { pen = false; p.push(null); return; }
          y = yHigh; clip = "high";
        } else if (typeof v !== "number") { pen = false; p.push(null); return; }
        else if (spec.log && v <= 0) { y = yLow; clip = "low"; }
        else y = Math.max(top, Math.min(bottom, Y(v)));
        var x = X(xv);
        dd += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        pen = true;
        p.push({x: x, y: y, v: v, clip: clip});
      });
      var g = s("g", {"class": "series-group", "data-scheme": se.scheme}, layer);
      var path = s("path", {"class": se.cls || "series", "data-chart": se.chart || spec.id, "data-scheme": se.scheme,
                            d: dd, stroke: se.color}, g);
      if (se.dashed) path.setAttribute("stroke-dasharray", "7 6");
      var dots = !se.cls && !se.dashed && se.xs.length <= 60;
      p.forEach(function (q) {
        if (!q) return;
        if (q.clip) {
          clipped[q.clip] = true;
          s("circle", {"class": "clip-mark", "data-scheme": se.scheme, "data-clip": q.clip, cx: q.x.toFixed(1),
                       cy: q.y.toFixed(1), r: 3, stroke: se.color}, marks);
        } else if (dots) {
          s("circle", {"class": "dot", cx: q.x.toFixed(1), cy: q.y.toFixed(1), r: 2.6, fill: se.color}, g);
        }
      });
      if (se.diverged) {
        var last = null;
        p.forEach(function (q) { if (q && !q.clip) last = q; });
        if (last) {
          diverged.push(se.scheme);
          s("path", {"class": "diverged-mark", "data-scheme": se.scheme, stroke: se.color, "stroke-width": 2.4,
                     "stroke-linecap": "round", fill: "none",
                     d: "M" + (last.x - 5) + " " + (last.y - 5) + "L" + (last.x + 5) + " " + (last.y + 5) +
                        "M" + (last.x - 5) + " " + (last.y + 5) + "L" + (last.x + 5) + " " + (last.y - 5)}, marks);
        }
      }
      return p;
    });

    // the legend (the auxiliary train-accuracy lines share their scheme's entry)
    var seen = {};
    series.forEach(function (se) {
      if (seen[se.scheme]) return;
      seen[se.scheme] = true;
      var sw = document.createElementNS(SVGNS, "svg");
      sw.setAttribute("width", "22"); sw.setAttribute("height", "10");
      var ln = s("line", {x1: 1, x2: 21, y1: 5, y2: 5, stroke: se.color, "stroke-width": 3, "stroke-linecap": "round"}, sw);
      if (se.dashed) ln.setAttribute("stroke-dasharray", "5 4");
      var item = h("span", {cls: "legend-item", "data-scheme": se.scheme}, [sw, h("span", {text: se.scheme})]);
      var notes = [];
      if (se.sameAs) notes.push("same as " + se.sameAs);
      if (se.allZero) notes.push("0 everywhere");
      if (notes.length) item.appendChild(h("span", {cls: "note", text: "(" + notes.join(", ") + ")"}));
      legend.appendChild(item);
    });
    var bits = [];
    if (clipped.high) bits.push("top strip: " + (spec.highWord || "overflow, too large for a float64"));
    if (clipped.low) bits.push("bottom strip: exactly 0, which no log scale reaches");
    if (diverged.length) bits.push("\u00d7 diverged: " + diverged.join(", "));
    if (spec.extraNote) bits.push(spec.extraNote);
    note.textContent = bits.join("  \u00b7  ");

    // hover: the values at the nearest x
    var guide = s("line", {"class": "guide", x1: 0, x2: 0, y1: m.t, y2: m.t + ph, visibility: "hidden"}, svg);
    var zone = s("rect", {"class": "hover-zone", x: m.l, y: m.t, width: pw, height: ph}, svg);
    var tip = h("div", {cls: "tip", hidden: ""});
    plot.appendChild(tip);
    var xsAll = [];
    series.forEach(function (se) { se.xs.forEach(function (x) { if (xsAll.indexOf(x) < 0) xsAll.push(x); }); });
    xsAll.sort(function (a, b) { return a - b; });
    zone.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), px = (ev.clientX - r.left) * (W / r.width);
      var best = xsAll[0];
      xsAll.forEach(function (x) { if (Math.abs(X(x) - px) < Math.abs(X(best) - px)) best = x; });
      var gx = X(best);
      guide.setAttribute("x1", gx); guide.setAttribute("x2", gx); guide.setAttribute("visibility", "visible");
      tip.textContent = "";
      tip.appendChild(h("b", {text: spec.xWord + " " + best}));
      series.forEach(function (se) {
        var i = se.xs.indexOf(best);
        if (i < 0) return;
        var v = se.ys[i];
        var txt = spec.percent ? pct(v) : (v === null && !spec.nullHigh ? "\u2013" : fmt(v));
        tip.appendChild(h("div", {cls: "row"}, [h("span", {cls: "swatch", color: se.color}),
          h("span", {text: se.scheme + (se.label ? " " + se.label : "")}), h("span", {cls: "val", text: txt})]));
      });
      tip.hidden = false;
      var tw = tip.offsetWidth, left = gx + 12;
      if (left + tw > W) left = gx - 12 - tw;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = (m.t + 4) + "px";
    });
    zone.addEventListener("mouseleave", function () { tip.hidden = true; guide.setAttribute("visibility", "hidden"); });
  }

  // ------------------------------------------------------------------ the page's parts
  function architecture(cfg, act) {
    var t = "";
    if (isNum(cfg.depth) && isNum(cfg.width)) t = cfg.depth + " layers \u00d7 " + cfg.width + " units, ";
    t += cfg.activation || act;
    if ((cfg.activation || act) === "leaky_relu" && isNum(cfg.negative_slope)) t += " (slope " + cfg.negative_slope + ")";
    return t;
  }
  function details(cfg, skip) {
    var out = [];
    Object.keys(cfg).forEach(function (k) {
      var v = cfg[k];
      if (skip.indexOf(k) >= 0 || v === null || typeof v === "object") return;
      out.push(k.replace(/_/g, " ") + " " + (typeof v === "number" ? Number(v.toPrecision(6)) : v));
    });
    return out.slice(0, 10).join(" \u00b7 ");
  }
  function seriesFor(data, field, schemes, chart) {
    var out = [];
    schemes.forEach(function (x) {
      var sc = data && data.schemes[x];
      if (!sc || !Array.isArray(sc[field])) return;
      var ys = sc[field], se = {scheme: x, color: COLOR[x], ys: ys, chart: chart,
                                xs: ys.map(function (_, i) { return i + 1; })};
      se.allZero = ys.length > 0 && ys.every(function (v) { return v === 0; });
      for (var j = 0; j < out.length; j++) {
        if (!out[j].dashed && same(out[j].ys, ys)) { se.dashed = true; se.sameAs = out[j].scheme; break; }
      }
      out.push(se);
    });
    return out;
  }

  function drawCharts() {
    var act = state.activation, sh = shown();
    var prof = PROFILES[act], tr = TRAINING ? TRAINING[act] : null;
    var gradField = state.grad === "w" ? "grad_w_std" : "grad_a_std";
    $("grad-sub").textContent = state.grad === "w" ? "std of \u2202L/\u2202W, the gradient of each layer's weights"
                                                    : "std of \u2202L/\u2202a, the gradient at each layer's output";
    if (prof) {
      var depth = isNum(prof.config.depth) ? prof.config.depth : 10;
      drawChart($("chart-act"), {id: "act", series: seriesFor(prof, "act_std", sh, "act"), log: true,
        xLabel: "layer", xWord: "layer", yLabel: "std of activations", nullHigh: true, xDefault: depth});
      var gsp = {id: "grad", series: seriesFor(prof, gradField, sh, "grad"), log: true, xLabel: "layer", xWord: "layer",
        yLabel: state.grad === "w" ? "std of \u2202L/\u2202W" : "std of \u2202L/\u2202a", nullHigh: true, xDefault: depth};
      var gfig = $("chart-grad");
      gfig.setAttribute("data-field", gradField);
      drawChart(gfig, gsp);
    }
    if (tr) {
      var cfg = tr.config || {};
      var lossS = seriesFor(tr, "loss", sh, "loss"), accS = seriesFor(tr, "test_acc", sh, "acc");
      var start = 1;
      var n0 = 0;
      lossS.concat(accS).forEach(function (se) { n0 = Math.max(n0, se.ys.length); });
      if (isNum(cfg.epochs) && n0 === cfg.epochs + 1) start = 0;   // an evaluation before the first epoch
      var shift = function (se) { se.xs = se.ys.map(function (_, i) { return i + start; }); };
      lossS.forEach(shift); accS.forEach(shift);
      lossS.forEach(function (se) { se.diverged = !!(tr.schemes[se.scheme] || {}).diverged; });
      var lv = [];
      lossS.forEach(function (se) { se.ys.forEach(function (v) { if (isNum(v) && v > 0) lv.push(v); }); });
      var useLog = lv.length > 0 && Math.max.apply(null, lv) / Math.min.apply(null, lv) > 30;
      $("loss-sub").textContent = "training loss" + (useLog ? ", log scale" : "");
      drawChart($("chart-loss"), {id: "loss", series: lossS, log: useLog, xLabel: "epoch", xWord: "epoch",
        yLabel: "loss", nullHigh: true, highTick: "NaN/inf", highWord: "not a finite number (NaN or overflow)"});
      var maxAcc = 0;
      accS.forEach(function (se) { se.ys.forEach(function (v) { if (isNum(v)) maxAcc = Math.max(maxAcc, v); }); });
      var scale = maxAcc > 1.0001 ? 100 : 1;
      var norm = function (se) { se.ys = se.ys.map(function (v) { return isNum(v) ? v / scale : v; }); se.dashed = false; se.sameAs = null; };
      accS.forEach(norm);
      if (state.trainAcc) accS.forEach(function (se) { se.label = "(test)"; });
      var accAll = accS.slice();
      if (state.trainAcc) {
        seriesFor(tr, "train_acc", sh, "train_acc").forEach(function (se) {
          shift(se); norm(se); se.cls = "series-train"; se.label = "(train)"; accAll.push(se);
        });
      }
      $("acc-sub").textContent = "share of the test set classified right" +
        (state.trainAcc ? "; dotted: training set" : "");
      drawChart($("chart-acc"), {id: "acc", series: accAll, log: false, percent: true, xLabel: "epoch",
        xWord: "epoch", yLabel: "accuracy", nullHigh: false});
    }
  }

  function buildCards(sh, prof, tr) {
    var box = $("cards");
    box.textContent = "";
    if (!sh.length) { box.appendChild(h("p", {cls: "empty", text: "No scheme selected."})); return; }
    sh.forEach(function (x) {
      var p = prof && prof.schemes[x], t = tr && tr.schemes[x];
      var head = h("h3", null, [h("span", {cls: "swatch", color: COLOR[x]}), h("code", {text: x})]);
      var card = h("article", {cls: "scheme-card", color: COLOR[x], "data-scheme": x}, [head]);
      if (p) {
        if (p.verdict) head.appendChild(h("span", {cls: badgeClass(p.verdict), title: "depth profile", text: p.verdict}));
        card.appendChild(h("p", null, [h("span", {cls: "what", text: "Depth profile:"}), " " + sentence(p.summary || p.verdict)]));
      }
      if (t) {
        var tv = t.verdict || (t.diverged ? "diverged" : "");
        var line = h("p", null, [h("span", {cls: "what", text: "Training:"}), " "]);
        if (tv) { line.appendChild(h("span", {cls: badgeClass(tv), text: tv})); line.appendChild(document.createTextNode(" ")); }
        var text = sentence(t.summary || "");
        var acc = Array.isArray(t.test_acc) ? t.test_acc.filter(isNum) : [];
        if (acc.length) {
          var last = acc[acc.length - 1];
          text += (text ? " " : "") + "Final test accuracy " + (last > 1.0001 ? Math.round(last * 10) / 10 + "%" : pct(last)) + ".";
        }
        line.appendChild(document.createTextNode(text));
        card.appendChild(line);
      }
      box.appendChild(card);
    });
  }

  function render() {
    var act = state.activation, sh = shown();
    var prof = PROFILES[act], tr = TRAINING ? TRAINING[act] : null;
    actSelect.value = act;
    buildSchemeList();
    Array.prototype.forEach.call(document.querySelectorAll("input[name=grad]"), function (r) { r.checked = r.value === state.grad; });
    $("train-acc").checked = state.trainAcc;
    $("train-acc-ctl").hidden = !TRAINING;

    $("profile-title").textContent = prof ? architecture(prof.config || {}, act) : act;
    $("profile-sub").textContent = prof ? "Depth profile: one forward and one backward pass" +
      (details(prof.config || {}, ["depth", "width", "activation", "negative_slope", "loss"]) ? " \u00b7 " +
       details(prof.config || {}, ["depth", "width", "activation", "negative_slope", "loss"]) : "") : "";
    $("profile-section").querySelector(".charts").hidden = !prof;
    $("profile-empty").hidden = !!prof;

    $("training-section").hidden = !TRAINING;
    if (TRAINING) {
      var cfg = (tr && tr.config) || {};
      $("training-title").textContent = "Training" + (tr ? ": " + architecture(cfg, act) : "");
      $("training-sub").textContent = tr ? details(cfg, ["depth", "width", "activation", "negative_slope"]) : "";
      $("training-charts").hidden = !tr;
      $("training-empty").hidden = !!tr;
    }
    drawCharts();
    buildCards(sh, prof, tr);
    var link = hashOf();
    $("permalink").setAttribute("href", link);
    writeHash();
    document.title = document.title.split(" \u2014 ")[0] + " \u2014 " + act;
    document.body.setAttribute("data-rendered", "activation=" + act + ";schemes=" + sh.join(",") + ";grad=" + state.grad);
  }

  buildActivations();
  bindControls();
  applyHash();
  render();
})();
"""
