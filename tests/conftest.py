"""Shared fixtures: a small data directory cut from the real files (or made up when they are absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
# Under pytest-xdist (pyproject.toml: two workers) each process, its app servers and training runs included, keeps
# to one thread: several workers' OpenMP pools spinning on two cores would slow each many times over.
XDIST = "PYTEST_XDIST_WORKER" in os.environ
if XDIST:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

from mtbert.data import resolve_data_dir  # noqa: E402 (imports torch, which reads OMP_NUM_THREADS now)

SYNTHETIC = {
    "ids-sst": (
        "sentence\tsentiment",
        ["a truly great film\t4", "an awful mess\t0", "it is a film\t2", "rather good\t3", "not very good\t1"],
    ),
    "quora": (
        "sentence1\tsentence2\tis_duplicate",
        ["how do i cook rice?\thow to cook rice?\t1.0", "what is love?\twhere is paris?\t0.0"],
    ),
    "sts": (
        "sentence1\tsentence2\tsimilarity",
        [
            "a man plays guitar.\ta man is playing a guitar.\t4.8",
            "a dog runs.\tthe market fell today.\t0.2",
            "a woman slices onions.\ta woman is cutting an onion.\t4.2",
            "two kids play.\ta child sleeps.\t1.4",
        ],
    ),
}


def _synthetic(stem: str, rows: int) -> list[str]:
    """``rows`` synthetic lines of a file; each SST sentence ends in a word of its own, so that its trees hold as
    many distinct phrases as real ones would."""
    lines = SYNTHETIC[stem][1]
    cycled = (lines * (rows // len(lines) + 1))[:rows]
    if stem != "ids-sst":
        return cycled
    return [f"{text} scene{i}\t{label}" for i, (text, label) in enumerate(line.rsplit("\t", 1) for line in cycled)]


def _write_small_data(target: Path, rows: int) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    try:
        source = resolve_data_dir()
    except FileNotFoundError:
        source = None
    for stem, (header, _) in SYNTHETIC.items():
        for split in ("train", "dev"):
            path = source / f"{stem}-{split}.csv" if source else None
            if path is not None and path.exists():
                text = path.read_text(encoding="utf-8").splitlines()
                content = text[: rows + 1]
            else:
                content = [f"\tid\t{header}"] + [f"{i}\tx{i}\t{line}" for i, line in enumerate(_synthetic(stem, rows))]
            (target / f"{stem}-{split}.csv").write_text("\n".join(content) + "\n", encoding="utf-8")
    trees = source / "sst-train-trees.txt" if source else None
    if trees is not None and trees.exists():
        lines = trees.read_text(encoding="utf-8").splitlines()[:rows]
    else:  # one tree per synthetic sentence: its words as leaves under right-branching nodes
        lines = []
        for line in _synthetic("ids-sst", rows):
            text, label = line.rsplit("\t", 1)
            tree = ""
            for word in reversed(text.split()):
                tree = f"(2 {word})" if not tree else f"({label} (2 {word}) {tree})"
            lines.append(tree if tree.startswith(f"({label} ") else f"({label} {tree})")
    (target / "sst-train-trees.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train/dev files with 240 rows per task (the real files' first rows when available)."""
    return _write_small_data(tmp_path_factory.mktemp("data"), 240)


@pytest.fixture(scope="session")
def backbone_cache():
    from mtbert.checkpoint import BackboneCache

    return BackboneCache()


@pytest.fixture(scope="session")
def app_assets(tmp_path_factory: pytest.TempPathFactory, backbone_cache) -> Path:
    """The app tests' assets folder, built once a test run: its variants' dev predictions cover each dev file's first
    80 rows. Under xdist the first worker that needs it builds it, under a file lock, in the folder the workers
    share, and the others read it (tests only read it; a test that changes assets changes a copy)."""
    from filelock import FileLock

    from tests.app.assets import build_test_assets

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if XDIST else base) / "app-assets"
    built = root / "built"
    with FileLock(str(root) + ".lock"):
        if not built.exists():
            data = _write_small_data(root / "data", 80)
            (root / "assets").mkdir(parents=True, exist_ok=True)
            built.write_text(str(build_test_assets(root / "assets", data, backbone_cache)))
    return Path(built.read_text())


@pytest.fixture(scope="session")
def user_models(tmp_path_factory: pytest.TempPathFactory, backbone_cache, small_data) -> Path:
    """A user's folder of models (``app.py --models``): ``my-run``, ``tiny-run`` (trained from a tiny preset) and
    ``my-hf-paraphrase`` (a Hugging Face classifier); see ``tests.app.assets.build_user_runs``."""
    from tests.app.assets import build_user_runs

    return build_user_runs(tmp_path_factory.mktemp("user-runs"), backbone_cache, small_data)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item (``item.rep_call``), so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class AppServer(str):
    """The URL of a running ``app.py`` (a str), with the path of its log."""

    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _serve(assets: Path, log_dir: Path, *extra: str):
    """``python app.py`` on ``assets`` on a free port (plus ``extra`` arguments) with no data folder at all, as on a
    fresh clone: what it shows of the dev sets comes from ``<assets>/data``. Yields its AppServer."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_dir / "app.log", "w")  # noqa: SIM115
    repo = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--assets",
            str(assets),
            "--port",
            str(port),
            "--runs-dir",
            str(log_dir / "runs"),
            *extra,
        ],
        cwd=repo,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MTBERT_DATA_DIR": str(log_dir / "no-data-folder"),
            "MTBERT_CACHE_DIR": str(log_dir / "cache"),  # the user models' evaluations and the maps start empty
        },
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}; see {log.name}")
    else:
        process.kill()
        raise RuntimeError(f"app.py did not answer within 90 s; see {log.name}")
    server = AppServer(url)
    server.log = Path(log.name)
    yield server
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="session")
def training_presets(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> Path:
    """A folder with the ``tiny`` preset for the Train tab: the tiny BERT on the small data files (named in the
    preset, as the app server has no data folder), 360 steps (about 20 s: long enough that a Stop clicked once the
    curve shows lands before the end on a busy machine) with a step record every 2 steps."""
    from tests.test_distributed import write_preset

    folder = tmp_path_factory.mktemp("presets")
    write_preset(
        folder / "tiny.toml",
        epochs=8,
        train_limit=240,
        log_every_steps=2,
        save_every_steps=10,
        data_dir=str(small_data),
    )
    return folder


@pytest.fixture(scope="session")
def app_server(
    app_assets: Path,
    user_models: Path,
    training_presets: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """``python app.py`` on the test assets and the user's runs, training on (``--allow-training``, with the tiny
    preset), on a free port; yields its URL (with ``.log``, the server's log)."""
    extra = ("--models", str(user_models), "--allow-training", "--presets", str(training_presets))
    yield from _serve(app_assets, tmp_path_factory.mktemp("app"), *extra)
