import io
import tarfile

import numpy as np
import pytest
import torchvision.datasets as tvd
from PIL import Image

from benchmark.core.errors import BenchmarkError
from benchmark.data import load_split
from benchmark.data.image_folder import load_image_folder
from benchmark.data.sources import stratified_subset
from benchmark.data.synthetic import load_synthetic
from benchmark.data.torchvision_sources import load_torchvision


def _jpeg(colour, size=32):
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def _make_tar(path, classes):
    with tarfile.open(path, "w") as tar:
        for cls, (colour, n) in classes.items():
            for i in range(n):
                data = _jpeg(colour, 32 if i else 64)   # one odd-sized image per class gets resized
                info = tarfile.TarInfo(f"{cls}/{i:05d}.png")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_tar_loader_reads_image_folder(tmp_path):
    (tmp_path / "toy").mkdir()
    _make_tar(tmp_path / "toy" / "train.tar", {"zebra": ((0, 0, 255), 3), "apple": ((255, 0, 0), 2)})
    ds = load_image_folder(tmp_path, "toy", "train")
    assert ds.images.shape == (5, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.class_names == ["apple", "zebra"]             # sorted folder names
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    assert (ds.images[ds.labels == 0][..., 0] == 255).all()  # apples are red


def test_extracted_folder_gives_the_same_dataset(tmp_path):
    (tmp_path / "toy").mkdir()
    _make_tar(tmp_path / "toy" / "test.tar", {"a": ((10, 20, 30), 2), "b": ((200, 100, 0), 2)})
    from_tar = load_image_folder(tmp_path, "toy", "test")
    with tarfile.open(tmp_path / "toy" / "test.tar") as tar:
        tar.extractall(tmp_path / "extracted" / "toy" / "test")
    from_dir = load_image_folder(tmp_path / "extracted", "toy", "test")
    assert np.array_equal(from_tar.images, from_dir.images) and from_tar.class_names == from_dir.class_names


def test_missing_dataset_names_what_was_looked_for(tmp_path):
    with pytest.raises(BenchmarkError, match=r"nothere/train\.tar"):
        load_image_folder(tmp_path, "nothere", "train")


def test_malformed_tar_is_a_user_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.tar").write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(BenchmarkError, match="malformed|no images"):
        load_image_folder(tmp_path, "bad", "train")


def test_corrupt_image_in_tar_is_a_user_error(tmp_path):
    (tmp_path / "bad").mkdir()
    with tarfile.open(tmp_path / "bad" / "train.tar", "w") as tar:
        info = tarfile.TarInfo("cls/00000.jpg")
        info.size = 10
        tar.addfile(info, io.BytesIO(b"0123456789"))
    with pytest.raises(BenchmarkError, match="cannot decode"):
        load_image_folder(tmp_path, "bad", "train")


def test_real_data_when_available(shared_data):
    ds = load_split("facemask", "test", data_root=shared_data)
    assert ds.images.shape == (992, 32, 32, 3) and ds.class_names == ["with_mask", "without_mask"]


def test_synthetic_is_deterministic_and_labeled():
    a = load_synthetic("synth_shapes", "test", limit=300)
    b = load_synthetic("synth_shapes", "test", limit=300)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.num_classes == 6 and set(a.labels.tolist()) <= set(range(6))
    full = load_synthetic("synth_shapes", "test")
    assert np.array_equal(full.images[:300], a.images)      # a limit is a prefix
    pool = load_synthetic("synthetic", "train", limit=100)
    assert (pool.labels == -1).all()                        # pre-training pool is unlabeled
    assert a.images.std() > 30                              # not a blank image set


def test_stratified_subset_balances_classes():
    ds = load_synthetic("synth_patterns", "train")
    sub = stratified_subset(ds, 500)
    assert len(sub) == 500
    assert np.bincount(sub.labels).min() >= 100


def test_unknown_dataset_without_source_is_a_user_error():
    with pytest.raises(BenchmarkError, match="--data-root"):
        load_split("cifar10", "train")


def test_torchvision_loader_converts_to_32px_uint8(monkeypatch, tmp_path):
    """The download path, with torchvision's dataset class replaced by an offline fake."""


    class FakeSTL10:
        classes = ["airplane", "bird"]

        def __init__(self, root, split, download):
            assert download and split in ("train", "test")
            self.items = [(Image.new("RGB", (96, 96), (255, 0, 0)), 0), (Image.new("RGB", (96, 96), (0, 0, 255)), 1)]

        def __iter__(self):
            return iter(self.items)

    monkeypatch.setattr(tvd, "STL10", FakeSTL10)
    ds = load_torchvision("stl10", "test", tmp_path)
    assert ds.images.shape == (2, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 1] and ds.class_names == ["airplane", "bird"]
    with pytest.raises(BenchmarkError, match="no download loader"):
        load_torchvision("imagenet", "test", tmp_path)
