"""The fixed set of fills whose SHA-256 digests pin the stream (tests/data/golden.json).

Every scheme, every dtype, odd lengths, offsets that are not multiples of 4,
far-tail truncation.  Changing any output bit changes a digest: that is a
stream-version change (docs/STREAM.md) and needs a regenerated table,
`python tools/make_golden.py`, in the same commit as the documented rule.
"""
import hashlib
import math

import numpy as np

import fastinit as fi

DTYPES = ["float32", "float64", "float16", "bfloat16"]

SEED = 0x0123456789ABCDEF

# (name, function, positional args, keyword args, shape)
_SCHEMES = [
    ("uniform", fi.uniform_, (-0.5, 2.0), {}, (1001,)),
    ("normal", fi.normal_, (0.25, 1.5), {}, (999,)),
    ("trunc_normal_default", fi.trunc_normal_, (0.0, 0.02), {}, (37, 29)),
    ("trunc_normal_near", fi.trunc_normal_, (0.1, 1.0, -1.0, 3.0), {}, (1013,)),
    ("trunc_normal_far", fi.trunc_normal_, (0.0, 1.0, 5.0, 6.0), {}, (515,)),
    ("trunc_normal_very_far", fi.trunc_normal_, (0.0, 1.0, -12.0, -11.5), {}, (515,)),
    ("lecun_uniform", fi.lecun_uniform_, (), {}, (33, 17)),
    ("lecun_normal", fi.lecun_normal_, (), {}, (33, 17)),
    ("xavier_uniform", fi.xavier_uniform_, (1.5,), {}, (64, 3, 3, 3)),
    ("xavier_normal", fi.xavier_normal_, (), {}, (31, 7)),
    ("kaiming_uniform_linear", fi.kaiming_uniform_, (math.sqrt(5),), {}, (127, 65)),
    ("kaiming_normal_fan_out", fi.kaiming_normal_, (0, "fan_out", "relu"), {}, (16, 8, 5)),
    ("he_uniform", fi.he_uniform_, (), {}, (20, 10)),
    ("he_normal_keras", fi.he_normal_, (), {"distribution": "truncated_normal", "layout": "keras"}, (3, 3, 8, 16)),
    ("variance_scaling_uniform", fi.variance_scaling_, (2.0, "fan_avg", "uniform"), {}, (41, 23)),
    ("variance_scaling_trunc", fi.variance_scaling_, (1.0, "fan_in", "truncated_normal"), {}, (41, 23)),
    ("variance_scaling_untrunc", fi.variance_scaling_, (0.5, "fan_out", "untruncated_normal"), {}, (41, 23)),
]
_OFFSETS = [0, 3, 2 ** 33 + 1]


def _dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return np.dtype(name)


def cases():
    """Yield (case id, callable producing the filled array)."""
    for name, fn, args, kwargs, shape in _SCHEMES:
        for dt in DTYPES:
            for off in _OFFSETS:
                def make(fn=fn, args=args, kwargs=kwargs, shape=shape, dt=dt, off=off):
                    buf = np.empty(shape, _dtype(dt))
                    return fn(buf, *args, seed=SEED, stream=7, offset=off, **kwargs)
                yield f"{name}/{dt}/offset={off}", make
    def bits():
        return fi.random_bits_(np.empty(1003, np.uint32), seed=SEED, stream=7, offset=5)
    yield "random_bits/uint32/offset=5", bits


def digest(arr):
    return hashlib.sha256(np.ascontiguousarray(arr).view(np.uint8).tobytes()).hexdigest()
