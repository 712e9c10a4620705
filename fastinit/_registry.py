"""The fills by name: one table for the allocating constructors, fastinit.dask
and the checkpoint writer, and the two ways they are called by name."""
import inspect

from . import _plain, _schemes

#: Fills that draw from the stream (plain fills and schemes), in documentation order.
RANDOM = (
    _plain.uniform_, _plain.normal_, _plain.trunc_normal_,
    _schemes.lecun_uniform_, _schemes.lecun_normal_, _schemes.xavier_uniform_, _schemes.xavier_normal_,
    _schemes.kaiming_uniform_, _schemes.kaiming_normal_, _schemes.he_uniform_, _schemes.he_normal_,
    _schemes.variance_scaling_,
)
#: Fills that write the same value everywhere.
CONSTANT = (_plain.constant_, _plain.zeros_, _plain.ones_)

ALIASES = {"glorot_uniform": _schemes.xavier_uniform_, "glorot_normal": _schemes.xavier_normal_}


def table(fills):
    """{name without the trailing underscore: fill} for these fills, plus the Glorot aliases."""
    out = {f.__name__.rstrip("_"): f for f in fills}
    out.update((name, f) for name, f in ALIASES.items() if f in fills)
    return out


def lookup(fill, fills, what="fill"):
    """(name, function) of a fill given by name (with or without the underscore) or by function."""
    if isinstance(fill, str):
        name = fill.rstrip("_")
        if name not in fills:
            raise ValueError(f"unknown {what} {fill!r}; expected one of {sorted(fills)} or a fastinit fill function")
        return name, fills[name]
    for name, f in fills.items():
        if f is fill:
            return name, f
    raise TypeError(f"{what} must be the name of a fastinit fill or one of its fill functions, got {fill!r}")


def bind(fill, args, kwargs):
    """kwargs plus the positional arguments that follow the buffer, named (a new dict)."""
    kwargs = dict(kwargs)
    if not args:
        return kwargs
    params = [p for p in inspect.signature(fill).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD][1:]
    if len(args) > len(params):
        raise TypeError(f"{fill.__name__} takes at most {len(params)} positional arguments after the buffer")
    for p, value in zip(params, args):
        if p.name in kwargs:
            raise TypeError(f"{fill.__name__} got multiple values for argument {p.name!r}")
        kwargs[p.name] = value
    return kwargs
