"""Known MD5 sums of the original MNIST and Fashion-MNIST files.

The sums are those of the gzipped IDX files as their authors publish them
(torchvision 0.29 checks the same ones after a download). A file in
``data/<Name>/raw/`` that does not match is refused with a clear error. An
unzipped copy next to its checked ``.gz`` is compared with the unzipped
``.gz``; an unzipped file alone cannot be checked, and a note says so.
Debian's ``dataset-fashion-mnist`` recompresses the files, so its ``.gz``
sums differ from these; dpkg checks that copy (``dpkg --verify``).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from .data import _TORCHVISION_NAMES, DATA_DIR

KNOWN_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


class DatasetChecksumError(ValueError):
    """A dataset file is not the original one (damaged or replaced)."""


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify_dataset_files(name: str, root: str | Path | None = None) -> list[str]:
    """Check the files ``load_images(name, root=root)`` would read from ``root``.

    Raises ``DatasetChecksumError`` on a mismatch; returns notes about files
    that could not be checked. A name without known sums returns no notes.
    """
    if name not in KNOWN_MD5:
        return []
    folder = Path(root if root is not None else DATA_DIR)
    folder = folder / _TORCHVISION_NAMES[name] / "raw"
    notes = []
    for gz_name, expected in KNOWN_MD5[name].items():
        gz_path, plain_path = folder / gz_name, folder / gz_name[: -len(".gz")]
        packed = gz_path.read_bytes() if gz_path.is_file() else None
        if packed is not None and md5_of(packed) != expected:
            raise DatasetChecksumError(
                f"{gz_path} has the wrong MD5 ({md5_of(packed)}, expected "
                f"{expected}): it is damaged or not the original file. "
                "Delete it and fetch it again."
            )
        if not plain_path.is_file():
            continue
        if packed is None:
            notes.append(f"{plain_path} has no .gz next to it and is not checked")
        elif md5_of(gzip.decompress(packed)) != md5_of(plain_path.read_bytes()):
            raise DatasetChecksumError(
                f"{plain_path} differs from the unzipped {gz_path.name}: it is "
                "damaged. Delete it and it is unzipped again on the next download."
            )
    return notes
