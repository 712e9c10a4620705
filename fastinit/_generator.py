"""Seeds and streams: which Philox key and stream id a fill uses (docs/STREAM.md section 2)."""
import hashlib
import os
import secrets
import threading

from ._checks import check_uint64

#: Version of the random stream rule (docs/STREAM.md); bumped whenever any output bit changes.
STREAM_VERSION = 2

__all__ = ["STREAM_VERSION", "Generator", "default_generator", "manual_seed", "seed", "name_stream"]


class Generator:
    """A seed plus a counter of streams: each fill that uses it takes the next stream.

    Because every fill is a pure function of ``(seed, stream, element index)``,
    saving ``get_state()`` and restoring it with ``set_state()`` replays the same
    fills exactly.

    Parameters
    ----------
    seed : int, optional
        Integer in ``[0, 2**64)``. ``None`` draws one from the operating system's
        entropy, like ``numpy.random.default_rng()``.

    Examples
    --------
    >>> g = fastinit.Generator(42)
    >>> w = fastinit.he_uniform_(np.empty((256, 128), np.float32), generator=g)  # stream 0
    >>> b = fastinit.zeros_(np.empty(256, np.float32))
    >>> g.get_state()
    {'seed': 42, 'stream': 1}
    """

    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._from_entropy = seed is None
        self._seed = secrets.randbits(64) if seed is None else check_uint64(seed, "seed")
        self._stream = 0

    @property
    def seed(self):
        return self._seed

    def get_state(self):
        """The seed and the stream the next fill will use, as a dict."""
        with self._lock:
            return {"seed": self._seed, "stream": self._stream}

    def set_state(self, state):
        """Restore a state returned by ``get_state()``."""
        if not isinstance(state, dict) or set(state) != {"seed", "stream"}:
            raise ValueError(f"state must be a dict with keys 'seed' and 'stream', got {state!r}")
        seed = check_uint64(state["seed"], "state['seed']")
        stream = check_uint64(state["stream"], "state['stream']")
        with self._lock:
            self._seed, self._stream = seed, stream
            self._from_entropy = False

    def manual_seed(self, seed):
        """Reseed in place and restart at stream 0; returns self."""
        seed = check_uint64(seed, "seed")
        with self._lock:
            self._seed, self._stream = seed, 0
            self._from_entropy = False
        return self

    def next_stream(self):
        """Reserve the next stream id (what each fill call does)."""
        return self.take()[1]

    def take(self, stream=None):
        """(seed, stream) of one fill, read under one lock: with ``stream=None`` the next
        stream is reserved; otherwise the given stream of the current seed."""
        with self._lock:
            if stream is not None:
                return self._seed, stream
            stream = self._stream
            if stream >= (1 << 64) - 1:
                raise OverflowError("this Generator has used all 2**64 streams")
            self._stream = stream + 1
            return self._seed, stream

    def __repr__(self):
        state = self.get_state()
        return f"fastinit.Generator(seed={state['seed']}, next stream={state['stream']})"


#: The generator used when a fill names neither ``seed=`` nor ``generator=``.
default_generator = Generator()


def manual_seed(seed):
    """Make the module's default generator reproducible: seed it and restart at stream 0."""
    return default_generator.manual_seed(seed)


def seed():
    """Reseed the default generator from OS entropy; returns the new seed."""
    s = secrets.randbits(64)
    default_generator.manual_seed(s)
    default_generator._from_entropy = True
    return s


def _after_fork_in_child():
    # A forked worker (e.g. a DataLoader's) must not replay its parent's
    # unseeded fills: an entropy-seeded default generator is reseeded in the
    # child.  After manual_seed() the child keeps the parent's state, as
    # reproducibility asks.
    g = default_generator
    g._lock = threading.Lock()
    if g._from_entropy:
        g._seed, g._stream = secrets.randbits(64), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def name_stream(name):
    """The stream of the tensor called ``name`` in a named collection (a checkpoint
    written by ``save_random``, a model materialized by ``fastinit.torch.materialize_``):
    the first 8 bytes, little-endian, of ``blake2b(name.encode('utf-8'), digest_size=8)``.

    Streams from names make each tensor's values depend only on (seed, name, its
    own init): adding, removing or reordering other tensors changes nothing."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")
