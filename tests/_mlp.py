"""A small ReLU MLP built under fastinit.torch.patch() (so its weights carry init records),
shared by the pruning tests, and the one-thread fixture they use."""
import pytest
import torch
from torch import nn

import fastinit.torch as ft

WEIGHTS = ["fc1.weight", "fc2.weight", "fc3.weight"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one thread is many times faster on a shared machine (and changes no bit here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.fc1 = nn.Linear(sizes[0], sizes[1])
        self.fc2 = nn.Linear(sizes[1], sizes[2])
        self.fc3 = nn.Linear(sizes[2], sizes[3])

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def mlp(seed, sizes):
    """The MLP of these layer sizes, initialized through fastinit under torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    with ft.patch():
        return MLP(sizes)
