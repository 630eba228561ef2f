"""The app served from the test process: built as ``python app.py`` builds it (its store, and training off unless
``jobs`` allow it) and launched on a free loopback port, without a process of its own to start and import."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mtbert.app.store import VariantStore
from mtbert.app.training_jobs import TrainingJobs


@contextmanager
def served(store: VariantStore, jobs: TrainingJobs | None = None) -> Iterator[str]:
    """Serve the app over ``store`` while the block runs; yields its URL."""
    import app

    with tempfile.TemporaryDirectory() as tmp:
        demo = app.build_app(store, jobs or TrainingJobs(Path(tmp) / "runs", allowed=False))
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_options(store))
        try:
            yield demo.local_url
        finally:
            demo.close()
