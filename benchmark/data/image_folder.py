"""Image-folder datasets stored as ``ROOT/NAME/SPLIT.tar`` or extracted ``ROOT/NAME/SPLIT/``.

The layout is torchvision's ImageFolder: ``<class_name>/<file>.{jpg,png,...}``; class indices
follow sorted folder names. This is the format of the project's shared offline data.
Images of another size are resized to 32×32 (bicubic) so every source yields the same shape.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.errors import BenchmarkError
from .types import ImageDataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp"}
SIZE = 32
# The datasets are small images (32x32 to a few hundred pixels a side); anything larger than this
# is refused from its header, before decoding — a decompression bomb never reaches the allocator.
MAX_PIXELS = 4096 * 4096
TAR_END = bytes(2 * tarfile.BLOCKSIZE)  # the two zero blocks that end a complete tar archive


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise BenchmarkError(f"image {where} is {im.width}x{im.height} pixels: refused (over {MAX_PIXELS:,})")
            im = im.convert("RGB")
            if im.size != (SIZE, SIZE):
                im = im.resize((SIZE, SIZE), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except BenchmarkError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        # SyntaxError and ValueError: what some PIL plugins raise on a malformed header.
        raise BenchmarkError(f"cannot decode image {where}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc


def _assemble(name: str, items: Iterable[Tuple[str, str, bytes]], source: str) -> ImageDataset:
    """items: (class_name, member_name, bytes), in any order; sorted here for determinism."""
    rows = sorted(items, key=lambda it: (it[0], it[1]))
    if not rows:
        raise BenchmarkError(f"no images found in {source}")
    class_names: List[str] = sorted({c for c, _, _ in rows})
    index: Dict[str, int] = {c: i for i, c in enumerate(class_names)}
    images = np.stack([_decode(data, f"{source}:{member}") for _, member, data in rows])
    labels = np.array([index[c] for c, _, _ in rows], dtype=np.int64)
    return ImageDataset(name, images, labels, class_names)


def _safe_member_name(name: str, archive: Path) -> None:
    """A member name is a relative path inside the archive: no absolute path, no ``..``."""
    path = Path(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts:
        raise BenchmarkError(f"tar archive {archive} has a member outside the archive: {name!r}")


def _read_tar(path: Path) -> List[Tuple[str, str, bytes]]:
    items = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                _safe_member_name(member.name, path)
                if not member.isfile():
                    continue
                parts = Path(member.name).parts
                if len(parts) < 2 or Path(member.name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                items.append((parts[-2], member.name, fh.read()))
            # A complete archive ends with two zero blocks; one cut at a member boundary reads like a
            # smaller, valid one — refuse it rather than train on a silently truncated set.
            tar.fileobj.seek(tar.offset)
            if tar.fileobj.read(len(TAR_END)) != TAR_END:
                raise BenchmarkError(f"tar archive {path} is truncated (no end-of-archive marker after "
                                     f"{len(items)} images)")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BenchmarkError(f"malformed tar archive {path}: {str(exc).splitlines()[0]}") from exc
    return items


def _read_dir(path: Path) -> List[Tuple[str, str, bytes]]:
    items = []
    for cls in sorted(p for p in path.iterdir() if p.is_dir()):
        for f in sorted(cls.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                items.append((cls.name, str(f.relative_to(path)), f.read_bytes()))
    return items


def candidates(root: Path, name: str, split: str) -> List[Path]:
    """The places looked at, in order, for one split."""
    return [root / name / f"{split}.tar", root / name / split]


def load_image_folder(root: str | Path, name: str, split: str) -> ImageDataset:
    """Load ``split`` of dataset ``name`` under ``root`` (tar archive preferred over a folder)."""
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"data root {root} does not exist or is not a directory")
    tar_path, dir_path = candidates(root, name, split)
    if tar_path.is_file():
        return _assemble(name, _read_tar(tar_path), str(tar_path))
    if dir_path.is_dir():
        return _assemble(name, _read_dir(dir_path), str(dir_path))
    raise BenchmarkError(f"dataset '{name}' split '{split}' not found: looked for {tar_path} "
                         f"and {dir_path}/")
