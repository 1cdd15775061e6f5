"""The same random draws in every evaluation, and the user's generators as they were afterwards.

Dropout and other stochastic layers draw from PyTorch's global generators (the CPU one, and one
per CUDA device). ``replayable_rng(device)`` forks them (``torch.random.fork_rng``: on exit they
are back in the state they had on entry, so a check or a diagnosis consumes none of the user's
randomness) and yields ``replay()``, which puts them back in that entry state. Calling
``replay()`` before every forward pass gives every evaluation the same dropout masks: the
function being differentiated is then one fixed function of the parameters (the reason
``torch.autograd.gradcheck`` fails on dropout, pytorch/pytorch#114333, is that every call draws
new masks). A module that draws from its own ``torch.Generator`` is not replayed.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def replayable_rng(device: torch.device):
    """Fork the global generators of the CPU and of ``device``; yield ``replay()`` (see the module)."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        cpu_state = torch.get_rng_state()
        cuda_states = [(i, torch.cuda.get_rng_state(i)) for i in cuda]

        def replay() -> None:
            torch.set_rng_state(cpu_state)
            for i, state in cuda_states:
                torch.cuda.set_rng_state(state, i)

        yield replay
