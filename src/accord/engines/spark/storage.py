"""Where the Spark lake's files live: a folder on this machine, or a URI any file system Spark's Hadoop libraries
reach (`hdfs://`, `s3a://`, `abfss://`, `gs://`, `file://`), used with the cluster's own connectors and settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol


class Storage(Protocol):
    """The few file operations the Spark lake needs; locations are strings under the lake's root."""

    def children(self, location: str) -> list[str]:
        """Names of what `location` holds; none if it does not exist."""
        ...

    def remove(self, location: str) -> None:
        """Remove `location` and all it holds, if it exists."""
        ...

    def upload(self, local: Path, location: str) -> None:
        """Put the local folder `local` at `location` (which does not exist yet), consuming it."""
        ...

    def create(self, location: str, data: bytes) -> bool:
        """Write a new file at `location`; False, and nothing written, if one is there already."""
        ...

    def read(self, location: str) -> bytes | None:
        ...


def join(root: str, *names: str) -> str:
    return "/".join([root.rstrip("/"), *names])


def has_scheme(location: str) -> bool:
    return "://" in location or location.startswith("file:")


class LocalStorage:
    """A folder on this machine (in local mode, or a mount every executor shares)."""

    def children(self, location: str) -> list[str]:
        folder = Path(location)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def remove(self, location: str) -> None:
        path = Path(location)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def upload(self, local: Path, location: str) -> None:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, location)

    def create(self, location: str, data: bytes) -> bool:
        path = Path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.tmp")
        aside.write_bytes(data)
        try:
            os.link(aside, path)  # fails if the name is taken: the check and the write are one step
        except FileExistsError:
            return False
        finally:
            aside.unlink()
        return True

    def read(self, location: str) -> bytes | None:
        try:
            return Path(location).read_bytes()
        except OSError:
            return None


class HadoopStorage:
    """A file system reached through the Spark driver's Hadoop libraries, with the session's settings."""

    def __init__(self, spark: Any) -> None:
        if not hasattr(spark, "_jvm"):
            raise ValueError("a Spark lake at a URI needs a driver of its own: Spark Connect cannot reach its files; "
                             "use spark-submit, or a folder every executor shares")
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()

    def _path(self, location: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(location)

    def _fs(self, location: str) -> Any:
        return self._path(location).getFileSystem(self._conf)

    def children(self, location: str) -> list[str]:
        fs, path = self._fs(location), self._path(location)
        if not fs.exists(path):
            return []
        return sorted(str(status.getPath().getName()) for status in fs.listStatus(path))

    def remove(self, location: str) -> None:
        self._fs(location).delete(self._path(location), True)

    def upload(self, local: Path, location: str) -> None:
        source = self._path(f"file://{local.resolve()}")  # as is: a URI's escapes would be taken literally
        self._fs(location).copyFromLocalFile(True, False, source, self._path(location))

    def create(self, location: str, data: bytes) -> bool:
        fs, path = self._fs(location), self._path(location)
        if fs.exists(path):
            return False
        try:
            out = fs.create(path, False)  # refuses a name taken meanwhile
        except Exception:  # noqa: BLE001 - py4j raises its own error type; a second look says which it was
            if fs.exists(path):
                return False
            raise
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return True

    def read(self, location: str) -> bytes | None:
        fs, path = self._fs(location), self._path(location)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()


def storage_for(root: str, spark: Any) -> Storage:
    return HadoopStorage(spark) if has_scheme(root) else LocalStorage()
