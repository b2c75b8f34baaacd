"""Safetensors checkpoints for models and Adam state (never unpickled from disk)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                    meta: Optional[Dict[str, Any]] = None) -> None:
    """Atomically write model (and optimizer) tensors plus JSON metadata to ``path``."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if optimizer is not None:
        for pid, state in optimizer.state_dict()["state"].items():
            for key, value in state.items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"opt.{pid}.{key}"] = t.detach().contiguous().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"meta": json.dumps(meta or {}, sort_keys=True)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_meta(path: Path) -> Dict[str, Any]:
    with safe_open(str(path), framework="pt") as fh:
        return json.loads((fh.metadata() or {}).get("meta", "{}"))


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                    device: str | torch.device = "cpu") -> Dict[str, Any]:
    """Load tensors into ``model`` (and ``optimizer``); returns the metadata."""
    tensors = load_file(str(path), device=str(device))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None:
        state: Dict[int, Dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value.cpu() if name == "step" else value
        sd = optimizer.state_dict()
        optimizer.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
    return read_meta(path)

