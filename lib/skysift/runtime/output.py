"""Staged job output, committed as a whole, on every filesystem of ``runtime.filesystem``.

A job writes its whole output under ``Staging.uri`` and commits at the end::

    with staged(cfg.output) as staging:          # commits on success, discards on any exception
        run_tasks(..., staging.uri)              # executors write files under staging.uri
        write_parquet_atomic(join(staging.uri, "part-0.parquet"), table)

Every committed output holds ``_manifest.json`` (every file of the output with its size, side tables
included) and an empty ``_SUCCESS``. Readers in skysift call ``table_files`` / ``read_table`` /
``count_rows``. They follow the manifest when there is one, and a plain listing otherwise (a folder that
something else wrote).

One writer at a time. ``stage`` creates the lock ``.NAME.lock`` beside the output, create-if-absent. A
second run staging the same output fails at once with a message naming the lock and its holder. The lock
is released by commit or discard. A lock left by a killed run on this host (its pid is gone) is taken
over. One left by another host must be deleted by hand, and the message says which file. On local disk
the lock is ``os.open(O_CREAT | O_EXCL)``. pyarrow offers no create-if-absent write on S3 or HDFS (S3's
conditional PUT, ``If-None-Match``, is not exposed; the stream metadata ignores it), so there the lock is
check, write, read back our token. Two runs starting within the same fraction of a second can both pass.

Resume (RELIABILITY.md). ``stage(output, resume=True, resume_key=KEY)`` keeps the staging folder that a
killed or failed run of the same job left, when that run had the same KEY (the job's config, its inputs'
names, sizes and times, its task count), and empties it otherwise. ``runtime.tasks.run_tasks(markers=
staging.markers(phase))`` then skips the tasks that finished. Such a staging is kept when the run fails
(``discard`` releases only the lock), and its ``_resume/`` bookkeeping is deleted by the commit.

Local disk, ``file://`` and HDFS: commit by rename. The staging folder is the hidden sibling
``.NAME.staging``. The commit writes the manifest and ``_SUCCESS`` into it, renames the old output to
``.NAME.old``, renames the staging folder to ``NAME``, then deletes ``.NAME.old``. If the second rename
fails, the old output is renamed back. Readers see the old output or the new one. A driver killed between
the two renames leaves no output (the old one waits in ``.NAME.old`` until the next commit deletes it).

S3 has no rename, so the commit goes by manifest. The job writes under the sibling prefix
``.NAME.staging/``. Then the commit:

1. deletes ``NAME/_SUCCESS``; from here skysift's readers treat the output as absent;
2. writes the new ``NAME/_manifest.json``;
3. copies every staged object to ``NAME/`` (server-side copies, 16 at a time; S3's CopyObject takes
   objects up to 5 GB);
4. deletes every object under ``NAME/`` that the new manifest does not list, which leaves the listing
   equal to the manifest;
5. writes ``NAME/_SUCCESS``;
6. deletes the staging prefix.

A job killed before the commit leaves the previous output exactly as it was, because nothing under
``NAME/`` was touched. A job killed during the commit leaves no output for skysift. ``table_files``
raises OutputError on a manifest without ``_SUCCESS``, and also on a listed file that is missing or
whose size differs from the manifest's. It never returns a mixed table, unless a rewritten file kept
exactly the same size while a reader raced a running commit. Rerunning the job commits again.

What a non-skysift reader sees on S3 (Spark's own reader over ``s3a://``, ``pyarrow.dataset``, lsdb). These
readers skip ``_`` and ``.`` names, so they never see the staging prefix, the manifest or ``_SUCCESS``.
After a commit they see exactly the manifest's data files. During steps 3–4 of a commit, or after a
commit killed there, they see old and new files mixed, until a later commit finishes. They should wait
for ``_SUCCESS``, the Hadoop convention that Spark's own committer follows too.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from skysift.runtime.filesystem import (
    OutputError,
    Uri,
    check_bucket,
    exists,
    file_sizes,
    has_atomic_rename,
    is_hidden,
    join,
    makedirs,
    read_bytes,
    remove_tree,
    rename_over,
    resolve,
    split,
    temporary_sibling,
    write_bytes,
)

__all__ = [
    "MANIFEST", "SUCCESS", "OutputError", "Staging", "stage", "staged", "table_files", "open_dataset",
    "read_table", "count_rows", "write_parquet_atomic", "AtomicParquetWriter", "PartitionedParquetWriter",
    "RESUME",
]

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
_MARKERS = (MANIFEST, SUCCESS)
RESUME = "_resume"
"""Folder of a staging area that ``stage`` (resume key) and ``runtime.tasks`` (task completion markers) keep
for a rerun after a kill; the commit deletes it, so it never reaches an output."""
_RESUME_KEY = f"{RESUME}/key.json"
# Copies and footer reads are one or two requests each on S3, each bound by latency rather than bandwidth,
# so several in flight hide it. 16 is a skysift choice, not measured here; it is far under S3's
# per-prefix request limits.
_PARALLEL = 16


def _parallel(fn: Callable, items: Iterable) -> list:
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(_PARALLEL, len(items))) as pool:
        return list(pool.map(fn, items))


# ---- the lock -------------------------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_exclusive(lock: str, record: dict) -> bool:
    """Create file ``lock`` holding ``record`` unless it exists; whether this call created it."""
    data = json.dumps(record).encode()
    fs, path = resolve(lock)
    if isinstance(fs, pafs.LocalFileSystem):
        os.makedirs(posixpath.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return True
    if exists(lock):  # S3 / HDFS: no create-if-absent in pyarrow (module docstring)
        return False
    write_bytes(lock, data)
    return _read_lock(lock).get("token") == record["token"]


def _read_lock(lock: str) -> dict:
    try:
        return json.loads(read_bytes(lock) or b"{}")
    except (FileNotFoundError, ValueError):
        return {}  # gone meanwhile, or being written: treated as held


def _take_lock(lock: str, output: str) -> str:
    token = uuid.uuid4().hex
    record = {"host": socket.gethostname(), "pid": os.getpid(), "token": token,
              "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    for attempt in range(2):
        if _create_exclusive(lock, record):
            return token
        held = _read_lock(lock)
        stale = held.get("host") == record["host"] and isinstance(held.get("pid"), int) and not _pid_alive(held["pid"])
        if attempt == 0 and stale:
            remove_tree(lock)  # a run on this host that was killed: its pid is gone
            continue
        who = f"pid {held.get('pid', '?')} on {held.get('host', '?')} since {held.get('since', '?')}"
        raise OutputError(f"{output}: another run is writing this output ({who}); wait for it to finish, "
                          f"or delete {lock} if that run is dead")
    raise AssertionError("unreachable")


def _release_lock(lock: str, token: str) -> None:
    if _read_lock(lock).get("token") == token:
        remove_tree(lock)


# ---- staging and commit ---------------------------------------------------------------------------------

@dataclass
class Staging:
    """An output being written: the job writes under ``uri`` and then calls ``commit`` or ``discard``."""

    output: str
    """The output URI that ``commit`` fills (local paths absolute)."""
    uri: str
    """Where the job and its executors write (a string, so it pickles into Spark closures)."""
    lock: str
    """The lock file held from ``stage`` until ``commit`` / ``discard``."""
    token: str
    """This run's token inside the lock file."""
    state: str = "open"
    """open, committed or discarded."""
    resumed: bool = False
    """Whether the staging folder was kept from a killed run with the same resume key (RELIABILITY.md)."""
    resumable: bool = False
    """Staged with ``resume=True`` and a resume key: ``discard`` (a failed run, Ctrl-C) keeps the complete
    files for the next run to resume from, and only releases the lock."""

    def markers(self, phase: str = "tasks") -> str:
        """Folder for ``runtime.tasks.run_tasks(..., markers=)`` of one phase of the job's tasks."""
        return join(self.uri, RESUME, phase)

    def commit(self) -> str:
        """Replace the output with everything under ``uri`` as a whole (module docstring); returns the output URI."""
        if self.state != "open":
            raise OutputError(f"{self.output}: cannot commit, this staging is already {self.state}")
        _hold_for_tests()
        remove_tree(join(self.uri, RESUME))  # resume bookkeeping: never part of an output
        files = file_sizes(self.uri, include_hidden=True)
        for rel in [r for r in files if _is_temporary(r)]:  # left by tasks killed mid-file: never whole
            remove_tree(join(self.uri, rel))
            del files[rel]
        files = {rel: size for rel, size in files.items() if rel not in _MARKERS}
        manifest = _manifest_json(files)
        if has_atomic_rename(resolve(self.output)[0]):
            _commit_by_rename(self, manifest)
        else:
            _commit_by_manifest(self, files, manifest)
        self.state = "committed"
        _release_lock(self.lock, self.token)
        return self.output

    def discard(self) -> None:
        """Delete what was staged (kept when ``resumable``) and release the lock; the previous output stays
        as it was."""
        if self.state != "open":
            return
        self.state = "discarded"
        try:
            if not self.resumable:
                remove_tree(self.uri)
        finally:
            _release_lock(self.lock, self.token)


HOLD_ENV = "SKYSIFT_TEST_HOLD_COMMIT_S"
"""Test-only: seconds a commit waits before it starts, so that the kill-and-rerun harness
(``skysift.testing.faults``) can SIGKILL a tiny job after its first staged file and before its commit,
however fast the job is. Unset (0) everywhere else."""


def _hold_for_tests() -> None:
    seconds = float(os.environ.get(HOLD_ENV) or 0)
    if seconds > 0:
        import time

        time.sleep(seconds)


def _is_temporary(rel: str) -> bool:
    """A temporary file of ``temporary_sibling`` (``.NAME.tmp-XXXXXXXX``)."""
    base = posixpath.basename(rel)
    return base.startswith(".") and ".tmp-" in base


def _manifest_json(files: dict[str, int]) -> bytes:
    entries = [{"path": rel, "size": files[rel]} for rel in sorted(files)]
    return json.dumps({"format": "skysift-manifest/1", "files": entries}, indent=1).encode()


def _commit_by_rename(staging: Staging, manifest: bytes) -> None:
    write_bytes(join(staging.uri, MANIFEST), manifest)
    write_bytes(join(staging.uri, SUCCESS), b"")
    parent, name = split(staging.output)
    fs, out = resolve(staging.output)
    trash_uri = join(parent, f".{name}.old")
    trash = resolve(trash_uri)[1]
    remove_tree(trash_uri)
    had_old = fs.get_file_info(out).type != pafs.FileType.NotFound
    if had_old:
        fs.move(out, trash)
    try:
        fs.move(resolve(staging.uri)[1], out)
    except BaseException:
        if had_old:
            fs.move(trash, out)
        raise
    remove_tree(trash_uri)


def _commit_by_manifest(staging: Staging, files: dict[str, int], manifest: bytes) -> None:
    fs, out = resolve(staging.output)
    _, src = resolve(staging.uri)
    old = file_sizes(staging.output, include_hidden=True)
    if SUCCESS in old:
        fs.delete_file(f"{out}/{SUCCESS}")  # 1. from here skysift readers see no output
    write_bytes(join(staging.output, MANIFEST), manifest)  # 2.
    _parallel(lambda rel: fs.copy_file(f"{src}/{rel}", f"{out}/{rel}"), sorted(files))  # 3.
    _parallel(fs.delete_file, [f"{out}/{rel}" for rel in sorted(old) if rel not in files and rel not in _MARKERS])  # 4.
    write_bytes(join(staging.output, SUCCESS), b"")  # 5.
    remove_tree(staging.uri)  # 6.


def stage(output_uri: Uri, resume: bool = False, resume_key: dict | None = None) -> Staging:
    """Start writing ``output_uri``: take its lock and make an empty staging folder beside it.

    ``resume=True`` keeps what a killed run of the same job left in the staging folder, so that tasks can
    skip the files that are already complete (``runtime.tasks.run_tasks(markers=...)``). Every file in it is
    whole, because files appear by rename or as one object. ``resume_key``: what the staged files depend on
    (the job's config, its inputs' names, sizes and times, its task count). It is kept in the staging
    folder, and a staging folder left by a run with another key, or with none, is emptied even when
    ``resume`` is True: a rerun on changed inputs starts afresh. Raises OutputError when the output is a
    file, its bucket is missing, or another run holds the lock.
    """
    fs, path = resolve(output_uri)
    output = os.fspath(output_uri).rstrip("/") if "://" in os.fspath(output_uri) else path
    check_bucket(output)
    if fs.get_file_info(path).type == pafs.FileType.File:
        raise OutputError(f"{output}: is a file; an output must be a folder (or not exist yet)")
    parent, name = split(output)
    lock = join(parent, f".{name}.lock")
    token = _take_lock(lock, output)
    staging = Staging(output=output, uri=join(parent, f".{name}.staging"), lock=lock, token=token)
    try:
        key = None if resume_key is None else _normal_key(resume_key)
        keep = resume and exists(staging.uri) and (key is None or _stored_key(staging.uri) == key)
        if not keep:
            remove_tree(staging.uri)
        makedirs(staging.uri)
        if key is not None:
            write_bytes(join(staging.uri, _RESUME_KEY), json.dumps(key, sort_keys=True).encode())
        staging.resumed = bool(keep)
        staging.resumable = bool(resume and key is not None)
    except BaseException:
        _release_lock(lock, token)
        raise
    return staging


def _normal_key(key: dict) -> dict:
    """``key`` and the skysift version, as they read back from JSON (tuples become lists, others their str)."""
    from skysift import __version__

    return json.loads(json.dumps({**key, "skysift_version": __version__}, sort_keys=True, default=str))


def _stored_key(staging_uri: str) -> dict | None:
    try:
        return json.loads(read_bytes(join(staging_uri, _RESUME_KEY)))
    except (FileNotFoundError, ValueError):
        return None


@contextmanager
def staged(output_uri: Uri, resume: bool = False, resume_key: dict | None = None) -> Iterator[Staging]:
    """``stage`` as a context manager: commit when the block ends, discard on any exception (Ctrl-C too)."""
    staging = stage(output_uri, resume=resume, resume_key=resume_key)
    try:
        yield staging
        staging.commit()
    except BaseException:
        staging.discard()
        raise


# ---- reading --------------------------------------------------------------------------------------------

def _manifest(uri: Uri) -> dict[str, int] | None:
    try:
        doc = json.loads(read_bytes(join(uri, MANIFEST)))
    except FileNotFoundError:
        return None
    except ValueError:
        raise OutputError(f"{join(uri, MANIFEST)}: not a skysift manifest (invalid JSON)") from None
    return {e["path"]: int(e["size"]) for e in doc["files"]}


def table_files(uri: Uri, suffix: str = ".parquet", under: str = "") -> list[str]:
    """URIs of the visible files of table ``uri`` ending in ``suffix``, sorted: the manifest's list when
    the output has one (checked against the store), else a listing. [] when nothing is there.

    ``under``: a sub-folder of the output (``"_rejects"``) whose files to list instead.
    """
    root = join(uri, under)
    # Manifest, then _SUCCESS, then the listing: the reverse of the commit's order, so that a reader
    # racing a commit finds the marker gone or the listing different from the manifest it read.
    manifest = _manifest(uri)
    if manifest is not None and not exists(join(uri, SUCCESS)):
        raise OutputError(f"{uri}: an unfinished commit ({MANIFEST} without {SUCCESS}); "
                          "rerun the job that writes it")
    listing = file_sizes(root)
    if manifest is None:
        return [join(root, rel) for rel in sorted(listing) if rel.endswith(suffix)]
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    wanted = {p[len(prefix):]: size for p, size in manifest.items()
              if p.startswith(prefix) and p.endswith(suffix) and not is_hidden(p[len(prefix):])}
    bad = sorted(rel for rel, size in wanted.items() if listing.get(rel) != size)
    if bad:
        raise OutputError(f"{uri}: {len(bad)} file(s) missing or changed since its {MANIFEST} was written "
                          f"(first: {bad[0]}); a commit is running or was interrupted: rerun the job")
    return [join(root, rel) for rel in sorted(wanted)]


def open_dataset(uri: Uri, schema: pa.Schema | None = None, under: str = "") -> pads.Dataset:
    """A pyarrow dataset over the Parquet files of ``table_files(uri)``, hive partition columns restored."""
    root = join(uri, under)
    files = table_files(uri, under=under)
    if not files and not exists(root):
        raise OutputError(f"{root}: no table there (nothing at this path)")
    fs, base = resolve(root)
    return pads.dataset([resolve(f)[1] for f in files], schema=schema, filesystem=fs, format="parquet",
                        partitioning="hive", partition_base_dir=base)


def read_table(uri: Uri, columns: list[str] | None = None, schema: pa.Schema | None = None,
               under: str = "") -> pa.Table:
    """The whole table at ``uri`` (see ``open_dataset``); ``schema`` also types an empty result."""
    return open_dataset(uri, schema=schema, under=under).to_table(columns=columns)


def count_rows(uri: Uri, under: str = "") -> int:
    """Rows of the table at ``uri``, from the Parquet footers; 0 when nothing is there."""
    files = table_files(uri, under=under)
    fs = resolve(uri)[0]
    return sum(_parallel(lambda f: pq.read_metadata(resolve(f)[1], filesystem=fs).num_rows, files))


# ---- writing Parquet ------------------------------------------------------------------------------------

class AtomicParquetWriter:
    """One Parquet file at ``uri`` that appears whole on ``close`` or not at all.

    Local / HDFS: written under a hidden temporary name and renamed over ``uri``. S3: one object, visible
    once its upload completes. A retried task that writes the same ``uri`` replaces the file.
    """

    def __init__(self, uri: Uri, schema: pa.Schema):
        self.uri = os.fspath(uri)
        self._fs, self._final = resolve(uri)
        atomic = has_atomic_rename(self._fs)
        if atomic:
            self._fs.create_dir(posixpath.dirname(self._final), recursive=True)
        self._tmp = temporary_sibling(self._final) if atomic else self._final
        self._stream = self._fs.open_output_stream(self._tmp)
        self._writer = pq.ParquetWriter(self._stream, schema)
        self.rows = 0

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        """Append a batch or table (its schema must equal the file's)."""
        if isinstance(data, pa.RecordBatch):
            self._writer.write_batch(data)
        else:
            self._writer.write_table(data)
        self.rows += data.num_rows

    def close(self) -> int:
        """Finish the file and put it in place; returns the rows written."""
        self._writer.close()
        self._stream.close()
        if self._tmp != self._final:
            rename_over(self._fs, self._tmp, self._final)
        return self.rows

    def abort(self) -> None:
        """Drop the file after a failure. pyarrow cannot cancel an S3 upload, so the unfinished object
        that closing the stream creates is deleted. A killed process never completes its upload."""
        for finish in (self._writer.close, self._stream.close):
            try:
                finish()
            except Exception:
                pass
        if self._fs.get_file_info(self._tmp).type == pafs.FileType.File:
            self._fs.delete_file(self._tmp)


def write_parquet_atomic(uri: Uri, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> int:
    """Stream ``data`` into the Parquet file ``uri`` (see AtomicParquetWriter); returns the rows written.

    Empty batches are skipped and no file is made when there are no rows. ``schema``: the file's schema
    (default: the first non-empty batch's).
    """
    batches = data.to_batches() if isinstance(data, pa.Table) else data
    writer = None
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = AtomicParquetWriter(uri, schema or batch.schema)
            writer.write(batch)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return writer.close() if writer is not None else 0


class PartitionedParquetWriter:
    """Write one task's rows into ``root/<column>=<value>/<name>``, one AtomicParquetWriter per value.

    Executors write their own files, because Spark's row-by-row Parquet writer is several times slower on
    list<float> columns. The caller picks a deterministic ``name`` (e.g. from the task's first input
    index), so a retried or speculative task replaces its files instead of duplicating them.
    """

    def __init__(self, root: Uri, column: str, name: str, schema: pa.Schema):
        self.root = os.fspath(root)
        self.column = column
        self.name = name
        self.schema = schema.remove(schema.get_field_index(column))
        self.writers: dict[int, AtomicParquetWriter] = {}
        self.rows = 0

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        """Route each row to its partition's file."""
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        if table.num_rows == 0:
            return
        values = table.column(self.column).to_numpy()
        rest = table.drop_columns([self.column]).cast(self.schema)
        for value in np.unique(values):  # sorted: the same files in the same order every run
            writer = self.writers.get(int(value))
            if writer is None:
                uri = join(self.root, f"{self.column}={int(value)}", self.name)
                writer = self.writers[int(value)] = AtomicParquetWriter(uri, self.schema)
            writer.write(rest.filter(pa.array(values == value)))
        self.rows += table.num_rows

    def close(self) -> int:
        """Finish every file (put in place); returns the rows written."""
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        return self.rows

    def abort(self) -> None:
        """Drop every unfinished file."""
        for writer in self.writers.values():
            writer.abort()
        self.writers = {}
