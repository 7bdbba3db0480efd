"""The stores (a local directory and a real SeaweedFS S3 server) and verified uploads."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid

import pytest

from jobruntime.bus.messages import FileRef
from jobruntime.storage import (
    FileTooLarge,
    StoreUnavailable,
    UploadUnusable,
    discard,
    fetch,
    open_store,
    safe_name,
    upload,
)
from jobruntime.storage.uploaded import MEMORY_LIMIT
from tests.storage_support import free_port, fresh_bucket

LIMIT = 64 * 1024 * 1024


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path, monkeypatch):
    if request.param == "file":
        return open_store((tmp_path / "files").as_uri())
    return open_store(fresh_bucket(request.getfixturevalue("seaweedfs"), monkeypatch, "stores"))


def _upload(store, content: bytes, variable: str = "devices", name: str = "inventory.csv", run=None):
    run = run or uuid.uuid4()
    return run, upload(store, io.BytesIO(content), job_result_id=run, variable=variable, max_bytes=LIMIT, name=name)


def _replace(store, ref: FileRef, content: bytes) -> None:
    store.write(store.key_for(ref.url), io.BytesIO(content))


def test_an_uploaded_file_comes_back_verified_with_its_name_and_size(store):
    content = b"name,site\nsw1,HQ\nsw2,HQ\n"
    run, ref = _upload(store, content)
    assert ref.url == f"{store.url}/uploads/{run}/devices/inventory.csv"
    assert (ref.size, ref.sha256, ref.content_type) == (len(content), hashlib.sha256(content).hexdigest(), "text/csv")
    with fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT) as received:
        assert (received.name, received.size) == ("inventory.csv", len(content))
        assert received.readline() == b"name,site\n"
        assert list(received) == [b"sw1,HQ\n", b"sw2,HQ\n"]
        received.seek(0)
        assert received.read() == content


def test_a_small_file_stays_in_memory_and_a_large_one_is_spooled_to_disk(store):
    run, small = _upload(store, b"x" * MEMORY_LIMIT, variable="small")
    _, large = _upload(store, b"y" * (MEMORY_LIMIT + 1), variable="large", run=run)
    with fetch(store, small, "small", job_result_id=run, max_bytes=LIMIT) as received:
        assert received.in_memory
    with fetch(store, large, "large", job_result_id=run, max_bytes=LIMIT) as received:
        assert not received.in_memory
        assert received.read() == b"y" * (MEMORY_LIMIT + 1)


def test_a_tampered_upload_is_refused_naming_its_variable(store):
    run, ref = _upload(store, b"original")
    _replace(store, ref, b"tampered")
    with pytest.raises(UploadUnusable, match="^devices: the uploaded file's checksum does not match$"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)


def test_a_truncated_or_grown_upload_is_refused(store):
    run, ref = _upload(store, b"0123456789")
    _replace(store, ref, b"01234")
    with pytest.raises(UploadUnusable, match=r"^devices: the uploaded file is truncated \(5 of 10 bytes\)$"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)
    _replace(store, ref, b"0123456789 and more")
    with pytest.raises(UploadUnusable, match="larger than the 10 bytes its reference says"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)


def test_a_missing_upload_is_refused(store):
    run, ref = _upload(store, b"gone soon")
    store.delete(store.key_for(ref.url))
    with pytest.raises(UploadUnusable, match="^devices: the uploaded file is missing from storage"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)


def test_a_reference_to_another_run_or_outside_the_store_is_neither_read_nor_deleted(store):
    other_run, ref = _upload(store, b"someone else's")
    run = uuid.uuid4()
    with pytest.raises(UploadUnusable, match=f"is not an upload of this run \\({run}\\)"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)
    outside = ref.model_copy(update={"url": "file:///etc/passwd"})
    with pytest.raises(UploadUnusable, match="is not in this worker's storage"):
        fetch(store, outside, "devices", job_result_id=run, max_bytes=LIMIT)
    discard(store, {"devices": ref, "other": outside}, run)
    assert store.keys(f"uploads/{other_run}/") == [f"uploads/{other_run}/devices/inventory.csv"]


def test_an_oversized_file_is_refused_and_nothing_of_it_is_kept(store, tmp_path):
    run = uuid.uuid4()
    with pytest.raises(FileTooLarge, match="larger than the 1000 bytes JOBRUNTIME_MAX_UPLOAD_BYTES allows"):
        upload(store, io.BytesIO(b"z" * 1001), job_result_id=run, variable="devices", max_bytes=1000, name="a.bin")
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 1001)
    with pytest.raises(FileTooLarge, match="big.bin is 1001 bytes, more than the 1000 bytes"):
        upload(store, big, job_result_id=run, variable="devices", max_bytes=1000)
    assert store.keys(f"uploads/{run}/") == []


def test_a_reference_larger_than_the_limit_is_refused_before_it_is_read(store):
    run, ref = _upload(store, b"0123456789")
    with pytest.raises(UploadUnusable, match="is 10 bytes, more than the 5 bytes JOBRUNTIME_MAX_UPLOAD_BYTES allows"):
        fetch(store, ref, "devices", job_result_id=run, max_bytes=5)


def test_names_lose_paths_and_control_characters_before_they_become_keys(store):
    run, ref = _upload(store, b"x", name="../../etc/\x1bpass\nwd")
    assert ref.name == "passwd"
    assert ref.url == f"{store.url}/uploads/{run}/devices/passwd"
    assert [safe_name(name) for name in ("..", "C:\\temp\\a.csv", " ", "ok.txt")] == ["file", "a.csv", "file", "ok.txt"]


def test_discard_deletes_every_upload_of_the_run(store):
    run, first = _upload(store, b"one", variable="first")
    _, second = _upload(store, b"two", variable="second", run=run)
    discard(store, {"first": first, "second": second}, run)
    assert store.keys(f"uploads/{run}/") == []


def test_a_store_that_cannot_be_reached_is_a_clear_fault(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store("s3://nowhere/prefix")
    with pytest.raises(StoreUnavailable, match="^Storage at http://127.0.0.1:\\d+ cannot store s3://nowhere/prefix/"):
        _upload(store, b"x")


def test_storage_initialization_is_idempotent_and_says_what_it_did(seaweedfs, monkeypatch):
    for key, value in seaweedfs.env.items():
        monkeypatch.setenv(key, value)
    store = open_store(f"s3://init-{uuid.uuid4().hex[:12]}/base")
    first, second = store.initialize("uploads/", 1), store.initialize("uploads/", 1)
    assert first[0].endswith("created") and "Lifecycle rule set: base/uploads/ expires after 1 day(s)" in first
    assert second[0].endswith("exists") and "is in place" in second[1]
    rules = seaweedfs.client().get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    assert [rule["Filter"]["Prefix"] for rule in rules] == ["base/uploads/"]


def test_a_local_store_expires_uploads_older_than_their_lifetime(tmp_path):
    store = open_store((tmp_path / "files").as_uri())
    old_run, old = _upload(store, b"left by a lost worker")
    new_run, _ = _upload(store, b"still in use")
    stale = time.time() - 2 * 24 * 3600
    os.utime(store.download_url(store.key_for(old.url)), (stale, stale))
    assert store.expire("uploads/", 24 * 3600) == 1
    assert store.keys("uploads/") == [f"uploads/{new_run}/devices/inventory.csv"]


def test_a_file_of_several_parts_sent_from_a_path_comes_back_whole(store, tmp_path):
    content = os.urandom(17 * 1024 * 1024)  # three 8 MiB parts, fetched side by side from S3
    source = tmp_path / "parts.bin"
    source.write_bytes(content)
    run = uuid.uuid4()
    ref = upload(store, source, job_result_id=run, variable="firmware", max_bytes=LIMIT)
    assert (ref.name, ref.size, ref.sha256) == ("parts.bin", len(content), hashlib.sha256(content).hexdigest())
    with fetch(store, ref, "firmware", job_result_id=run, max_bytes=LIMIT) as received:
        assert received.size == len(content) and received.read() == content


# A server stopping mid-request answers with an error or not at all: either way one clear line.
STOPPED = r"^Storage (at http://127\.0\.0\.1:\d+ cannot|refused to) {doing} s3://stopped-"


class _StopsTheServer(io.RawIOBase):
    """A stream of ``size`` bytes that stops ``server`` once the first part has been read (the fault injected)."""

    def __init__(self, server, size: int) -> None:
        self.server, self.left, self.reads = server, size, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 2:
            self.server.process.terminate()
            self.server.process.wait(30)
        chunk = b"z" * (self.left if size < 0 else min(size, self.left))
        self.left -= len(chunk)
        return chunk


def test_a_store_stopped_during_an_upload_or_a_fetch_is_a_clear_fault(tmp_path, monkeypatch):
    from jobruntime.storage import uploads
    from tests.storage_support import running_seaweedfs

    with running_seaweedfs(tmp_path / "upload-server") as server:
        store = open_store(fresh_bucket(server, monkeypatch, "stopped"))
        with pytest.raises(StoreUnavailable, match=STOPPED.format(doing="store")):
            upload(store, _StopsTheServer(server, 40 * 1024 * 1024), job_result_id=uuid.uuid4(), variable="devices",
                   max_bytes=LIMIT, name="big.bin")
    with running_seaweedfs(tmp_path / "fetch-server") as server:
        store = open_store(fresh_bucket(server, monkeypatch, "stopped"))
        run, ref = _upload(store, os.urandom(20 * 1024 * 1024))
        spooled = uploads.UploadedFile.spooled

        def stopping_on_first_write(name, **kwargs):
            received = spooled(name, **kwargs)
            write = received.file.write

            def first_write_stops_the_server(data):
                if server.process.poll() is None:
                    server.process.terminate()
                    server.process.wait(30)
                return write(data)

            received.file.write = first_write_stops_the_server
            return received

        monkeypatch.setattr(uploads.UploadedFile, "spooled", staticmethod(stopping_on_first_write))
        with pytest.raises(StoreUnavailable, match=STOPPED.format(doing="read")):
            fetch(store, ref, "devices", job_result_id=run, max_bytes=LIMIT)
