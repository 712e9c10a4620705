"""torch.nn.init's deprecated names (``nn.init.normal``, ...) in fastinit.torch and under patch()."""
import warnings

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from fastinit.torch._functions import DEPRECATED_NAMES, TORCH_FUNCTIONS  # noqa: E402

# (shape, positional args) each deprecated function is called with
CALLS = {
    "uniform": ((6, 5), (-0.5, 0.5)), "normal": ((6, 5), (0.0, 2.0)), "constant": ((6, 5), (0.25,)),
    "eye": ((6, 5), ()), "dirac": ((4, 2, 3), ()), "xavier_uniform": ((6, 5), (1.5,)),
    "xavier_normal": ((6, 5), ()), "kaiming_uniform": ((6, 5), (0.1,)), "kaiming_normal": ((6, 5), ()),
    "orthogonal": ((6, 5), (2.0,)), "sparse": ((6, 5), (0.5,)),
}
RANDOM = {"uniform", "normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
          "orthogonal", "sparse"}


def test_every_deprecated_name_of_torch():
    ours = set(DEPRECATED_NAMES)
    theirs = {n for n in dir(torch.nn.init) if not n.startswith("_") and n + "_" in dir(torch.nn.init)
              and callable(getattr(torch.nn.init, n))}
    assert ours == theirs == set(CALLS)
    assert ours <= set(ft.__all__)


def _warning_of(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    assert len(caught) == 1, [str(w.message) for w in caught]
    return out, caught[0]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_warns_as_torch_and_fills_as_the_in_place_function(name):
    shape, args = CALLS[name]
    kwargs = {"generator": fastinit.Generator(5)} if name in RANDOM else {}
    out, warned = _warning_of(getattr(ft, name), torch.empty(shape), *args, **kwargs)
    _, theirs = _warning_of(TORCH_FUNCTIONS[name], torch.empty(shape), *args)
    assert warned.category is FutureWarning and str(warned.message) == str(theirs.message)
    assert warned.filename == __file__          # attributed to the caller, as torch's
    if name in RANDOM:
        kwargs = {"generator": fastinit.Generator(5)}
    expected = getattr(ft, name + "_")(torch.empty(shape), *args, **kwargs)
    assert torch.equal(out, expected)
    assert ft.init_record(out) is not None


def test_patch_rebinds_the_deprecated_names():
    before = {n: getattr(torch.nn.init, n) for n in CALLS}
    with ft.patch():
        for n in CALLS:
            assert getattr(torch.nn.init, n) is getattr(ft, n)
        torch.manual_seed(3)
        w, warned = _warning_of(torch.nn.init.xavier_uniform, torch.empty(7, 4))
        assert warned.category is FutureWarning
        assert ft.init_record(w)["scheme"] == "xavier_uniform_"
    assert {n: getattr(torch.nn.init, n) for n in CALLS} == before
    torch.manual_seed(3)
    again = ft.xavier_uniform_(torch.empty(7, 4))
    assert torch.equal(w, again)                # torch.manual_seed keeps its meaning


def test_bad_arguments_raise_torchs_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ValueError, match="2 dimensions"):
            ft.eye(torch.empty(3))
        with pytest.raises(RuntimeError, match="std"):
            ft.normal(torch.empty(3, 3), 0.0, -1.0)
