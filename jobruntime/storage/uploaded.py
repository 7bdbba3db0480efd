"""The object ``run()`` receives for a FileVar, shaped like the file a Nautobot FileVar gives.

It is file-like (``read()`` returns bytes, ``readline()``, iteration by line,
``seek()``, ``chunks()``) and carries ``name`` and ``size``. As Django keeps an
upload in memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE`` and in a temporary file
above it, a fetched upload stays in memory up to :data:`MEMORY_LIMIT` and is
spooled to disk beyond, so a large file never sits whole in a worker's memory.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MEMORY_LIMIT = 2_621_440  # bytes (2.5 MiB), Django's default FILE_UPLOAD_MAX_MEMORY_SIZE
DEFAULT_CHUNK_SIZE = 64 * 1024


class UploadedFile:
    """An uploaded file's content with its ``name``, ``size``, ``content_type`` and ``sha256``."""

    def __init__(self, file: IO[bytes], name: str, size: int, *, content_type: str | None = None,
                 sha256: str | None = None) -> None:
        self.file = file
        self.name = name
        self.size = size
        self.content_type = content_type
        self.sha256 = sha256

    @classmethod
    def spooled(cls, name: str, *, content_type: str | None = None) -> UploadedFile:
        """An empty file to write into, kept in memory up to MEMORY_LIMIT bytes; the caller sets ``size``."""
        return cls(tempfile.SpooledTemporaryFile(max_size=MEMORY_LIMIT), name, 0, content_type=content_type)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, content_type: str | None = None) -> UploadedFile:
        """A local file read where it is (``runjob --local``): no copy, no store."""
        path = Path(path)
        return cls(open(path, "rb"), path.name, path.stat().st_size, content_type=content_type)

    @property
    def in_memory(self) -> bool:
        """Whether the content is held in memory (small files) rather than in a temporary file."""
        inner = getattr(self.file, "_file", self.file)
        return isinstance(inner, io.BytesIO)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self.file.readline(size)

    def readlines(self) -> list[bytes]:
        return self.file.readlines()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.file.readline, b"")

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The whole content from the start, ``chunk_size`` bytes at a time (as Django's ``File.chunks``)."""
        self.file.seek(0)
        while chunk := self.file.read(chunk_size):
            yield chunk

    @property
    def closed(self) -> bool:
        return self.file.closed

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> UploadedFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<UploadedFile: {self.name} ({self.size} bytes)>"

    def __str__(self) -> str:
        return self.name
