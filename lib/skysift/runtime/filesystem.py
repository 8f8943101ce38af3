"""One filesystem layer for every job: local paths, ``file://``, ``s3://`` and ``hdfs://`` URIs via pyarrow.fs.

A URI here is a plain local path (relative or absolute), ``file:///abs/path``, ``s3://BUCKET/KEY``
(``s3a://`` is read the same way) or ``hdfs://NAMENODE:PORT/path``. ``resolve`` turns it into a pyarrow
filesystem and the path that filesystem understands. Every helper below takes URIs and returns URIs with
the scheme kept, so jobs pass plain strings around (they pickle into Spark closures) and never a
filesystem object.

S3: endpoint, credentials and region come from the standard AWS variables (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``),
read by the process that resolves the URI. Executors get the driver's: ``with_s3_settings(fn)`` wraps a
function that Spark ships to the executors together with the S3 settings the driver resolves when
wrapping, and installs them in the Python worker while ``fn`` runs (``runtime.tasks.run_tasks`` wraps
every task). Environment variables alone do not reach local-mode executors reliably. The JVM starts the
Python workers with the environment it had at SparkSession start, so a variable set later never arrives.
The settings travel in the pickled closure, never in a URI, so credentials stay out of paths, manifests,
``_table.json`` and logs. skysift never creates or deletes buckets. HDFS goes through pyarrow's
HadoopFileSystem, which needs libhdfs and a Hadoop client on every node. It is routed here but cannot
be tested on this machine.

Hidden entries: a path component that starts with ``_`` or ``.`` is hidden (side tables such as
``_rejects``, temporary files), unless it is a hive partition folder ``key=value``. This is the same
rule Spark and pyarrow readers apply.
"""
from __future__ import annotations

import os
import posixpath
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Union

import pyarrow.fs as pafs

from skysift.runtime.errors import SkysiftError

Uri = Union[str, "os.PathLike[str]"]

SCHEMES = ("file", "s3", "s3a", "hdfs")
_LOCAL = pafs.LocalFileSystem()
_CACHE: dict[tuple, pafs.FileSystem] = {}
_CACHE_LOCK = threading.Lock()


class OutputError(SkysiftError):
    """A location a job cannot read or write: unknown scheme, missing bucket, a file where a folder belongs,
    an output another run is writing, an unfinished commit."""


def _split_uri(uri: Uri) -> tuple[str, str, str]:
    """(scheme, netloc, path) of ``uri``; scheme '' and the path as given for a plain local path."""
    text = os.fspath(uri)
    if "://" not in text:
        return "", "", text
    scheme, rest = text.split("://", 1)
    netloc, _, path = rest.partition("/")
    return scheme.lower(), netloc, "/" + path


def resolve(uri: Uri) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem holding ``uri`` and the path inside it (``bucket/key`` on S3)."""
    scheme, netloc, path = _split_uri(uri)
    if scheme == "":
        return _LOCAL, os.path.abspath(path)
    if scheme == "file":
        if netloc not in ("", "localhost"):
            raise OutputError(f"{uri}: a file:// URI names a local path (file:///abs/path), not host '{netloc}'")
        return _LOCAL, posixpath.normpath(path)
    if scheme in ("s3", "s3a"):
        if not netloc:
            raise OutputError(f"{uri}: no bucket; expected s3://BUCKET/PATH")
        key = path.strip("/")
        return _s3(), f"{netloc}/{key}" if key else netloc
    if scheme == "hdfs":
        return _hdfs(uri, netloc), posixpath.normpath(path)
    raise OutputError(
        f"{uri}: unknown scheme '{scheme}://'; skysift reads and writes local paths, file://, s3:// and hdfs://"
    )


def _cached(key: tuple, make) -> pafs.FileSystem:
    with _CACHE_LOCK:
        fs = _CACHE.get(key)
        if fs is None:
            fs = _CACHE[key] = make()
    return fs


# Setting name (pyarrow.fs.S3FileSystem argument) -> the AWS variables that give it, first set wins.
_S3_ENV = {
    "endpoint_override": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "access_key": ("AWS_ACCESS_KEY_ID",),
    "secret_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
}
_CREDENTIALS = ("access_key", "secret_key", "session_token")
_SHIPPED: dict[str, str] = {}
"""Settings a driver shipped with the function running now in this worker (``with_s3_settings``)."""


def _env_s3_settings() -> dict[str, str]:
    env = os.environ
    found = {}
    for name, variables in _S3_ENV.items():
        value = next((env[v] for v in variables if env.get(v)), None)
        if value:
            found[name] = value
    return found


def s3_settings() -> dict[str, str]:
    """The S3 settings (``S3FileSystem`` arguments) this process resolves ``s3://`` URIs with.

    The AWS variables of this process, overridden by the settings a driver shipped with the function
    that runs now (``with_s3_settings``). Credentials count as one group: shipped credentials replace the
    worker's access key, secret and token together, so that a key is never paired with another's token.
    """
    settings = _env_s3_settings()
    if "access_key" in _SHIPPED:
        settings = {k: v for k, v in settings.items() if k not in _CREDENTIALS}
    return {**settings, **_SHIPPED}


@contextmanager
def _shipped(settings: dict[str, str]) -> Iterator[None]:
    global _SHIPPED
    before = _SHIPPED
    _SHIPPED = dict(settings)
    try:
        yield
    finally:
        _SHIPPED = before


class WithS3Settings:
    """A function with the S3 settings of the process that wrapped it; made by ``with_s3_settings``."""

    def __init__(self, fn: Callable, settings: dict[str, str]):
        self.fn = fn
        self.settings = dict(settings)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _shipped(self.settings):
            result = self.fn(*args, **kwargs)
        if isinstance(result, Iterator):
            # mapInPandas / mapInArrow functions are generators: their body runs while Spark iterates
            return self._iterate(result)
        return result

    def _iterate(self, items: Iterator) -> Iterator:
        with _shipped(self.settings):
            yield from items

    def __repr__(self) -> str:  # never print the secret
        return f"with_s3_settings({self.fn!r}, settings={sorted(self.settings)})"


def with_s3_settings(fn: Callable) -> WithS3Settings:
    """``fn`` carrying the S3 settings this process resolves now (``s3_settings``), installed wherever it runs.

    Wrap every function that Spark ships to executors and that reads or writes ``s3://`` URIs (the task
    of ``run_tasks`` is wrapped already, mapInPandas / mapInArrow functions are not). While ``fn`` runs, and
    while its returned iterator is consumed, ``resolve`` in that Python worker uses the driver's endpoint,
    region and credentials instead of the worker's environment. Nothing is shipped when the driver has
    no AWS variables, and the worker then uses its own environment and the AWS default credential chain
    (instance roles).
    """
    return WithS3Settings(fn, s3_settings())


def _s3() -> pafs.S3FileSystem:
    settings = s3_settings()
    if bool(settings.get("access_key")) != bool(settings.get("secret_key")):
        raise OutputError("S3: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    # Keyed by every setting, not only the endpoint, so that rotated credentials get a new client.
    return _cached(("s3",) + tuple(sorted(settings.items())),
                   lambda: pafs.S3FileSystem(allow_bucket_creation=False, allow_bucket_deletion=False, **settings))


def _hdfs(uri: Uri, netloc: str) -> pafs.FileSystem:
    def make() -> pafs.FileSystem:
        try:
            return pafs.FileSystem.from_uri(f"hdfs://{netloc}/")[0]
        except (OSError, ImportError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise OutputError(f"{uri}: cannot open HDFS ({first}); pyarrow needs libhdfs and a Hadoop client "
                              "(HADOOP_HOME, CLASSPATH) on every node") from None

    return _cached(("hdfs", netloc), make)


def has_atomic_rename(fs: pafs.FileSystem) -> bool:
    """Whether ``fs`` renames folders in one step (local disk, HDFS) rather than copying objects (S3)."""
    return not isinstance(fs, pafs.S3FileSystem)


def join(uri: Uri, *parts: str) -> str:
    """``uri`` with ``parts`` appended as path components, scheme kept (``join('s3://b/t', 'x')``)."""
    rest = "/".join(p for p in (os.fspath(x).strip("/") for x in parts) if p)
    scheme, netloc, path = _split_uri(uri)
    if not rest:
        return os.fspath(uri)
    if not scheme:
        return posixpath.join(path, rest)
    return f"{scheme}://{netloc}{posixpath.join(path, rest)}"


def split(uri: Uri) -> tuple[str, str]:
    """(parent URI, last name) of ``uri``; a plain local path is made absolute first."""
    scheme, netloc, path = _split_uri(uri)
    if not scheme:
        path = os.path.abspath(path)
    parent, name = posixpath.split(path.rstrip("/"))
    if not name:
        raise OutputError(f"{uri}: names no folder (a bucket or filesystem root cannot be an output)")
    return (f"{scheme}://{netloc}{parent or '/'}" if scheme else parent or "/"), name


def for_spark(uri: Uri) -> str:
    """``uri`` as Spark's own reader and writer want it: ``s3://`` becomes ``s3a://`` (hadoop-aws)."""
    scheme, netloc, path = _split_uri(uri)
    return f"s3a://{netloc}{path}" if scheme == "s3" else os.fspath(uri)


def is_hidden(relative_path: str) -> bool:
    """Whether a path relative to a table folder is hidden (a ``_``/``.`` component that is not ``key=value``)."""
    return any(part.startswith(("_", ".")) and "=" not in part for part in relative_path.split("/") if part)


def _bucket_error(uri: Uri, exc: OSError) -> Exception:
    """OutputError for pyarrow's missing-bucket OSError, else ``exc`` itself."""
    text = str(exc)
    if "NO_SUCH_BUCKET" in text or ("Bucket" in text and "not found" in text):
        return OutputError(f"{uri}: bucket '{_split_uri(uri)[1]}' does not exist; skysift never creates buckets")
    return exc


def check_bucket(uri: Uri) -> None:
    """OutputError when ``uri`` is on S3 and its bucket does not exist (nothing to do elsewhere)."""
    fs, path = resolve(uri)
    if not has_atomic_rename(fs) and fs.get_file_info(path.split("/", 1)[0]).type == pafs.FileType.NotFound:
        raise OutputError(f"{uri}: bucket '{_split_uri(uri)[1]}' does not exist; skysift never creates buckets")


def exists(uri: Uri) -> bool:
    """Whether a file or folder (on S3: any object under the prefix) exists at ``uri``."""
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def makedirs(uri: Uri) -> None:
    """Create folder ``uri`` and its parents. On S3 only the bucket is checked: folders exist once a file
    is in them, and the empty marker objects pyarrow would write are left out of every listing."""
    fs, path = resolve(uri)
    if has_atomic_rename(fs):
        fs.create_dir(path, recursive=True)
    else:
        check_bucket(uri)


def rename_over(fs: pafs.FileSystem, src: str, dst: str) -> None:
    """Rename file ``src`` over ``dst`` (paths inside ``fs``): one atomic rename(2) on local disk; HDFS's rename does not
    overwrite, so there the old file is deleted first (a short window with no file)."""
    if not isinstance(fs, pafs.LocalFileSystem) and fs.get_file_info(dst).type == pafs.FileType.File:
        fs.delete_file(dst)
    fs.move(src, dst)


def temporary_sibling(path: str) -> str:
    """A hidden, unique name beside ``path`` (a filesystem path) to write into before the rename."""
    parent, name = posixpath.split(path)
    return f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"


def write_bytes(uri: Uri, data: bytes) -> None:
    """Write ``data`` to ``uri`` whole or not at all, creating parent folders.

    Local / HDFS: a hidden temporary file renamed over the target. S3: one object, which becomes visible
    only when its upload completes.
    """
    fs, path = resolve(uri)
    try:
        if not has_atomic_rename(fs):
            with fs.open_output_stream(path) as out:
                out.write(data)
            return
        fs.create_dir(posixpath.dirname(path), recursive=True)
        tmp = temporary_sibling(path)
        try:
            with fs.open_output_stream(tmp) as out:
                out.write(data)
            rename_over(fs, tmp, path)
        except BaseException:
            if fs.get_file_info(tmp).type == pafs.FileType.File:
                fs.delete_file(tmp)
            raise
    except OSError as e:
        raise _bucket_error(uri, e) from None


def read_bytes(uri: Uri) -> bytes:
    """The whole content of file ``uri``; FileNotFoundError naming it when there is none."""
    fs, path = resolve(uri)
    try:
        with fs.open_input_stream(path) as src:
            return src.read()
    except OSError:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"{uri}: no such file") from None
        raise


def write_text(uri: Uri, text: str) -> None:
    """``write_bytes`` of ``text`` in UTF-8."""
    write_bytes(uri, text.encode("utf-8"))


def read_text(uri: Uri) -> str:
    """``read_bytes`` decoded as UTF-8."""
    return read_bytes(uri).decode("utf-8")


def file_sizes(uri: Uri, include_hidden: bool = False) -> dict[str, int]:
    """Every file under folder ``uri`` as {path relative to it: size in bytes}; {} when nothing is there.

    Hidden entries are skipped unless ``include_hidden``; folders (and S3 folder markers) are never listed.
    """
    fs, root = resolve(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except NotADirectoryError:
        raise OutputError(f"{uri}: is a file, expected a folder") from None
    sizes = {}
    for info in infos:
        rel = info.path[len(root):].lstrip("/")
        if info.type == pafs.FileType.File and (include_hidden or not is_hidden(rel)):
            sizes[rel] = info.size
    return sizes


def list_files(uri: Uri, suffix: str = "") -> list[str]:
    """URIs of the visible files under folder ``uri`` whose names end in ``suffix``, sorted.

    Hidden ``_``/``.`` entries are skipped; hive ``key=value`` folders are kept.
    """
    return [join(uri, rel) for rel in sorted(file_sizes(uri)) if rel.endswith(suffix)]


def remove_tree(uri: Uri) -> None:
    """Delete the file or folder at ``uri`` with everything under it; nothing to do when absent."""
    fs, path = resolve(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.File:
        fs.delete_file(path)
    elif kind == pafs.FileType.Directory:
        fs.delete_dir(path)
