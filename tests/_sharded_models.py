"""Models and cases shared by tests/test_sharded.py and the ranks it spawns (_sharded_child.py)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

SEED = 20261201
D, HIDDEN, VOCAB = 16, 33, 50          # 33 rows: uneven over 2, 3 and 4 ranks


class Structured(nn.Module):
    """The structured inits, on shapes that split unevenly."""

    def __init__(self):
        super().__init__()
        self.q = nn.Parameter(torch.empty(24, 16))        # orthogonal_, tall
        self.q_wide = nn.Parameter(torch.empty(6, 4, 5))  # orthogonal_, wide after flattening
        self.s = nn.Parameter(torch.empty(21, 12))        # sparse_
        self.e = nn.Parameter(torch.empty(9, 11))         # eye_
        self.d = nn.Parameter(torch.empty(8, 4, 3))       # dirac_, 2 groups
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.orthogonal_(self.q, gain=1.5)
        nn.init.orthogonal_(self.q_wide)
        nn.init.sparse_(self.s, 0.3, std=0.5)
        nn.init.eye_(self.e)
        nn.init.dirac_(self.d, groups=2)


class Block(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.norm = nn.LayerNorm(D)
        self.up = nn.Linear(D, HIDDEN)
        self.down = nn.Linear(HIDDEN, D, bias=False)

    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.norm(x))))

    def init_weights(self):
        """torchtitan's style: truncated normals, the residual projection's std by depth."""
        nn.init.trunc_normal_(self.up.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.down.weight, mean=0.0, std=0.02 / math.sqrt(2 * (self.layer + 1)))
        nn.init.zeros_(self.up.bias)
        self.norm.reset_parameters()


class Net(nn.Module):
    def __init__(self, layers=2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D, padding_idx=3)
        self.blocks = nn.ModuleList(Block(i) for i in range(layers))
        self.conv = nn.Conv1d(D, 8, 3, padding=1)
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, VOCAB)
        self.tiny = nn.Linear(8, 3)                     # 3 rows: rank 3 of 4 holds none, and still draws
        self.structured = Structured()

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        x = self.bn(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.head(x) + self.tiny(x).sum(-1, keepdim=True)

    def init_weights(self):
        """torchtitan's style: one method that initializes everything."""
        nn.init.normal_(self.embed.weight)
        for block in self.blocks:
            block.init_weights()
        self.conv.reset_parameters()
        self.bn.reset_parameters()
        std = 8 ** -0.5
        nn.init.trunc_normal_(self.head.weight, std=std, a=-3 * std, b=3 * std)
        nn.init.zeros_(self.head.bias)
        self.tiny.reset_parameters()
        self.structured.reset_parameters()


def reset_all(model):
    """reset_parameters() on every module that has one, parents first (model.modules())."""
    for m in model.modules():
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()


def checkpoint():
    """A partial state_dict: the head and one norm from 'elsewhere'."""
    return {"head.weight": torch.arange(VOCAB * 8, dtype=torch.float64).reshape(VOCAB, 8) / 100,
            "blocks.1.norm.weight": torch.full((D,), 0.5)}


def tp_plan(layers=2, head=True):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel
    plan = {}
    for i in range(layers):
        plan[f"blocks.{i}.up"] = ColwiseParallel()
        plan[f"blocks.{i}.down"] = RowwiseParallel()
    if head:
        plan["head"] = ColwiseParallel()
    return plan


def tiny_llama_config():
    import transformers
    return transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, initializer_range=0.02,
                                    pad_token_id=1)   # _init_weights zeroes weight[1] through a DTensor view


# Direct calls on DTensors: (name, args, kwargs, global shape).
CALLS = [
    ("uniform_", (-0.5, 2.0), {}, (33, 10)),
    ("normal_", (0.5, 3.0), {}, (33, 10)),
    ("trunc_normal_", (0.0, 1.0, -1.5, 2.5), {}, (33, 10)),
    ("xavier_uniform_", (1.3,), {}, (33, 10)),
    ("xavier_normal_", (), {}, (10, 7, 3)),
    ("kaiming_uniform_", (), {"a": math.sqrt(5)}, (33, 10)),
    ("kaiming_normal_", (), {"mode": "fan_out", "nonlinearity": "relu"}, (10, 7, 3)),
    ("orthogonal_", (0.8,), {}, (33, 10)),
    ("orthogonal_", (), {}, (10, 7, 3)),
    ("sparse_", (0.4,), {"std": 0.2}, (33, 10)),
    ("constant_", (0.25,), {}, (33, 10)),
    ("ones_", (), {}, (33, 10)),
    ("zeros_", (), {}, (33, 10)),
    ("eye_", (), {}, (33, 10)),
    ("dirac_", (2,), {}, (10, 7, 3)),
]


BFLOAT16 = ("uniform_", "kaiming_uniform_", "orthogonal_", "trunc_normal_", "eye_")   # also run in bfloat16


def views(fn_table, t):
    """Init calls on views (under patch(), which notes DTensor views): rows, a row, columns."""
    torch.manual_seed(SEED)
    fn_table.normal_(t[2:7], 1.0, 0.5)
    fn_table.kaiming_uniform_(t[20:], a=5 ** 0.5)
    fn_table.zeros_(t[3])
    fn_table.constant_(t[:, 1:3], 0.25)
    fn_table.uniform_(t[-1])
    return t


def call(fn_table, case, tensor, generator=None):
    """Apply one of CALLS with fn_table's function (fastinit.torch or torch.nn.init)."""
    name, args, kwargs, _ = case
    fn = getattr(fn_table, name)
    if generator is not None:
        kwargs = dict(kwargs, generator=generator)
    return fn(tensor, *args, **kwargs)
