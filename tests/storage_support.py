"""An S3-compatible object store for tests: moto's in-process S3 (no network), and the app's settings pointed at it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto import mock_aws

from studio.storage import CLIENT_KEY

BUCKET = "kalanso-recordings"
PREFIX = "studio"


@contextmanager
def object_storage(app, cache_dir: Path, *, bucket: bool = True) -> Iterator[object]:
    """The app keeps its recordings in a moto S3 bucket (``s3://kalanso-recordings/studio``); yields an S3 client to
    look inside. ``bucket=False``: the bucket does not exist, so every put fails (an object store that refuses)."""
    settings = app.config["KALANSO"]
    with mock_aws():
        app.config["KALANSO"] = dataclasses.replace(
            settings,
            recordings_storage=f"s3://{BUCKET}/{PREFIX}",
            s3_region="eu-west-3",
            s3_access_key_id="testing",
            s3_secret_access_key="testing-secret",
        )
        app.config["KALANSO_AUDIO_CACHE_DIR"] = cache_dir
        app.extensions.pop(CLIENT_KEY, None)
        s3 = boto3.client("s3", region_name="eu-west-3", aws_access_key_id="testing",
                          aws_secret_access_key="testing-secret")  # fmt: skip
        if bucket:
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        try:
            yield s3
        finally:
            app.config["KALANSO"] = settings
            app.extensions.pop(CLIENT_KEY, None)


def keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
