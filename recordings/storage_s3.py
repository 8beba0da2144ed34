"""Recording files on an S3-compatible store (AWS S3, MinIO, Ceph RGW, moto's server in the tests) with boto3.

boto3 is synchronous: every call runs in a worker thread. Segments are uploaded as they finish (a crash of the
recording node loses at most the segment in progress), the joined file when it is ready; the local copies are
deleted once stored. Clients get a presigned GET URL (any node can make one), which serves HTTP Range itself.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from recordings.storage import Located

#: Presigned URLs stay valid this long (a player that seeks later asks the hub again).
URL_TTL_S = 3600


class S3Storage:
    kind = "s3"

    def __init__(
        self,
        scratch_root: str,
        bucket: str,
        *,
        endpoint: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
    ) -> None:
        self.root = os.path.abspath(scratch_root)
        self.bucket = bucket
        credentials: dict[str, Any] = {}
        if access_key:
            credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3}),
            **credentials,
        )

    def scratch(self, key: str) -> str:
        path = os.path.abspath(os.path.join(self.root, key))
        if not path.startswith(self.root + os.sep):
            raise ValueError("key outside the recordings directory")
        return path

    async def ensure_bucket(self) -> None:
        def make() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError:
                self._client.create_bucket(Bucket=self.bucket)

        await asyncio.to_thread(make)

    async def put(self, key: str, local_path: str) -> None:
        await asyncio.to_thread(self._client.upload_file, local_path, self.bucket, key)

    async def fetch(self, key: str, local_path: str) -> bool:
        def download() -> bool:
            if os.path.exists(local_path):
                return True
            os.makedirs(os.path.dirname(local_path), exist_ok=True)
            try:
                self._client.download_file(self.bucket, key, local_path)
            except ClientError:
                return False
            return True

        return await asyncio.to_thread(download)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def locate(self, key: str) -> Located | None:
        def sign() -> str | None:
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError:
                return None
            url: str = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=URL_TTL_S
            )
            return url

        url = await asyncio.to_thread(sign)
        return Located(url=url) if url is not None else None
