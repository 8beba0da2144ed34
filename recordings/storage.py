"""Where recording files live: local disk (default) or an S3-compatible store (``storage_s3.py``).

Keys are relative paths (``<recording id>/<file>``). The SFU always writes segments to the recording node's local
directory; ``put`` makes a finished file durable in the store (a no-op on local disk, an upload to S3), and
``locate`` says how a client gets it: a local path any node sharing the disk serves with Range support, or an URL
(a presigned S3 GET, which serves Range itself).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Located:
    """A local file (``path``) or an URL to redirect to (``url``)."""

    path: str | None = None
    url: str | None = None


class Storage(Protocol):
    kind: str

    def scratch(self, key: str) -> str:
        """The local path where the recording node writes ``key`` before it is put."""
        ...

    async def put(self, key: str, local_path: str) -> None: ...

    async def fetch(self, key: str, local_path: str) -> bool:
        """Copy ``key`` to ``local_path`` unless it is there already; False if the store has no such key."""
        ...

    async def delete(self, key: str) -> None: ...

    async def locate(self, key: str) -> Located | None: ...


class LocalStorage:
    """Files under one directory of the recording node (a shared volume serves them from every node)."""

    kind = "local"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _path(self, key: str) -> str:
        path = os.path.abspath(os.path.join(self.root, key))
        if not path.startswith(self.root + os.sep):
            raise ValueError("key outside the recordings directory")
        return path

    def scratch(self, key: str) -> str:
        return self._path(key)

    async def put(self, key: str, local_path: str) -> None:
        await asyncio.to_thread(self._put, key, local_path)

    async def fetch(self, key: str, local_path: str) -> bool:
        return await asyncio.to_thread(self._fetch, key, local_path)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def locate(self, key: str) -> Located | None:
        path = self._path(key)
        exists = await asyncio.to_thread(os.path.exists, path)
        return Located(path=path) if exists else None

    def _put(self, key: str, local_path: str) -> None:
        target = self._path(key)
        if os.path.abspath(local_path) != target:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(local_path, target)

    def _fetch(self, key: str, local_path: str) -> bool:
        source = self._path(key)
        if not os.path.exists(source):
            return False
        if os.path.abspath(local_path) != source:
            shutil.copyfile(source, local_path)
        return True

    def _delete(self, key: str) -> None:
        path = self._path(key)
        if os.path.exists(path):
            os.unlink(path)
        directory = os.path.dirname(path)
        if directory != self.root and os.path.isdir(directory) and not os.listdir(directory):
            os.rmdir(directory)
