"""Staged job output and one filesystem layer (interim local-disk version; replaced by the URI-aware one).

A job writes everything under ``stage.uri`` and the output replaces the previous one as a whole at commit,
so a failed run never leaves a half table.
"""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

from skysift.runtime.errors import SkysiftError


class OutputError(SkysiftError):
    """An output location that cannot be used."""


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) of a path or URI."""
    if "://" in str(uri) and not str(uri).startswith("file://"):
        fs, path = pafs.FileSystem.from_uri(str(uri))
        return fs, path
    path = str(uri)[len("file://"):] if str(uri).startswith("file://") else str(uri)
    return pafs.LocalFileSystem(), str(Path(path).absolute())


def join(uri: str, *parts: str) -> str:
    """``uri/part/...`` keeping the scheme."""
    return "/".join([str(uri).rstrip("/"), *[p.strip("/") for p in parts]])


def exists(uri: str) -> bool:
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def makedirs(uri: str) -> None:
    fs, path = resolve(uri)
    fs.create_dir(path, recursive=True)


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) and "=" not in part for part in rel.split("/"))


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Paths of the files under ``uri`` (hidden ``_``/``.`` entries skipped, hive ``key=value`` kept), sorted."""
    fs, root = resolve(uri)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return []
    if info.type == pafs.FileType.File:
        return [root]
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return sorted(f.path for f in found if f.type == pafs.FileType.File and f.path.endswith(suffix)
                  and not _hidden(f.path[len(root):].lstrip("/")))


def table_files(uri: str) -> list[str]:
    """The Parquet data files of a committed table."""
    return list_files(uri, ".parquet")


def write_bytes(uri: str, data: bytes) -> None:
    fs, path = resolve(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as out:
        out.write(data)
    fs.move(tmp, path)


def read_bytes(uri: str) -> bytes:
    fs, path = resolve(uri)
    with fs.open_input_stream(path) as src:
        return src.read()


class Staging:
    """Where a job writes before its output is committed."""

    def __init__(self, output: str):
        self.output = str(Path(output).absolute())
        out = Path(self.output)
        if out.exists() and not out.is_dir():
            raise OutputError(f"output {output!r} is a file, not a folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.uri = str(out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}")
        Path(self.uri).mkdir(parents=True)

    def commit(self) -> str:
        """Replace the output with the staged files as a whole; returns the output path."""
        out = Path(self.output)
        trash = None
        if out.exists():
            trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
            os.replace(out, trash)
        os.replace(self.uri, out)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.output

    def discard(self) -> None:
        shutil.rmtree(self.uri, ignore_errors=True)


def stage(output: str) -> Staging:
    return Staging(output)


@contextmanager
def staged(output: str) -> Iterator[Staging]:
    """``with staged(out) as st: write under st.uri`` — committed on success, discarded on any exception."""
    st = stage(output)
    try:
        yield st
    except BaseException:
        st.discard()
        raise
    st.commit()
