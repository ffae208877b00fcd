"""Training loop, ONNX export and loading of PyTorch models (torch: the ``train`` extra).

Only the training, distillation and model-building paths import this module; serving
and the compression of ONNX files never do.

Export uses torch's TorchScript-based exporter (``dynamo=False``): it writes one
self-contained file in about 0.1 s, where the default dynamo exporter of torch 2.13
took 4 s per model here, writes weights to a side file unless told otherwise and
needs onnxscript. The old exporter warns that it is deprecated; that warning is
silenced around the call only (torch is pinned to 2.13.0 in the extra).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .graph import load_model, save_model

#: Input and output names of exported models (what data files and tasks feed).
INPUT_NAME = "x"
OUTPUT_NAME = "y"

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Told after each epoch: its number (from 1) and its mean training loss.
EpochHook = Callable[[int, float], None]


def fit(
    module: nn.Module,
    x: np.ndarray,
    targets: np.ndarray,
    loss: Loss,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch: int = 64,
    seed: int = 0,
    threads: int = 1,
    on_epoch: EpochHook | None = None,
) -> nn.Module:
    """Train ``module`` on ``(x, targets)`` with Adam and ``loss(outputs, targets)``.

    Returns the module in eval mode. Seeded: the same inputs give the same weights on
    the same machine and thread count. Not across machines: two CPUs (an Intel Xeon
    and an AMD EPYC, both AVX-512, same torch) trained different digits CNNs from the
    same seed, since their kernels sum in different orders (docs/compression.md).

    ``on_epoch`` sees each epoch's mean loss (progress for a long build).

    ``threads``: torch's intra-op threads while training. One by default: on this
    2-core machine with other work running, distilling the digits students took
    7.7 s with torch's default 2 threads and 0.29 s with one (mini-batches of 64 are
    too small to split, and a busy second core stalls every op).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _fit(module, x, targets, loss, epochs, lr, batch, seed, on_epoch)
    finally:
        torch.set_num_threads(previous)


def _fit(
    module: nn.Module,
    x: np.ndarray,
    targets: np.ndarray,
    loss: Loss,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    on_epoch: EpochHook | None = None,
) -> nn.Module:
    torch.manual_seed(seed)
    xs, ts = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(targets)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, epochs))
    module.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(xs))
        total, steps = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            optimizer.zero_grad()
            value = loss(module(xs[idx]), ts[idx])
            value.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if on_epoch is not None:
                total, steps = total + float(value.detach()), steps + 1
        schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, total / max(1, steps))
    return module.eval()


def export_onnx(module: nn.Module, example: np.ndarray, path: str | Path) -> Path:
    """Export ``module`` (eval mode) to ONNX with a dynamic batch dimension.

    Args:
        example: one or more inputs of the right shape and dtype (batch first).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings():
        for message in ("You are using the legacy TorchScript", "The feature will be removed"):
            warnings.filterwarnings("ignore", message, DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.from_numpy(np.ascontiguousarray(example[:1])),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            dynamo=False,
        )
    return save_model(load_model(path), path)  # names compacted


def load_torch_model(path: str | Path) -> nn.Module:
    """A PyTorch model saved whole: TorchScript (``torch.jit.save``) or a pickled module
    (``torch.save(model)``; unpickling runs code from the file: load only your own).

    Raises:
        ConfigError: the file holds no module (e.g. a bare state dict).
    """
    path = Path(path)
    try:
        if _is_torchscript(path):
            with warnings.catch_warnings():  # deprecated in 2.13, still the way to load it
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated")
                module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        else:
            module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises RuntimeError, pickle errors, zipfile errors...
        raise ConfigError(f"{path}: not a PyTorch model file ({exc})") from None
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"{path}: holds a {type(module).__name__}, not a model; save the module "
            "itself (torch.save(model) or torch.jit.save(torch.jit.script(model)))"
        )
    return module.eval()


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive holds compiled code (``*/code/...``); ``torch.save`` does not."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def torch_to_onnx(path: str | Path, example: np.ndarray, out: str | Path) -> Path:
    """Export the PyTorch model file ``path`` to ONNX at ``out`` (inputs like ``example``)."""
    return export_onnx(load_torch_model(path), example, out)
