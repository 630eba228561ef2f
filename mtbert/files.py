"""Atomic writes (a temporary file or directory, then a rename) and tolerant JSON reads."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """A JSON file's content, or ``default`` (an empty dict unless given) when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return {} if default is None else default
    return json.loads(path.read_text())


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temporary file in the same folder and a rename."""
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_atomic(path: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> None:
    """``write(tmp)`` to a temporary file of its own in ``path``'s folder, then a rename onto ``path``: concurrent
    writers of one path (two threads of one server) never share a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _previous(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def recover_directory(target: Path) -> None:
    """Put back the previous ``target`` when a replacement was cut off between its two renames."""
    old = _previous(target)
    if old.exists() and not target.exists():
        os.replace(old, target)


def replace_directory(tmp: Path, target: Path) -> None:
    """Move a fully written directory into place, replacing ``target``.

    The old one is renamed aside first; ``recover_directory`` restores it if the process dies in between.
    """
    old = _previous(target)
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target`` that replaces it when the block succeeds (and is removed if not)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        replace_directory(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
