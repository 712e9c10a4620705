"""materialize_(): allocate a module built on the meta device and initialize it once.

Streams. A materialization has one seed (given, or drawn from torch's default
generator with ``seed_from()``) and gives each parameter and buffer its own
stream, derived from its qualified name: the first 8 bytes, little-endian, of
``blake2b(name.encode(), digest_size=8)``. A tensor's values therefore depend
only on (seed, its name, its shape and init rule): adding a head, or loading
half the model from a checkpoint, leaves every other tensor's values as they
were, and any shard can be regenerated alone.
"""
import math
import warnings
from collections.abc import Mapping

import torch
from torch import nn

from .. import _checks
from .._generator import name_stream
from . import _functions, _memory
from ._patch import patch


class Materialized:
    """What materialize_ did with each tensor of the module.

    loaded: names copied from ``state_dict``; initialized: names written by
    fastinit's init functions (name -> scheme); by_module: names the modules'
    own reset code set without an init function (e.g. BatchNorm's running
    stats); untouched: allocated tensors nothing wrote (a warning names them);
    unexpected: ``state_dict`` keys the module does not have; seed: the seed.
    """

    def __init__(self, seed):
        self.seed = seed
        self.loaded = []
        self.initialized = {}
        self.by_module = []
        self.untouched = []
        self.unexpected = []
        self.writes = {}                # name -> number of writes by init functions (1 each)

    def __repr__(self):
        return (f"Materialized(seed={self.seed}, initialized={len(self.initialized)}, "
                f"loaded={len(self.loaded)}, by_module={len(self.by_module)}, "
                f"untouched={self.untouched}, unexpected={self.unexpected})")


# ---------------------------------------------------------------------------
# Recipes: callables (name, tensor, module) -> None that initialize one parameter

class GPT2Recipe:
    """GPT-2's initialization (Radford et al. 2019; nanoGPT): weights of 2 or more
    dimensions N(0, std**2), with residual projections (the last layer of each
    attention and MLP branch) N(0, (std / sqrt(2 * n_layers))**2); biases zero;
    other 1-D weights (norm gains) one.

    n_layers: None counts the longest ``nn.ModuleList`` in the model.
    residual: suffixes of the modules that are residual projections.
    """

    RESIDUAL = ("c_proj", "o_proj", "out_proj", "down_proj", "fc2", "w2", "dense_4h_to_h", "proj_out")

    def __init__(self, std=0.02, n_layers=None, residual=RESIDUAL):
        if not (isinstance(std, (int, float)) and std >= 0 and math.isfinite(std)):
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
        if n_layers is not None and (not isinstance(n_layers, int) or n_layers < 1):
            raise ValueError(f"n_layers must be a positive int or None, got {n_layers!r}")
        self.std = float(std)
        self.n_layers = n_layers
        self.residual = tuple(residual)

    def prepare(self, model):
        """The depth used for this model: n_layers if given, else the longest nn.ModuleList."""
        lengths = [len(m) for m in model.modules() if isinstance(m, nn.ModuleList)]
        self._depth = self.n_layers or max(lengths, default=1) or 1

    def __call__(self, name, tensor, module):
        owner, _, leaf = name.rpartition(".")
        if tensor.dim() >= 2:
            std = self.std
            if owner.rsplit(".", 1)[-1] in self.residual:
                std = self.std / math.sqrt(2 * (self.n_layers or getattr(self, "_depth", 1)))
            _functions.normal_(tensor, 0.0, std)
        elif leaf.endswith("bias"):
            _functions.zeros_(tensor)
        else:
            _functions.ones_(tensor)

    def __repr__(self):
        return f"GPT2Recipe(std={self.std}, n_layers={self.n_layers}, residual={self.residual})"


RECIPES = {"gpt2": GPT2Recipe}


def _recipe(recipe):
    if recipe is None or callable(recipe):
        return recipe
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"recipe={recipe!r} is not a built-in recipe; expected one of {sorted(RECIPES)} "
                             "or a callable (name, tensor, module)")
        return RECIPES[recipe]()
    raise TypeError(f"recipe must be None, a built-in name or a callable, got {type(recipe).__name__}")


# ---------------------------------------------------------------------------

def _owned(module):
    """(qualified name, owning module, attribute, tensor, is_parameter) for each distinct tensor."""
    seen = set()
    out = []
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for table, is_param in ((mod._parameters, True), (mod._buffers, False)):
            for attr, t in table.items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                out.append((f"{mod_name}.{attr}" if mod_name else attr, mod, attr, t, is_param))
    return out


def _reset_method(mod):
    for attr in ("reset_parameters", "_reset_parameters"):
        fn = getattr(type(mod), attr, None)
        if callable(fn):
            return getattr(mod, attr)
    return None


def _is_hf_model(module):
    return callable(getattr(module, "init_weights", None)) and callable(getattr(module, "_init_weights", None))


def _check_same_seed(seed, device_type):
    """One collective over the default process group: every rank learns every rank's seed,
    and all raise the same RuntimeError if they differ."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    device = torch.device(device_type)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    mine = torch.tensor([seed >> 32, seed & 0xFFFFFFFF], dtype=torch.int64, device=device)
    seeds = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(seeds, mine)
    seeds = [int(s[0]) << 32 | int(s[1]) for s in seeds]
    differ = [r for r, s in enumerate(seeds) if s != seeds[0]]
    if differ:
        raise RuntimeError(
            f"materialize_: the ranks hold different seeds ({len(differ)} of {len(seeds)} differ from rank 0's "
            f"{seeds[0]}; rank {differ[0]} holds {seeds[differ[0]]}), so their shards would not form one model. "
            "Call torch.manual_seed(s) with the same s on every rank before materialize_, or pass the same seed=")


def _load(t, value):
    """Copy a checkpoint tensor into ``t``; a DTensor takes its shard's slice of it."""
    target = _memory.target(t) if _memory.is_dtensor(t) else None
    if target is None:
        t.copy_(value)
        return
    for local, index in target.blocks():
        target.local[local].copy_(value[index])


def _tell_fsdp(module):
    """FSDP2 keeps its own reference to each sharded parameter: after replacing them, point
    it at the new ones, as FSDP2's own ``to_empty`` does (``reset_sharded_param``)."""
    for m in module.modules():
        state = m._get_fsdp_state() if callable(getattr(m, "_get_fsdp_state", None)) else None
        with torch.no_grad():
            for group in getattr(state, "_fsdp_param_groups", None) or ():
                for fsdp_param in group.fsdp_params:
                    fsdp_param.reset_sharded_param()


def materialize_(module, *, seed=None, recipe=None, state_dict=None):
    """Allocate the meta-device tensors of ``module`` (on the CPU) and initialize each once.

    Parameters
    ----------
    module : torch.nn.Module
        Built under ``torch.device('meta')`` (wholly or in part: tensors that
        are already real are kept as they are). Meta DTensors (after
        ``fully_shard`` or ``parallelize_module``) get only their local shard,
        on their mesh's device, and each shard its slice of the single-process
        values; all ranks first check, in one collective over the default
        process group, that they hold the same seed (a RuntimeError on every
        rank if not): every rank of that group calls materialize_ together.
        Plain meta tensors of such a model go to the mesh's device too.
    seed : int, optional
        The materialization's seed; by default one drawn from torch's default
        generator (``seed_from()``), so ``torch.manual_seed`` keeps its meaning.
        Each tensor uses the stream ``name_stream(its qualified name)``.
    recipe : None, str or callable
        None: each module's own ``reset_parameters()`` (or
        ``_reset_parameters()``) under patch(), parents before children, each
        tensor written once (the first write wins, which is the one eager
        construction keeps); a Hugging Face model's own ``init_weights()``.
        ``'gpt2'`` (see ``GPT2Recipe``) or a callable ``recipe(name, tensor,
        module)`` called once per parameter that ``state_dict`` does not hold;
        buffers are reset by their modules' ``reset_running_stats()``.
    state_dict : mapping, optional
        Tensors to copy instead of initializing (transfer learning: a new head
        on a pretrained body). Shapes must match; dtypes are converted.

    Returns
    -------
    Materialized
        Which tensors were loaded, initialized by fastinit, set by the modules'
        own code, or left untouched (those are also named in a warning).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    recipe = _recipe(recipe)
    if seed is not None:
        seed = _checks.check_uint64(seed, "seed")
    if state_dict is not None and not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    owned = _owned(module)
    canonical = {id(t): name for name, _, _, t, _ in owned}
    aliases = {}                                      # every name of every tensor (tied ones have several)
    for name, t in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        aliases.setdefault(name, t)
    state_dict = dict(state_dict or {})
    bad, wanted = [], {}                              # wanted: canonical name -> checkpoint tensor
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}] must be a tensor, got {type(value).__name__}")
        target = aliases.get(key)
        if target is None:
            continue
        if tuple(value.shape) != tuple(target.shape):
            bad.append(f"{key}: checkpoint {tuple(value.shape)} vs module {tuple(target.shape)}")
        wanted.setdefault(canonical[id(target)], value)
    if bad:
        raise ValueError("state_dict shapes do not match the module: " + "; ".join(bad))
    report = Materialized(seed if seed is not None else _functions.seed_from())
    report.unexpected = sorted(k for k in state_dict if k not in aliases)
    meshes = [t.device_mesh for _, _, _, t, _ in owned if _memory.is_dtensor(t)]
    if meshes:
        _check_same_seed(report.seed, meshes[0].device_type)

    # Allocate: a CPU tensor for each meta tensor (shared ones once); real ones stay.
    # (A meta DTensor gets its local shard, on its mesh's device.)
    replaced = {}
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for table, is_param in ((mod._parameters, True), (mod._buffers, False)):
            for attr, t in list(table.items()):
                if t is None:
                    continue
                if id(t) not in replaced:
                    if t.device.type == "meta" and _memory.is_dtensor(t):      # its local shard only
                        new = torch.empty_like(t, device=t.device_mesh.device_type)
                    elif t.device.type == "meta":       # beside the shards on a distributed model
                        new = torch.empty(t.shape, dtype=t.dtype, device=meshes[0].device_type if meshes else "cpu")
                    else:
                        new = t
                    if is_param and new is not t:
                        new = nn.Parameter(new, requires_grad=t.requires_grad)
                    replaced[id(t)] = new
                table[attr] = replaced[id(t)]
    if meshes:
        _tell_fsdp(module)
    names, keep, allocated, loaded = {}, set(), [], []
    for name, mod, attr, old, is_param in owned:
        t = replaced[id(old)]
        if name in wanted:
            keep.add(id(t))
            loaded.append((name, t))
            report.loaded.append(name)
        if old.device.type != "meta":
            keep.add(id(t))
            continue
        names[id(t)] = name
        allocated.append((name, mod, t))

    hf = recipe is None and _is_hf_model(module)
    ctx = _functions.Context(report.seed, names, keep, first_wins=(recipe is None and not hf),
                             stream_of=name_stream)
    reset_owners = set()
    with _functions.materializing(ctx):
        with torch.no_grad(), patch():
            if recipe is not None:
                if hasattr(recipe, "prepare"):
                    recipe.prepare(module)
                for name, mod, t in allocated:
                    if isinstance(t, nn.Parameter) and id(t) not in keep:
                        ctx.owner = mod
                        recipe(name, t, mod)
                resets = [(m, m.reset_running_stats) for m in module.modules()
                          if callable(getattr(m, "reset_running_stats", None))
                          and any(id(b) in names for b in m.buffers(recurse=False))]
            elif hf:
                resets = []
            else:
                resets = [(m, _reset_method(m)) for m in module.modules()]     # parents before children
                resets = [(m, r) for m, r in resets if r is not None
                          and any(id(t) in names for t in list(m.parameters()) + list(m.buffers()))]
            # Real tensors inside a module that is reset (a partly meta model) keep their values.
            saved = {}
            for m, _ in resets:
                for sub in m.modules():
                    for t in list(sub._parameters.values()) + list(sub._buffers.values()):
                        if t is not None and id(t) in keep and id(t) not in names and id(t) not in saved:
                            saved[id(t)] = (t, t.detach().clone())
            if hf:
                module.init_weights()
                reset_owners.update(id(m) for m in module.modules())
            for m, reset in resets:
                ctx.owner = m
                reset()
                reset_owners.add(id(m))
            for t, value in saved.values():
                t.copy_(value)
            for name, t in loaded:
                _load(t, wanted[name])

    for name, mod, t in allocated:
        if name in wanted:
            continue
        rec = _functions.init_record(t)
        if id(t) in ctx.written and rec is not None:
            report.initialized[name] = rec["scheme"]
        elif id(mod) in reset_owners:
            report.by_module.append(name)
        else:
            report.untouched.append(name)
    if report.untouched:
        warnings.warn(f"materialize_: nothing initialized {report.untouched} (no reset method, recipe or "
                      "state_dict entry covers them, or a reset wrote them without torch.nn.init); check "
                      "their values", RuntimeWarning, stacklevel=2)
    report.writes = {names[k]: n for k, n in ctx.written.items()}
    return report
