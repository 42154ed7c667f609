"""Generates Cairn's Python gRPC client from the repository's protos, with grpcio-tools.

The generated modules go to ``cairn_client/gen`` (never committed) and are importable as
``cairn.<service>.v1.<file>_pb2`` / ``_pb2_grpc`` once that directory is on ``sys.path``
(``cairn_client`` puts it there). A stamp records a digest of the protos they came from, so a
changed proto regenerates them on the next run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
GEN_DIR = PACKAGE_DIR / "gen"
# examples/python-training/cairn_client -> the repository's proto/ directory.
DEFAULT_PROTO_DIR = PACKAGE_DIR.parent.parent.parent / "proto"
STAMP_FILE = ".protos.sha256"


class GenerationError(RuntimeError):
    """The protos could not be found or compiled."""


def proto_dir_from_env() -> Path:
    """``CAIRN_PROTO_DIR`` when set, else the ``proto/`` directory of this repository."""
    return Path(os.environ.get("CAIRN_PROTO_DIR") or DEFAULT_PROTO_DIR).resolve()


def proto_files(proto_dir: Path) -> list[Path]:
    files = sorted((proto_dir / "cairn").rglob("*.proto"))
    if not files:
        raise GenerationError(
            f"no .proto files under {proto_dir / 'cairn'}: set CAIRN_PROTO_DIR (or --proto-dir) "
            "to the proto/ directory of a Cairn checkout"
        )
    return files


def protos_digest(proto_dir: Path) -> str:
    digest = hashlib.sha256()
    for f in proto_files(proto_dir):
        digest.update(str(f.relative_to(proto_dir)).encode())
        digest.update(b"\0")
        digest.update(f.read_bytes())
    return digest.hexdigest()


def is_current(proto_dir: Path, out_dir: Path = GEN_DIR) -> bool:
    stamp = out_dir / STAMP_FILE
    return stamp.is_file() and stamp.read_text().strip() == protos_digest(proto_dir)


def generate(proto_dir: Path, out_dir: Path = GEN_DIR) -> list[Path]:
    """Compiles every ``cairn/**/*.proto`` of ``proto_dir`` into ``out_dir`` (replaced whole)."""
    from grpc_tools import protoc  # only needed here: importing the client never compiles

    files = proto_files(proto_dir)
    # Generated next to the target and swapped in, so a concurrent run never sees half of it.
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={tmp}",
        f"--pyi_out={tmp}",
        f"--grpc_python_out={tmp}",
        *(str(f) for f in files),
    ]
    if protoc.main(args) != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GenerationError(f"grpc_tools.protoc failed on {proto_dir} (see its message above)")
    (tmp / STAMP_FILE).write_text(protos_digest(proto_dir) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return files


def ensure_generated(proto_dir: Path | None = None, out_dir: Path = GEN_DIR) -> None:
    """Generates the client when it is missing or older than the protos; puts it on sys.path."""
    if proto_dir is None:
        proto_dir = proto_dir_from_env()
    if not (out_dir / STAMP_FILE).is_file() or (proto_dir.is_dir() and not is_current(proto_dir, out_dir)):
        generate(proto_dir, out_dir)
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
