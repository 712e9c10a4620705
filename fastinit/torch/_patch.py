"""patch(): route torch.nn.init (and every name bound to its functions) through fastinit.

Rebinding ``torch.nn.init.<name>`` alone is not enough: some modules import
the functions by name (``from torch.nn.init import xavier_uniform_`` in
``torch.nn.modules.activation`` and ``transformer``), and Hugging Face
transformers copies them into ``transformers.initialization.TORCH_INIT_FUNCTIONS``
at import. So patch() rebinds every module-level name, in every loaded module,
that is bound to one of torch's init functions, and every entry of that
table; unpatching rebinds exactly the names that hold fastinit's functions
back to torch's originals.
"""
import sys
import threading

from . import _functions

_OURS = {name: getattr(_functions, name) for name in _functions.INIT_NAMES}
_THEIRS = {name: _functions.TORCH_FUNCTIONS[name] for name in _functions.INIT_NAMES}

_lock = threading.RLock()
_enabled = False

# Tables of init functions held in dicts rather than module attributes.
_TABLES = (("transformers.initialization", "TORCH_INIT_FUNCTIONS"),)


def _rebind(src, dst):
    """In every loaded module (but this package) and known table, replace src's functions by dst's."""
    by_id = {id(fn): dst[name] for name, fn in src.items()}
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.startswith("fastinit.torch"):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for name in _functions.INIT_NAMES:
            value = namespace.get(name)
            if value is not None and id(value) in by_id and value is src[name]:
                setattr(module, name, by_id[id(value)])
    for mod_name, attr in _TABLES:
        table = getattr(sys.modules.get(mod_name), attr, None)
        if isinstance(table, dict):
            for name, value in list(table.items()):
                if name in src and value is src[name]:
                    table[name] = dst[name]


def _set(enabled):
    global _enabled
    if enabled:
        _rebind(_THEIRS, _OURS)       # also catches modules imported since the last call
    elif _enabled:
        _rebind(_OURS, _THEIRS)
    _enabled = enabled


def is_patched():
    """Whether patch() currently routes torch.nn.init through fastinit."""
    return _enabled


class patch:
    """Route ``torch.nn.init`` through fastinit.

    As a context manager, for a block::

        with fastinit.torch.patch():
            model = MyTransformer()          # nn.Linear & co. initialize through fastinit

    or as a call, for the rest of the process: ``fastinit.torch.patch()``
    (``patch(False)`` undoes it). Leaving the block restores what was there
    before it: torch's own functions, exactly, unless an enclosing patch is
    still active. ``torch.manual_seed`` keeps its meaning: each call draws its
    fastinit seed from torch's default generator.

    Every name bound to one of torch's init functions in a loaded module is
    rebound (``torch.nn.init``, ``torch.nn.modules.activation``,
    ``torch.nn.modules.transformer``, ...), and so is Hugging Face's
    ``transformers.initialization.TORCH_INIT_FUNCTIONS``. A module imported
    after the patch that copies ``torch.nn.init``'s functions by name gets
    fastinit's, and is restored on exit too.
    """

    def __init__(self, enabled=True):
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
        with _lock:
            self._previous = _enabled
            _set(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with _lock:
            _set(self._previous)
        return False

    def __repr__(self):
        return f"fastinit.torch.patch(enabled={_enabled})"
