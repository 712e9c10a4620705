"""patch(): route torch.nn.init (and every name bound to its functions) through fastinit.

Rebinding ``torch.nn.init.<name>`` alone is not enough: some modules import
the functions by name (``from torch.nn.init import xavier_uniform_`` in
``torch.nn.modules.activation`` and ``transformer``), and Hugging Face
transformers copies them into ``transformers.initialization.TORCH_INIT_FUNCTIONS``
at import. So patch() rebinds every module-level name, in every loaded module,
that is bound to one of torch's init functions, and every entry of that
table, and remembers where. Unpatching puts torch's functions back in exactly
those places (plus torch/transformers modules imported while patched, which
copied fastinit's); a name a user bound to fastinit's function on purpose is
left alone. State: a process-wide flag (``patch()`` / ``patch(False)``) and
counts of open ``with patch(...)`` blocks, under one lock, so blocks in
different threads nest correctly.
"""
import sys
import threading

import torch

from . import _functions

# the in-place functions and torch's deprecated aliases (``nn.init.normal``), which hold
# torch's own functions in closures, so they are rebound too
_NAMES = _functions.INIT_NAMES + tuple(n for n in _functions.DEPRECATED_NAMES if n in _functions.TORCH_FUNCTIONS)
_OURS = {name: getattr(_functions, name) for name in _NAMES}
_THEIRS = {name: _functions.TORCH_FUNCTIONS[name] for name in _NAMES}

_lock = threading.RLock()
_process = False          # patch() called for the whole process
_blocks = 0               # `with patch():` blocks open (in any thread)
_off_blocks = 0           # `with patch(False):` blocks open
_bound = []               # (namespace, name) pairs patch() rebound to fastinit's functions

# Tables of init functions held in dicts rather than module attributes.
_TABLES = (("transformers.initialization", "TORCH_INIT_FUNCTIONS"),)
# Library namespaces that may have copied fastinit's functions while patched (transformers
# imported inside a patched block copies torch.nn.init's names): restored on unpatching.
_LIBRARIES = ("torch", "transformers")


def _library(mod_name):
    return any(mod_name == lib or mod_name.startswith(lib + ".") for lib in _LIBRARIES)


def _namespaces():
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.startswith("fastinit"):
            continue
        try:
            yield mod_name, vars(module)
        except TypeError:
            continue
    for mod_name, attr in _TABLES:
        table = getattr(sys.modules.get(mod_name), attr, None)
        if isinstance(table, dict):
            yield mod_name + "." + attr, table


_THEIR_PADDING = torch.nn.Embedding._fill_padding_idx_with_zero


def _fill_padding_idx_with_zero(self):
    """nn.Embedding's padding row, zeroed through fastinit, so that the weight's init record
    keeps the zeroing as a step (and rewinds exactly); on a DTensor weight, by the rank
    that holds the row (torch's ``weight[padding_idx].fill_(0)`` zeroes a copy there)."""
    if self.padding_idx is not None:
        with torch.no_grad():
            _functions.zero_row(self.weight, self.padding_idx)


def _dtensor_getitem(self, key):
    """DTensor indexing that tells fastinit's init functions where the view lies, so that
    ``zeros_(weight[padding_idx])`` (Hugging Face's _init_weights) writes the weight's shard
    rather than the gathered copy indexing returns."""
    out = torch.Tensor.__getitem__(self, key)
    _functions.note_view(out, self, key)
    return out


def _apply():
    """Rebind every name that holds one of torch's init functions to fastinit's (and
    nn.Embedding's padding-row zeroing to one through fastinit, and DTensor indexing to
    one that notes its views)."""
    if torch.nn.Embedding._fill_padding_idx_with_zero is _THEIR_PADDING:
        torch.nn.Embedding._fill_padding_idx_with_zero = _fill_padding_idx_with_zero
    dtensor = getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)
    if dtensor is not None and "__getitem__" not in vars(dtensor):
        dtensor.__getitem__ = _dtensor_getitem
    for _, ns in _namespaces():
        for name in _NAMES:
            if ns.get(name) is _THEIRS[name]:
                ns[name] = _OURS[name]
                _bound.append((ns, name))


def _unapply():
    """Put torch's functions back where patch() put fastinit's, and in library modules that
    copied fastinit's while patched; a user's own `from fastinit.torch import ...` stays."""
    if torch.nn.Embedding._fill_padding_idx_with_zero is _fill_padding_idx_with_zero:
        torch.nn.Embedding._fill_padding_idx_with_zero = _THEIR_PADDING
    dtensor = getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)
    if dtensor is not None and vars(dtensor).get("__getitem__") is _dtensor_getitem:
        del dtensor.__getitem__
    for ns, name in _bound:
        if ns.get(name) is _OURS[name]:
            ns[name] = _THEIRS[name]
    _bound.clear()
    for mod_name, ns in _namespaces():
        if _library(mod_name) or mod_name.endswith(".TORCH_INIT_FUNCTIONS"):
            for name in _NAMES:
                if ns.get(name) is _OURS[name]:
                    ns[name] = _THEIRS[name]


_state = [False]          # what is applied now


def _update():
    want = (_process or _blocks > 0) and _off_blocks == 0
    if want:
        _apply()                      # also catches modules imported since the last call
    elif _state[0]:
        _unapply()
    _state[0] = want


def is_patched():
    """Whether patch() currently routes torch.nn.init through fastinit."""
    return _state[0]


class patch:
    """Route ``torch.nn.init`` through fastinit.

    As a context manager, for a block::

        with fastinit.torch.patch():
            model = MyTransformer()          # nn.Linear & co. initialize through fastinit

    or as a call, for the rest of the process: ``fastinit.torch.patch()``
    (``patch(False)`` undoes it; ``with patch(False):`` turns fastinit off
    for a block). Blocks count: torch's functions come back when the last
    open block closes, in any thread, unless the process-wide patch is on.
    ``torch.manual_seed`` keeps its meaning: each call draws its fastinit
    seed from torch's default generator.

    Every name bound to one of torch's init functions in a loaded module is
    rebound (``torch.nn.init``, ``torch.nn.modules.activation``,
    ``torch.nn.modules.transformer``, your own module's
    ``from torch.nn.init import ...``), and so is Hugging Face's
    ``transformers.initialization.TORCH_INIT_FUNCTIONS``. Unpatching puts
    torch's functions back in exactly those places, and in torch and
    transformers modules that copied fastinit's while patched; names you bound
    to fastinit's functions yourself are left alone. torch's deprecated
    aliases (``nn.init.normal``, ``nn.init.xavier_uniform``, ...) are rebound
    to fastinit's, which warn as torch's do. Holders that are not module-level
    names (other dicts, ``functools.partial`` objects, default arguments) are
    not rebound.
    """

    def __init__(self, enabled=True):
        global _process
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
        self._enabled = enabled
        with _lock:
            self._previous = _process
            _process = enabled
            _update()

    def __enter__(self):
        global _process, _blocks, _off_blocks
        with _lock:
            _process = self._previous            # a block, not a process-wide call
            if self._enabled:
                _blocks += 1
            else:
                _off_blocks += 1
            _update()
        return self

    def __exit__(self, *exc):
        global _blocks, _off_blocks
        with _lock:
            if self._enabled:
                _blocks -= 1
            else:
                _off_blocks -= 1
            _update()
        return False

    def __repr__(self):
        return f"fastinit.torch.patch(enabled={self._enabled}); patched now: {is_patched()}"
