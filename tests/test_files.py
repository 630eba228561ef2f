"""Atomic writes: concurrent writers of one path each write a temporary file of their own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mtbert.files import write_atomic


def test_concurrent_writers_of_one_path_never_share_a_temporary_file(tmp_path):
    target = tmp_path / "cache" / "predictions.csv"
    start, errors = threading.Barrier(8), []

    def writer(k: int) -> None:
        def write(tmp: Path) -> None:
            start.wait()  # every writer has its temporary file before any renames
            tmp.write_text(f"written by {k}\n")

        try:
            write_atomic(target, write)
        except OSError as err:
            errors.append(err)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    assert not errors
    assert target.read_text().startswith("written by ")
    assert [p.name for p in target.parent.iterdir()] == ["predictions.csv"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("cut off")

    try:
        write_atomic(target, fail)
    except RuntimeError:
        pass
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
