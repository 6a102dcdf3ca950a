"""Evidence at rest over real HTTP: uploads stream (the API's memory barely moves for a large file), a bundle
over the cap is refused with nothing stored, files and monitoring reports are encrypted with the node's own
key, and the node's databases are readable by their owner only.

The devnode runs the API in a thread of this process, so the API's memory is this process's: VmRSS is
sampled in a background thread while the upload runs (VmHWM would be the whole test run's high-water mark).
"""

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.devflows import monitoring_report, new_project
from node.devnode import LocalNode, local_node
from node.evidence.keys import KEY_FILE

MB = 1_000_000
MARKER = b"PLAINTEXT-MARKER-7f3a "


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    # No evidence key configured: the node must make its own and encrypt with it.
    with local_node(tmp_path_factory.mktemp("node")) as handle:
        yield handle


@pytest.fixture(scope="module")
def project(node: LocalNode) -> int:
    return new_project(node)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class RssPeak:
    """The highest VmRSS seen while the block runs, sampled every millisecond or so."""

    def __enter__(self) -> "RssPeak":
        self.baseline = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _big_file(path: Path, size: int) -> Path:
    # Written from a small repeated block: the test itself never holds the file in memory either.
    block = (MARKER * (2**16 // len(MARKER) + 1))[: 2**16]
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
        out.write(block[: size % len(block)])
    return path


def _upload(node: LocalNode, project: int, path: Path) -> tuple[int, dict]:
    with path.open("rb") as handle:  # httpx streams a file object in chunks
        files = [("files", (path.name, handle, "application/octet-stream"))]
        reply = node.call("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)
    return reply.status_code, reply.json()


def _evidence_files(node: LocalNode) -> set[str]:
    root = node.settings.evidence_dir
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("size", [20 * MB, 64 * MB], ids=["20MB", "64MB"])
def test_a_large_upload_streams_and_is_stored_encrypted(node, project, tmp_path, size):
    path = _big_file(tmp_path / f"inventory-{size}.bin", size)
    _upload(node, project, _big_file(tmp_path / "warm.bin", 2 * MB))  # first-use allocations out of the way
    started = time.perf_counter()
    with RssPeak() as rss:
        status, bundle = _upload(node, project, path)
    seconds = time.perf_counter() - started
    assert status == 201, bundle
    print(f"\n{size / MB:.0f} MB upload: peak RSS growth {rss.growth / 2**20:.1f} MiB, "
          f"{size / MB / seconds:.1f} MB/s ({seconds:.2f} s)")  # fmt: skip
    assert rss.growth < 10 * 2**20, f"RSS grew {rss.growth / 2**20:.1f} MiB for a {size / MB:.0f} MB file"

    [stored] = bundle["files"]
    assert stored["size"] == size
    on_disk = node.settings.evidence_dir / stored["digest"][:2] / stored["digest"]
    with on_disk.open("rb") as raw:
        assert raw.read(4) == b"SLE2"
        while chunk := raw.read(2**20):
            assert MARKER not in chunk
    assert _mode(on_disk) == 0o600 and _mode(on_disk.parent) == 0o700
    assert node.services.evidence.encrypted
    read_back = sum(len(c) for c in node.services.evidence.open(stored["digest"]))
    assert read_back == size


def test_an_upload_over_the_cap_is_refused_and_nothing_is_stored(node, project, tmp_path):
    cap = node.settings.max_upload_bytes
    small = tmp_path / "small.bin"
    small.write_bytes(b"a photo caption, stored if the bundle were taken")
    big = _big_file(tmp_path / "big.bin", cap)
    before = _evidence_files(node)
    with small.open("rb") as first, big.open("rb") as second:
        files = [("files", ("small.bin", first, "text/plain")), ("files", ("big.bin", second, "image/jpeg"))]
        reply = node.call("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)
    assert reply.status_code == 413, reply.text
    assert reply.json()["error"]["code"] == "payload_too_large"
    assert _evidence_files(node) == before  # neither file, nor a temporary one


def test_monitoring_reports_are_encrypted_at_rest(node, project):
    report = monitoring_report(trees=10)
    result = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    store = node.services.evidence
    for item in result["bundle"]["files"]:
        raw = store.path(item["digest"]).read_bytes()
        assert raw.startswith(b"SLE2") and b"dbh_cm" not in raw and b"creditable" not in raw
    monitoring = next(f for f in result["bundle"]["files"] if f["name"] == "monitoring.json")
    assert json.loads(store.get(monitoring["digest"]))["report"] == report


def test_databases_keys_and_evidence_are_private(node):
    settings = node.settings
    for name in () if settings.database_url else ("node.sqlite", "index.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            path = settings.home / f"{name}{suffix}"
            if suffix == "" or path.exists():
                assert _mode(path) == 0o600, path.name
    assert _mode(settings.keys_dir) == 0o700
    assert _mode(settings.keys_dir / KEY_FILE) == 0o600
    keys = [p for p in settings.keys_dir.iterdir() if p.is_file()]
    assert keys and all(_mode(p) == 0o600 for p in keys), [(p.name, oct(_mode(p))) for p in keys]
    evidence = [p for p in settings.evidence_dir.rglob("*")]
    assert evidence and all(_mode(p) == (0o700 if p.is_dir() else 0o600) for p in evidence)


def test_an_empty_file_is_refused(node, project):
    files = [("files", ("empty.txt", b"", "text/plain"))]
    reply = node.call("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "validation_error"
