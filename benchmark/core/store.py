"""Records and artifacts on disk: atomic writes, content hashes, environment versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Dict

import numpy as np


def canonical_json(obj: Any) -> str:
    """Key-sorted, compact JSON: the form hashed, so equal configs hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def update_with_array(h, array) -> None:
    """Feed an array's shape and bytes to hasher ``h``: equal digests mean equal arrays, not just bytes."""
    h.update(str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())


def images_sha256(images) -> str:
    """Content key of an image array (encoder cache, feature store)."""
    h = hashlib.sha256()
    update_with_array(h, images)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``.

    A reader (or a later run) therefore sees either the old file or the complete new one,
    never a partial file — even if the process is killed mid-write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ChecksumMismatch(ValueError):
    """An artifact whose bytes do not match the sha256 written beside it."""


def write_verified(path: str | Path, data: bytes) -> None:
    """``data`` at ``path`` with its sha256 beside it (suffix ``.sha256``); checksum first, data last, both
    atomic — a reader trusts the pair only when both exist and agree, so a killed writer leaves
    nothing a later run trusts."""
    path = Path(path)
    atomic_write_bytes(path.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    atomic_write_bytes(path, data)


def read_verified(path: str | Path) -> "bytes | None":
    """The bytes :func:`write_verified` wrote, or None when the file or its checksum is missing;
    :class:`ChecksumMismatch` when they disagree (a corrupted or tampered artifact)."""
    path = Path(path)
    sha = path.with_suffix(".sha256")
    if not (path.exists() and sha.exists()):
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha.read_text().strip():
        raise ChecksumMismatch(f"{path} does not match its sha256")
    return data


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: str | Path) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def package_versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("cl-poisonbench", "torch", "torchvision", "numpy", "faiss-cpu", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def machine_description() -> Dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}


def default_cache_dir() -> Path:
    """Where encoders, poisons and features are cached unless ``--cache-dir`` says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cl-poisonbench"
