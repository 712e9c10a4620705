"""Statistics and formulas of every plain fill and every initialization scheme.

Expected bounds and standard deviations are computed here, independently of
fastinit, from the published formulas:

* torch.nn.init (fans of a weight (out, in, *kernel)):
    fan_in = in * prod(kernel), fan_out = out * prod(kernel)
    xavier_uniform_: bound = gain * sqrt(6 / (fan_in + fan_out))
    xavier_normal_:  std   = gain * sqrt(2 / (fan_in + fan_out))
    kaiming_uniform_: bound = gain * sqrt(3 / fan_mode),  gain = calculate_gain(nonlinearity, a)
    kaiming_normal_:  std   = gain / sqrt(fan_mode)
    (nn.Linear: kaiming_uniform_(w, a=sqrt(5)) -> bound = 1 / sqrt(fan_in))
* Keras (fans of a kernel (*kernel, in, out); 1-d: fan_in = fan_out = shape[0]; 0-d: 1):
    VarianceScaling(scale, mode, distribution): n = max(1, fan), fan_avg = (fan_in + fan_out) / 2
      truncated_normal:   N(0, s**2) truncated to [-2s, 2s], s = sqrt(scale / n) / 0.87962566103423978
      untruncated_normal: N(0, scale / n)
      uniform:            U(-limit, limit), limit = sqrt(3 * scale / n)
    LeCun = (1, fan_in), Glorot = (1, fan_avg), He = (2, fan_in).

Every scheme is checked twice:
1. formula: its output equals (to rounding) the plain fill with the expected
   bound/std on the same seed and stream (STREAM.md sections 3, 4.4, 6: every
   scheme is one plain fill), over many shapes, layouts and fan overrides;
2. statistics: mean, variance, range and a KS test of ~10**5 values from
   fresh seeds against the expected scipy distribution.

Thresholds (see _stats.py): KS p > 1e-6, moments within 6 standard errors.
"""
import math

import numpy as np
import pytest
from scipy import stats

import fastinit
from _stats import (
    check_law,
    eps_of,
    fresh_seed,
    get_dtype,
    normal_law,
    round_bound,
    truncnorm_law,
    uniform_law,
)

#: std of N(0, 1) truncated to [-2, 2] (Keras's constant), checked against scipy below.
KERAS_TRUNC_STD = 0.87962566103423978

N_STAT = 100_000
ALL_DTYPES = ("float32", "float64", "float16", "bfloat16")
SQRT5 = math.sqrt(5.0)


# ------------------------------------------------------------ independent formulas
def torch_fans(shape):
    """torch.nn.init._calculate_fan_in_and_fan_out, written out."""
    assert len(shape) >= 2
    receptive = 1
    for d in shape[2:]:
        receptive *= d
    return shape[1] * receptive, shape[0] * receptive


def keras_fans(shape):
    """keras.src.initializers.random_initializers.compute_fans, written out."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


def expected_fans(shape, layout, fan_in=None, fan_out=None):
    if fan_in is not None and fan_out is not None:
        return fan_in, fan_out
    fi, fo = torch_fans(shape) if layout == "torch" else keras_fans(shape)
    return (fi if fan_in is None else fan_in), (fo if fan_out is None else fan_out)


def torch_gain(nonlinearity, param=None):
    """torch.nn.init.calculate_gain's table."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise AssertionError(nonlinearity)


# An expected law: ("uniform", bound) = U(-bound, bound); ("normal", std) = N(0, std**2);
# ("ktrunc", s, var) = N(0, s**2) truncated to [-2s, 2s] whose variance must be var.
def U(bound):
    return ("uniform", bound)


def N(std):
    return ("normal", std)


def KT(var):
    """Keras truncated normal with target variance var: s = sqrt(var) / 0.8796..."""
    return ("ktrunc", math.sqrt(var) / KERAS_TRUNC_STD, var)


def _fan_of(mode, fi, fo):
    return {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2.0}[mode]


def scheme_variants():
    """(id, function, kwargs, expected(fan_in, fan_out))."""
    v = []
    v.append(("lecun_uniform", fastinit.lecun_uniform_, {}, lambda fi, fo: U(math.sqrt(3.0 / fi))))
    v.append(("lecun_normal", fastinit.lecun_normal_, {}, lambda fi, fo: N(1.0 / math.sqrt(fi))))
    v.append(("lecun_normal-trunc", fastinit.lecun_normal_, {"distribution": "truncated_normal"},
              lambda fi, fo: KT(1.0 / fi)))
    v.append(("lecun_normal-plain", fastinit.lecun_normal_, {"distribution": "normal"},
              lambda fi, fo: N(1.0 / math.sqrt(fi))))
    for name, fu, fn in (("xavier", fastinit.xavier_uniform_, fastinit.xavier_normal_),
                         ("glorot", fastinit.glorot_uniform_, fastinit.glorot_normal_)):
        for gain in ((None, 1.0), (5.0 / 3, 5.0 / 3), (math.sqrt(2.0), math.sqrt(2.0)), (0.5, 0.5)):
            kw = {} if gain[0] is None else {"gain": gain[0]}
            g = gain[1]
            gid = "default" if gain[0] is None else f"g{g:.3f}"
            v.append((f"{name}_uniform-{gid}", fu, dict(kw),
                      lambda fi, fo, g=g: U(g * math.sqrt(6.0 / (fi + fo)))))
            v.append((f"{name}_normal-{gid}", fn, dict(kw),
                      lambda fi, fo, g=g: N(g * math.sqrt(2.0 / (fi + fo)))))
            v.append((f"{name}_normal-trunc-{gid}", fn, dict(kw, distribution="truncated_normal"),
                      lambda fi, fo, g=g: KT(g * g * 2.0 / (fi + fo))))
    nonlins = [("relu", 0), ("leaky_relu", 0), ("leaky_relu", SQRT5), ("leaky_relu", 0.2),
               ("tanh", 0), ("linear", 0), ("selu", 0), ("sigmoid", 0), ("relu", 0.5), ("conv2d", 0)]
    for mode in ("fan_in", "fan_out"):
        for nl, a in nonlins:
            g = torch_gain(nl, a)
            kw = {"a": a, "mode": mode, "nonlinearity": nl}
            vid = f"{mode}-{nl}-a{a:.3g}"
            pick = (lambda fi, fo: fi) if mode == "fan_in" else (lambda fi, fo: fo)
            v.append((f"kaiming_uniform-{vid}", fastinit.kaiming_uniform_, kw,
                      lambda fi, fo, g=g, pick=pick: U(g * math.sqrt(3.0 / pick(fi, fo)))))
            v.append((f"kaiming_normal-{vid}", fastinit.kaiming_normal_, kw,
                      lambda fi, fo, g=g, pick=pick: N(g / math.sqrt(pick(fi, fo)))))
            if nl in ("relu", "leaky_relu") and a in (0, SQRT5):
                v.append((f"kaiming_normal-trunc-{vid}", fastinit.kaiming_normal_,
                          dict(kw, distribution="truncated_normal"),
                          lambda fi, fo, g=g, pick=pick: KT(g * g / pick(fi, fo))))
        pick = (lambda fi, fo: fi) if mode == "fan_in" else (lambda fi, fo: fo)
        v.append((f"he_uniform-{mode}", fastinit.he_uniform_, {"mode": mode},
                  lambda fi, fo, pick=pick: U(math.sqrt(6.0 / pick(fi, fo)))))
        v.append((f"he_normal-{mode}", fastinit.he_normal_, {"mode": mode},
                  lambda fi, fo, pick=pick: N(math.sqrt(2.0 / pick(fi, fo)))))
        v.append((f"he_normal-trunc-{mode}", fastinit.he_normal_, {"mode": mode, "distribution": "truncated_normal"},
                  lambda fi, fo, pick=pick: KT(2.0 / pick(fi, fo))))
    # defaults: kaiming a=0, fan_in, leaky_relu (gain sqrt(2)); he relu fan_in
    v.append(("kaiming_uniform-defaults", fastinit.kaiming_uniform_, {},
              lambda fi, fo: U(math.sqrt(2.0) * math.sqrt(3.0 / fi))))
    v.append(("kaiming_normal-defaults", fastinit.kaiming_normal_, {},
              lambda fi, fo: N(math.sqrt(2.0) / math.sqrt(fi))))
    v.append(("he_uniform-defaults", fastinit.he_uniform_, {}, lambda fi, fo: U(math.sqrt(6.0 / fi))))
    v.append(("he_normal-defaults", fastinit.he_normal_, {}, lambda fi, fo: N(math.sqrt(2.0 / fi))))
    for scale in (1.0, 2.0, 0.1, 1.0 / 3):
        for mode in ("fan_in", "fan_out", "fan_avg"):
            for dist in ("truncated_normal", "untruncated_normal", "uniform"):
                def exp(fi, fo, scale=scale, mode=mode, dist=dist):
                    var = scale / max(1.0, _fan_of(mode, fi, fo))
                    if dist == "uniform":
                        return U(math.sqrt(3.0 * var))
                    if dist == "untruncated_normal":
                        return N(math.sqrt(var))
                    return KT(var)
                v.append((f"variance_scaling-s{scale:.3g}-{mode}-{dist}", fastinit.variance_scaling_,
                          {"scale": scale, "mode": mode, "distribution": dist}, exp))
    v.append(("variance_scaling-defaults", fastinit.variance_scaling_, {}, lambda fi, fo: KT(1.0 / fi)))
    return v


VARIANTS = scheme_variants()
VARIANT_IDS = [x[0] for x in VARIANTS]

# (layout, shape, explicit fan_in, explicit fan_out)
FORMULA_SHAPES = [
    ("torch", (256, 128), None, None),      # nn.Linear(128, 256)
    ("torch", (64, 3, 7, 7), None, None),   # ResNet stem
    ("torch", (32, 16, 3), None, None),     # Conv1d
    ("torch", (8, 4, 3, 3, 3), None, None), # Conv3d
    ("torch", (3, 1000), None, None),
    ("keras", (128, 256), None, None),      # Dense(256) on 128 inputs
    ("keras", (7, 7, 3, 64), None, None),
    ("keras", (3, 16, 32), None, None),
    ("keras", (3, 3, 3, 4, 8), None, None),
    ("keras", (300,), None, None),
    ("keras", (), None, None),
    ("torch", (120, 50), 77, None),         # explicit fan_in only
    ("torch", (40, 50), None, 9),           # explicit fan_out only
    ("torch", (6000,), 300, 40),            # flat shard, both fans
    ("keras", (30, 40, 5), 11, 700),
    ("torch", (10, 20, 3, 3), 1, 1),
]
FORMULA_SHAPE_IDS = [f"{l}-{'x'.join(map(str, s)) or 'scalar'}-fi{fi}-fo{fo}" for l, s, fi, fo in FORMULA_SHAPES]


def _call(func, kwargs, buf, layout, fan_in, fan_out, **extra):
    kw = dict(kwargs)
    if layout != "torch":  # torch is the default (test_layout_torch_is_default)
        kw["layout"] = layout
    if fan_in is not None:
        kw["fan_in"] = fan_in
    if fan_out is not None:
        kw["fan_out"] = fan_out
    kw.update(extra)
    return func(buf, **kw)


def _plain_fill(spec, buf, seed, stream):
    if spec[0] == "uniform":
        return fastinit.uniform_(buf, -spec[1], spec[1], seed=seed, stream=stream)
    if spec[0] == "normal":
        return fastinit.normal_(buf, 0.0, spec[1], seed=seed, stream=stream)
    s = spec[1]
    return fastinit.trunc_normal_(buf, 0.0, s, -2.0 * s, 2.0 * s, seed=seed, stream=stream)


def _spec_scale(spec):
    return spec[1]


def _check_range(x, spec, dtype, what):
    """Hard range of a sample of this law."""
    x = np.asarray(x, dtype=np.float64)
    assert np.all(np.isfinite(x)), f"{what}: non-finite values (unwritten elements?)"
    kind, scale = spec[0], spec[1]
    if kind == "uniform":
        lo, hi = round_bound(-scale, dtype), round_bound(scale, dtype)
    elif kind == "ktrunc":
        lo, hi = round_bound(-2.0 * scale, dtype), round_bound(2.0 * scale, dtype)
    else:
        # Box-Muller radius caps (STREAM.md 4.1, 4.3): |z| <= sqrt(64 ln 2) in f32, sqrt(106 ln 2) in f64
        cap = math.sqrt(106 * math.log(2)) if np.dtype(dtype) == np.float64 else math.sqrt(64 * math.log(2))
        lo, hi = -cap * scale * (1 + 2 * eps_of(dtype)), cap * scale * (1 + 2 * eps_of(dtype))
    assert x.min() >= lo and x.max() <= hi, (
        f"{what}: values outside [{lo!r}, {hi!r}]: min {x.min()!r}, max {x.max()!r}"
    )


# ------------------------------------------------------------ helpers: fans and gains
@pytest.mark.parametrize("shape", [(256, 128), (64, 3, 7, 7), (32, 16, 3), (8, 4, 3, 3, 3), (5, 1), (1, 5),
                                   (2, 3, 1, 1), (4, 6, 2, 3, 5, 7)])
def test_compute_fans_torch(shape):
    assert fastinit.compute_fans(shape) == torch_fans(shape)
    assert fastinit.compute_fans(shape, layout="torch") == torch_fans(shape)
    assert fastinit.compute_fans(list(shape), "torch") == torch_fans(shape)


def test_compute_fans_examples():
    # the worked examples: a ResNet stem in both layouts
    assert fastinit.compute_fans((64, 3, 7, 7)) == (3 * 49, 64 * 49)
    assert fastinit.compute_fans((7, 7, 3, 64), layout="keras") == (3 * 49, 64 * 49)
    # nn.Linear(in=128, out=256) weight is (256, 128); keras Dense kernel is (128, 256)
    assert fastinit.compute_fans((256, 128)) == (128, 256)
    assert fastinit.compute_fans((128, 256), layout="keras") == (128, 256)
    assert fastinit.compute_fans((256, 128), layout="keras") == (256, 128)


@pytest.mark.parametrize("shape", [(128, 256), (7, 7, 3, 64), (3, 16, 32), (3, 3, 3, 4, 8), (300,), (1,), ()])
def test_compute_fans_keras(shape):
    assert fastinit.compute_fans(shape, layout="keras") == keras_fans(shape)


@pytest.mark.parametrize("shape", [(), (5,), (300,)])
def test_compute_fans_torch_needs_two_dims(shape):
    with pytest.raises(ValueError):
        fastinit.compute_fans(shape)
    with pytest.raises(ValueError):
        fastinit.compute_fans(shape, layout="torch")


def test_compute_fans_keras_low_dims():
    assert fastinit.compute_fans((), layout="keras") == (1, 1)
    assert fastinit.compute_fans((17,), layout="keras") == (17, 17)


def test_compute_fans_bad_layout():
    with pytest.raises(ValueError) as ei:
        fastinit.compute_fans((3, 4), layout="jax")
    assert "torch" in str(ei.value) and "keras" in str(ei.value)


GAIN_CASES = [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0), ("conv_transpose2d", None, 1.0), ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0), ("tanh", None, 5.0 / 3), ("relu", None, math.sqrt(2.0)),
    ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0, math.sqrt(2.0)),
    ("leaky_relu", 0.2, math.sqrt(2.0 / (1 + 0.2 ** 2))),
    ("leaky_relu", SQRT5, math.sqrt(2.0 / 6.0)),
    ("leaky_relu", 1, 1.0),
    ("leaky_relu", -0.3, math.sqrt(2.0 / (1 + 0.09))),
    ("selu", None, 0.75),
    ("relu", 0.5, math.sqrt(2.0)),   # param ignored for non-leaky nonlinearities
    ("tanh", 3.0, 5.0 / 3),
]


@pytest.mark.parametrize("name,param,expected", GAIN_CASES)
def test_calculate_gain_table(name, param, expected):
    g = fastinit.calculate_gain(name) if param is None else fastinit.calculate_gain(name, param)
    assert g == pytest.approx(expected, rel=1e-15, abs=0), f"calculate_gain({name!r}, {param!r})"
    assert fastinit.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15, abs=0)


def test_calculate_gain_sqrt5_gives_linear_bound():
    # nn.Linear: kaiming_uniform_(a=sqrt(5)) -> gain*sqrt(3/fan_in) == 1/sqrt(fan_in)
    g = fastinit.calculate_gain("leaky_relu", SQRT5)
    for fan_in in (1, 3, 147, 768, 4096):
        assert g * math.sqrt(3.0 / fan_in) == pytest.approx(1.0 / math.sqrt(fan_in), rel=1e-14)


def test_calculate_gain_unknown_lists_names():
    with pytest.raises(ValueError) as ei:
        fastinit.calculate_gain("gelu")
    msg = str(ei.value)
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert name in msg, f"valid name {name!r} missing from the message: {msg}"


@pytest.mark.parametrize("param", ["0.2", True, [0.1]])
def test_calculate_gain_bad_slope(param):
    with pytest.raises(ValueError):
        fastinit.calculate_gain("leaky_relu", param)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param, _ in GAIN_CASES:
        ours = fastinit.calculate_gain(name, param)
        theirs = torch.nn.init.calculate_gain(name, param)
        assert ours == pytest.approx(theirs, rel=1e-15), f"calculate_gain({name!r}, {param!r})"


def test_compute_fans_matches_torch():
    torch = pytest.importorskip("torch")
    for shape in [(256, 128), (64, 3, 7, 7), (32, 16, 3), (8, 4, 3, 3, 3), (5, 1)]:
        t = torch.empty(shape)
        assert fastinit.compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(t)


@pytest.mark.parametrize("func", [fastinit.kaiming_uniform_, fastinit.kaiming_normal_, fastinit.he_uniform_,
                                  fastinit.he_normal_, fastinit.variance_scaling_])
def test_mode_is_case_insensitive(func):
    """torch (_calculate_correct_fan) and Keras (VarianceScaling) both lower-case the mode."""
    seed = fresh_seed()
    a = func(np.full((40, 30, 3), np.nan, np.float32), mode="fan_out", seed=seed)
    b = func(np.full((40, 30, 3), np.nan, np.float32), mode="FAN_OUT", seed=seed)
    assert a.tobytes() == b.tobytes(), f"{func.__name__} seed={seed}"


def test_keras_trunc_constant():
    # the std of N(0, 1) truncated to [-2, 2]
    assert stats.truncnorm(-2, 2).std() == pytest.approx(KERAS_TRUNC_STD, rel=1e-12)


def test_glorot_aliases_are_the_same_functions():
    assert fastinit.glorot_uniform_ is fastinit.xavier_uniform_
    assert fastinit.glorot_normal_ is fastinit.xavier_normal_


# ------------------------------------------------------------ plain fills: statistics
PLAIN_SHAPE = (317, 331)  # 104927 elements: odd, not a multiple of 4


def _fill_fresh(func, shape, dtype, seed, *args, **kwargs):
    buf = np.full(shape, np.nan, dtype=dtype)
    out = func(buf, *args, seed=seed, **kwargs)
    assert out is buf
    return buf


UNIFORM_PARAMS = [None, (-3.0, 5.0), (2.5, 2.75), (-1e-3, 1e-3), (-100.0, -99.0), (-0.0625, 0.0625)]


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
@pytest.mark.parametrize("params", UNIFORM_PARAMS, ids=str)
def test_uniform_stats(params, dtype_name):
    dtype = get_dtype(dtype_name)
    seed = fresh_seed()
    lo, hi = (0.0, 1.0) if params is None else params
    args = () if params is None else params
    x = _fill_fresh(fastinit.uniform_, PLAIN_SHAPE, dtype, seed, *args).astype(np.float64)
    what = f"uniform_{args} {dtype_name} seed={seed}"
    assert np.all(np.isfinite(x)), what
    lo_d, hi_d = round_bound(lo, dtype), round_bound(hi, dtype)
    assert x.min() >= lo_d and x.max() <= hi_d, f"{what}: range [{x.min()!r}, {x.max()!r}] outside [{lo}, {hi}]"
    # 10**5 values of U(a, b) reach within 2e-4 (b - a) of both ends (failure prob ~e-20)
    slack = 2e-4 * (hi - lo) + eps_of(dtype) * max(abs(lo), abs(hi))
    assert x.min() <= lo + slack and x.max() >= hi - slack, f"{what}: range [{x.min()!r}, {x.max()!r}]"
    check_law(x, uniform_law(lo, hi), what, dtype)


NORMAL_PARAMS = [None, (0.5, 2.0), (-3.0, 0.01), (100.0, 3.0), (0.0, 0.02)]


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
@pytest.mark.parametrize("params", NORMAL_PARAMS, ids=str)
def test_normal_stats(params, dtype_name):
    dtype = get_dtype(dtype_name)
    seed = fresh_seed()
    mean, std = (0.0, 1.0) if params is None else params
    args = () if params is None else params
    x = _fill_fresh(fastinit.normal_, PLAIN_SHAPE, dtype, seed, *args).astype(np.float64)
    what = f"normal_{args} {dtype_name} seed={seed}"
    assert np.all(np.isfinite(x)), what
    cap = math.sqrt(106 * math.log(2)) if dtype_name == "float64" else math.sqrt(64 * math.log(2))
    allowed = cap * std + eps_of(dtype) * (abs(mean) + cap * std)
    assert np.max(np.abs(x - mean)) <= allowed, f"{what}: max |x - mean| = {np.max(np.abs(x - mean))}"
    # 10**5 normals spread beyond 3 std on both sides (failure prob ~e-135)
    assert x.min() < mean - 3 * std and x.max() > mean + 3 * std, f"{what}: range [{x.min()}, {x.max()}]"
    check_law(x, normal_law(mean, std), what, dtype)


TRUNC_PARAMS = [None, (1.0, 2.0, -1.0, 4.0), (0.0, 0.5, -0.25, 1.0), (-2.0, 1.5, -3.0, 3.0), (0.0, 0.02, -0.04, 0.04)]


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
@pytest.mark.parametrize("params", TRUNC_PARAMS, ids=str)
def test_trunc_normal_stats(params, dtype_name):
    dtype = get_dtype(dtype_name)
    seed = fresh_seed()
    mean, std, a, b = (0.0, 1.0, -2.0, 2.0) if params is None else params
    args = () if params is None else params
    x = _fill_fresh(fastinit.trunc_normal_, PLAIN_SHAPE, dtype, seed, *args).astype(np.float64)
    what = f"trunc_normal_{args} {dtype_name} seed={seed}"
    assert np.all(np.isfinite(x)), what
    lo_d, hi_d = round_bound(a, dtype), round_bound(b, dtype)
    assert x.min() >= lo_d and x.max() <= hi_d, f"{what}: range [{x.min()!r}, {x.max()!r}] outside [{a}, {b}]"
    check_law(x, truncnorm_law(mean, std, a, b), what, dtype)


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
def test_plain_defaults_are_torch_defaults(dtype_name):
    """uniform_ = U(0, 1), normal_ = N(0, 1), trunc_normal_ = N(0, 1) on [-2, 2] (absolute bounds)."""
    dtype = get_dtype(dtype_name)
    seed = fresh_seed()
    for func, args in ((fastinit.uniform_, (0.0, 1.0)), (fastinit.normal_, (0.0, 1.0)),
                       (fastinit.trunc_normal_, (0.0, 1.0, -2.0, 2.0))):
        a = _fill_fresh(func, (33, 65), dtype, seed)
        b = _fill_fresh(func, (33, 65), dtype, seed, *args)
        assert a.tobytes() == b.tobytes(), f"{func.__name__} defaults differ from {args}, seed={seed}"


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
def test_constants(dtype_name):
    dtype = get_dtype(dtype_name)
    rng = np.random.default_rng()
    for shape in [(37, 13), (5,), (), (3, 4, 5)]:
        for val in (0.1, -2.5, 1e-3, 7):
            buf = rng.standard_normal(shape).astype(dtype)
            out = fastinit.constant_(buf, val)
            assert out is buf
            assert np.all(buf.astype(np.float64) == float(np.asarray(val, dtype=dtype).astype(np.float64)))
        buf = rng.standard_normal(shape).astype(dtype)
        assert fastinit.zeros_(buf) is buf and np.all(buf.astype(np.float64) == 0.0)
        buf = rng.standard_normal(shape).astype(dtype)
        assert fastinit.ones_(buf) is buf and np.all(buf.astype(np.float64) == 1.0)


# ------------------------------------------------------------ schemes: formulas
def _assert_matches_plain(out, spec, dtype, seed, stream, what):
    ref = np.full(out.shape, np.nan, dtype=dtype)
    _plain_fill(spec, ref, seed, stream)
    got = np.asarray(out, dtype=np.float64)
    ref = ref.astype(np.float64)
    e = eps_of(dtype)
    scale = _spec_scale(spec)
    tol = 4 * e * (np.abs(ref) + scale) if np.dtype(dtype) != np.float64 else 16 * e * (np.abs(ref) + scale)
    bad = ~(np.abs(got - ref) <= tol)
    assert not bad.any(), (
        f"{what}: differs from the plain fill with the expected law {spec} at {int(bad.sum())} of {got.size} "
        f"elements; e.g. got {got.ravel()[bad.ravel()][:4]} expected {ref.ravel()[bad.ravel()][:4]} "
        f"(ratio {(got.ravel()[bad.ravel()][:4] / ref.ravel()[bad.ravel()][:4])})"
    )


@pytest.mark.parametrize("layout,shape,fan_in,fan_out", FORMULA_SHAPES, ids=FORMULA_SHAPE_IDS)
@pytest.mark.parametrize("vid,func,kwargs,expected", VARIANTS, ids=VARIANT_IDS)
def test_scheme_formula(vid, func, kwargs, expected, layout, shape, fan_in, fan_out):
    """The scheme is the plain fill with bound/std from the torch/Keras formula and the right fans."""
    seed = fresh_seed()
    stream = int(np.random.SeedSequence().entropy % 1000)
    fi, fo = expected_fans(shape, layout, fan_in, fan_out)
    spec = expected(fi, fo)
    for dtype_name in ("float32", "float64"):
        dtype = np.dtype(dtype_name)
        buf = np.full(shape, np.nan, dtype=dtype)
        out = _call(func, kwargs, buf, layout, fan_in, fan_out, seed=seed, stream=stream)
        what = f"{vid} {layout} shape={shape} fan_in={fan_in} fan_out={fan_out} {dtype_name} seed={seed} stream={stream}"
        assert out is buf, what
        _check_range(buf, spec, dtype, what)
        _assert_matches_plain(buf, spec, dtype, seed, stream, what)


@pytest.mark.parametrize("fan_in", [1, 3, 128, 147, 768, 4096])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_kaiming_uniform_nn_linear_bound(fan_in, dtype_name):
    """nn.Linear's kaiming_uniform_(w, a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    seed = fresh_seed()
    dtype = np.dtype(dtype_name)
    w = np.full((64, fan_in), np.nan, dtype=dtype)
    fastinit.kaiming_uniform_(w, a=math.sqrt(5), seed=seed)
    bound = 1.0 / math.sqrt(fan_in)
    what = f"kaiming_uniform_(a=sqrt(5)) shape {w.shape} seed={seed}"
    _check_range(w, U(bound), dtype, what)
    _assert_matches_plain(w, U(bound), dtype, seed, 0, what)


@pytest.mark.parametrize("vid,func,kwargs,expected", VARIANTS[::7], ids=VARIANT_IDS[::7])
def test_layout_torch_is_default(vid, func, kwargs, expected):
    seed = fresh_seed()
    a = func(np.full((24, 10, 3), np.nan, np.float32), **kwargs, seed=seed)
    b = func(np.full((24, 10, 3), np.nan, np.float32), **kwargs, seed=seed, layout="torch")
    assert a.tobytes() == b.tobytes(), f"{vid} seed={seed}"


# ------------------------------------------------------------ schemes: statistics
STAT_SHAPES = [
    ("torch", (256, 128), None, None),
    ("torch", (64, 3, 7, 7), None, None),
    ("torch", (32, 16, 3), None, None),
    ("torch", (8, 4, 3, 3, 3), None, None),
    ("keras", (7, 7, 3, 64), None, None),
    ("keras", (128, 256), None, None),
    ("keras", (3, 16, 32), None, None),
    ("torch", (100_003,), 300, 40),
    ("torch", (500, 200), 64, None),
]


def _collect(func, kwargs, layout, shape, fan_in, fan_out, dtype, seed, n=N_STAT):
    """Fill fresh NaN buffers of this shape from one Generator until n values are collected."""
    g = fastinit.Generator(seed)
    parts, total = [], 0
    while total < n:
        buf = np.full(shape, np.nan, dtype=dtype)
        out = _call(func, kwargs, buf, layout, fan_in, fan_out, generator=g)
        assert out is buf
        parts.append(buf.astype(np.float64).ravel())
        total += buf.size
    return np.concatenate(parts)


def _stat_cases():
    cases = []
    for i, (vid, func, kwargs, expected) in enumerate(VARIANTS):
        layout, shape, fi, fo = STAT_SHAPES[i % len(STAT_SHAPES)]
        dtypes = ["float32", "float64"][i % 2:i % 2 + 1]
        if vid in ("kaiming_uniform-fan_in-leaky_relu-a2.24", "xavier_normal-default", "xavier_uniform-g1.667",
                   "variance_scaling-s2-fan_avg-truncated_normal", "he_normal-trunc-fan_in",
                   "kaiming_normal-fan_out-relu-a0", "lecun_uniform"):
            dtypes = list(ALL_DTYPES)
        for dt in dtypes:
            cases.append(pytest.param(vid, func, kwargs, expected, layout, shape, fi, fo, dt,
                                      id=f"{vid}-{layout}-{'x'.join(map(str, shape))}-{dt}"))
    return cases


def law_of(spec):
    if spec[0] == "uniform":
        return uniform_law(-spec[1], spec[1])
    if spec[0] == "normal":
        return normal_law(0.0, spec[1])
    s = spec[1]
    return truncnorm_law(0.0, s, -2.0 * s, 2.0 * s)


@pytest.mark.parametrize("vid,func,kwargs,expected,layout,shape,fan_in,fan_out,dtype_name", _stat_cases())
def test_scheme_stats(vid, func, kwargs, expected, layout, shape, fan_in, fan_out, dtype_name):
    dtype = get_dtype(dtype_name)
    seed = fresh_seed()
    fi, fo = expected_fans(shape, layout, fan_in, fan_out)
    spec = expected(fi, fo)
    x = _collect(func, kwargs, layout, shape, fan_in, fan_out, dtype, seed)
    what = (f"{vid} {layout} shape={shape} fan_in={fi} fan_out={fo} {dtype_name} Generator({seed}) "
            f"expected {spec}")
    _check_range(x, spec, dtype, what)
    law = law_of(spec)
    if spec[0] == "ktrunc":
        # Keras's rescaling: the truncated normal has exactly the target variance scale/fan
        assert law["var"] == pytest.approx(spec[2], rel=1e-9), what
    check_law(x, law, what, dtype)


# ------------------------------------------------------------ schemes: exact bits
def _stream_md_plain(scheme, fin, fout, opts):
    """The plain fill of docs/STREAM.md section 9, with its expressions verbatim."""
    def fan(mode):
        return {"fan_in": fin, "fan_out": fout, "fan_avg": (fin + fout) / 2.0}[mode]

    def normal_or_trunc(std):
        if opts.get("distribution") == "truncated_normal":
            s = std / 0.87962566103423978
            return ("trunc", 0.0, s, -2.0 * s, 2.0 * s)
        return ("normal", 0.0, std)

    if scheme == "lecun_uniform_":
        b = math.sqrt(3.0 / fin)
        return ("uniform", -b, b)
    if scheme == "lecun_normal_":
        return normal_or_trunc(1.0 / math.sqrt(fin))
    if scheme == "xavier_uniform_":
        b = opts["gain"] * math.sqrt(6.0 / (fin + fout))
        return ("uniform", -b, b)
    if scheme == "xavier_normal_":
        return normal_or_trunc(opts["gain"] * math.sqrt(2.0 / (fin + fout)))
    if scheme in ("kaiming_uniform_", "kaiming_normal_"):
        std = fastinit.calculate_gain(opts["nonlinearity"], opts["a"]) / math.sqrt(fan(opts["mode"]))
        if scheme == "kaiming_uniform_":
            b = math.sqrt(3.0) * std
            return ("uniform", -b, b)
        return normal_or_trunc(std)
    if scheme == "variance_scaling_":
        var = opts["scale"] / max(1.0, fan(opts["mode"]))
        if opts["distribution"] == "uniform":
            b = math.sqrt(3.0 * var)
            return ("uniform", -b, b)
        if opts["distribution"] == "untruncated_normal":
            return ("normal", 0.0, math.sqrt(var))
        s = math.sqrt(var) / 0.87962566103423978
        return ("trunc", 0.0, s, -2.0 * s, 2.0 * s)
    raise ValueError(scheme)


_EXACT_CASES = [
    ("lecun_uniform_", {}), ("lecun_normal_", {}), ("lecun_normal_", {"distribution": "truncated_normal"}),
    ("xavier_uniform_", {"gain": 1.0}), ("xavier_uniform_", {"gain": 5.0 / 3}),
    ("xavier_normal_", {"gain": 1.3}), ("xavier_normal_", {"gain": 1.0, "distribution": "truncated_normal"}),
    ("kaiming_uniform_", {"a": math.sqrt(5), "mode": "fan_in", "nonlinearity": "leaky_relu"}),
    ("kaiming_uniform_", {"a": 0, "mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}),
    ("kaiming_normal_", {"a": 0, "mode": "fan_out", "nonlinearity": "tanh", "distribution": "truncated_normal"}),
    ("variance_scaling_", {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}),
    ("variance_scaling_", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("variance_scaling_", {"scale": 1.0, "mode": "fan_out", "distribution": "truncated_normal"}),
]


@pytest.mark.parametrize("scheme,opts", _EXACT_CASES, ids=[f"{s}{i}" for i, (s, _) in enumerate(_EXACT_CASES)])
@pytest.mark.parametrize("shape", [(64, 5), (33, 17, 3), (96, 3, 7, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scheme_bits_follow_stream_md(scheme, opts, shape, dtype):
    """Bit for bit: each scheme is the plain fill that docs/STREAM.md section 9 writes out."""
    seed = fresh_seed()
    fin, fout = shape[1] * math.prod(shape[2:]), shape[0] * math.prod(shape[2:])
    kw = dict(opts)
    if scheme == "variance_scaling_":
        got = fastinit.variance_scaling_(np.empty(shape, dtype), kw.pop("scale"), kw.pop("mode"),
                                         kw.pop("distribution"), seed=seed)
    elif scheme.startswith("kaiming"):
        got = getattr(fastinit, scheme)(np.empty(shape, dtype), kw.pop("a"), kw.pop("mode"), kw.pop("nonlinearity"),
                                        seed=seed, **kw)
    elif scheme.startswith("xavier"):
        got = getattr(fastinit, scheme)(np.empty(shape, dtype), kw.pop("gain"), seed=seed, **kw)
    else:
        got = getattr(fastinit, scheme)(np.empty(shape, dtype), seed=seed, **kw)
    plan = _stream_md_plain(scheme, fin, fout, opts)
    want = np.empty(shape, dtype)
    if plan[0] == "uniform":
        fastinit.uniform_(want, plan[1], plan[2], seed=seed)
    elif plan[0] == "normal":
        fastinit.normal_(want, plan[1], plan[2], seed=seed)
    else:
        fastinit.trunc_normal_(want, *plan[1:], seed=seed)
    assert got.tobytes() == want.tobytes(), (scheme, opts, shape, dtype, seed)
