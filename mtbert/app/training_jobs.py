"""Training runs the app starts (``app.py --allow-training``): one background process at a time, the others in a
queue; each run's folder under the runs folder holds its recipe (``recipe.toml``), its state (``job.json``), its
terminal output (``train.log``) and what the trainer writes (``metrics.jsonl``, ``state/``, ``best/``).

A page reload finds the same runs. A server restart finds them too: a run whose process is gone is ``stopped``, and
Resume continues it from its last saved state (``--resume``). Stop sends SIGTERM, so the trainer saves its state
first; a run killed outright is ``stopped`` as well. A finished run's best checkpoint joins the app's models through
the path ``--models`` uses.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.app.launcher import ModuleProcess, warm_up
from mtbert.app.service import InputError
from mtbert.app.train_form import build_config
from mtbert.config import TrainConfig, from_dict
from mtbert.data import DataDirNotFound, resolve_data_dir, task_file
from mtbert.datasets import NAME, Dataset, read_cs224n, split_held_out, write_task_file
from mtbert.files import read_json, write_json_atomic
from mtbert.layout import PRESETS, REPO
from mtbert.presets import read_preset, write_preset
from mtbert.run_log import METRICS_LOG, read_records
from mtbert.run_state import is_finished

JOB_FILE, RECIPE_FILE, OUTPUT_FILE, DATA_FOLDER = "job.json", "recipe.toml", "train.log", "data"
QUEUED, RUNNING, FINISHED, STOPPED, FAILED = "queued", "running", "finished", "stopped", "failed"
INTERRUPTED_RC = 130  # train.train's exit status after SIGTERM or Ctrl-C (state saved)
HELD_OUT_SEED = 11711
CS224N_FILES = (
    "The Train tab trains on the CS224N train files (ids-sst-train.csv, quora-train.csv, sts-train.csv, from the "
    "CS224N default final project's data folder) in the data folder (--data-dir or MTBERT_DATA_DIR), or on a "
    "labelled dataset the app has opened (--datasets or an upload in the Explorer)."
)


@dataclass
class Job:
    """One run the app started: what it trains and where it stands (saved as ``job.json`` in its folder)."""

    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # the user's dataset it trains on (None: the CS224N train files)
    held_out: str | None = None  # the name of that dataset's held-out dev split
    status: str = QUEUED
    resume: bool = False  # start the next process with --resume
    pid: int | None = None
    pid_started: str | None = None  # the process's start time, so that a reused pid is not taken for it
    returncode: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    message: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @property
    def resumable(self) -> bool:
        return self.status in (STOPPED, FAILED)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``); None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def pid_alive(pid: int | None, started: str | None) -> bool:
    """Whether process ``pid`` runs and is the process that started at ``started`` (not a later one that reuses
    its pid); with no start time known, whether any process has that pid."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    now = process_start(pid)
    return started is None or now is None or now == started


def available_presets(folders: list[Path]) -> dict[str, Path]:
    """Training presets by name (the shipped ones, then the folders'), leaving out ensembles and composed
    variants, which are built, not trained."""
    presets: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            try:
                raw = read_preset(path)
            except (OSError, ValueError):
                continue
            if "members" not in raw and "tasks_from" not in raw:
                presets[path.stem] = path
    return presets


class TrainingJobs:
    """The app's training runs: submit, stop, resume, and a ``poll`` that moves the queue along."""

    def __init__(
        self,
        runs_dir: Path,
        preset_dirs: list[Path] | None = None,
        data_dir: Path | None = None,
        allowed: bool = False,
        on_finish: Callable[[Job, Path], None] | None = None,
    ) -> None:
        self.runs_dir, self.data_dir, self.allowed = Path(runs_dir).resolve(), data_dir, allowed
        self.preset_dirs = [PRESETS, *(preset_dirs or [])]
        self.on_finish = on_finish
        self._lock = threading.RLock()
        self._processes: dict[str, ModuleProcess] = {}
        self._jobs: dict[str, Job] = {}
        self._records_cache: dict[str, tuple[tuple[int, int], list[dict[str, Any]]]] = {}
        self._load()
        if allowed:
            warm_up()  # the first Start then forks a process that has imported the trainer already
        atexit.register(self.shutdown)

    # ----- what is there --------------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        return self.runs_dir / name

    def presets(self) -> dict[str, Path]:
        return available_presets(self.preset_dirs)

    def preset_config(self, preset: str) -> dict[str, Any]:
        presets = self.presets()
        if preset not in presets:
            raise InputError(f"unknown preset {preset!r}; presets: {', '.join(presets)}")
        return read_preset(presets[preset])

    def jobs(self) -> list[Job]:
        """Every run, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.created)

    def busy(self) -> bool:
        """Whether a run is running or waiting in the queue (what a watching page polls for)."""
        with self._lock:
            return any(j.status in (RUNNING, QUEUED) for j in self._jobs.values())

    def job(self, name: str) -> Job:
        with self._lock:
            if name not in self._jobs:
                raise KeyError(f"unknown run {name!r}; runs: {', '.join(self._jobs) or 'none'}")
            return self._jobs[name]

    def folders(self) -> dict[str, Path]:
        """Each run's folder, by name (for the Runs tab)."""
        return {job.name: self.folder(job.name) for job in self.jobs()}

    def train_files(self) -> str | None:
        """Why the CS224N train files cannot be used (None when the data folder has them all)."""
        try:
            data = resolve_data_dir(self.data_dir)
        except DataDirNotFound as err:
            return f"{CS224N_FILES} No data folder was found: {err}"
        missing = [task_file(data, t, "train").name for t in task_registry.CS224N_TASKS]
        missing = [m for m in missing if not (data / m).exists()]
        return f"{CS224N_FILES} {data} lacks {', '.join(missing)}." if missing else None

    def _load(self) -> None:
        """Find the runs a previous server left; a run whose process is gone is stopped, Resume offered."""
        for path in sorted(self.runs_dir.glob(f"*/{JOB_FILE}")) if self.runs_dir.is_dir() else []:
            job = Job.from_json(read_json(path))
            self._jobs[job.name] = job
            if job.status == RUNNING and not pid_alive(job.pid, job.pid_started):
                self._ended(job, -1)  # finished while no server watched it, or stopped with the server
                if job.status == STOPPED:
                    job.message = "the server stopped while it ran: Resume continues it from its last saved state"
                    self._save(job)

    def _save(self, job: Job) -> None:
        write_json_atomic(self.folder(job.name) / JOB_FILE, asdict(job))

    # ----- starting ------------------------------------------------------------------------------------
    def check(
        self, preset: str, overrides: dict[str, Any], dataset: Dataset | None = None, name: str = ""
    ) -> tuple[TrainConfig, dict[str, Any]]:
        """The run's config, or InputError naming what is wrong, before anything starts."""
        if not self.allowed:
            raise InputError("training is off on this server: start it with `python app.py --allow-training`")
        if name and not NAME.match(name):
            raise InputError(f"run name {name!r}: letters, digits, '.', '_' and '-' only, 64 at most")
        if name and (name in self._jobs or self.folder(name).exists()):
            raise InputError(f"a run named {name!r} exists already: pick another name")
        raw = self.preset_config(preset)
        config, nested = build_config(raw, overrides)
        if dataset is None:
            reason = self.train_files()
            if reason and config.data_dir is None:
                raise InputError(reason)
            return config, nested
        if not dataset.labelled:
            raise InputError(f"{dataset.name} has no labels: a model cannot train on it")
        if config.sst_phrases:
            raise InputError("sst_phrases: the SST phrases belong to the CS224N train trees, not to your dataset")
        if config.distill_targets:
            raise InputError("distill_targets: the teacher targets are of the CS224N train files, not your dataset")
        nested.setdefault("heads", {})["tasks"] = [dataset.task]
        for key in ("smart_tasks", "rdrop_tasks"):
            nested[key] = [t for t in nested.get(key, []) if t == dataset.task]
        config, nested = build_config(nested, {})
        return config, nested

    def submit(
        self,
        preset: str,
        overrides: dict[str, Any] | None = None,
        name: str = "",
        dataset: Dataset | None = None,
        held_out: float = 0.2,
        dev: Dataset | None = None,
    ) -> Job:
        """Check and queue a run (it starts at once when nothing else runs). On a user's dataset, its dev split is
        ``dev`` when given, else ``held_out`` of its rows drawn with a fixed seed."""
        overrides = dict(overrides or {})
        with self._lock:
            name = name or self._free_name(preset)
            config, nested = self.check(preset, overrides, dataset, name)
            folder = self.folder(name)
            folder.mkdir(parents=True, exist_ok=False)
            job = Job(name, preset, overrides, dataset.name if dataset else None)
            if dataset is not None:
                job.held_out = self._write_data(folder / DATA_FOLDER, dataset, dev, held_out)
                nested["data_dir"] = str(folder / DATA_FOLDER)
            elif self.data_dir is not None:
                nested["data_dir"] = str(self.data_dir)
            nested["out_dir"] = str(folder)
            write_preset(folder / RECIPE_FILE, nested)
            self._jobs[name] = job
            self._save(job)
            self._advance()
            return job

    def _free_name(self, preset: str) -> str:
        n = 1
        while f"{preset}-{n}" in self._jobs or self.folder(f"{preset}-{n}").exists():
            n += 1
        return f"{preset}-{n}"

    @staticmethod
    def _write_data(folder: Path, dataset: Dataset, dev: Dataset | None, held_out: float) -> str:
        if dev is not None:
            if dev.task != dataset.task or not dev.labelled:
                raise InputError(f"the dev split {dev.name} must be a labelled {dataset.task} dataset")
            train, dev_split = dataset, dev
        else:
            train, dev_split = split_held_out(dataset, held_out, HELD_OUT_SEED)
        write_task_file(train, task_file(folder, dataset.task, "train"))
        write_task_file(dev_split, task_file(folder, dataset.task, "dev"))
        return dev_split.name

    def held_out_dataset(self, job: Job) -> Dataset | None:
        """The dev split a run on the user's data was scored on (read back from its folder)."""
        if job.dataset is None or job.held_out is None:
            return None
        task = self._task_of(job)
        path = task_file(self.folder(job.name) / DATA_FOLDER, task, "dev")
        return read_cs224n(job.held_out, path, task, f"the dev split of run {job.name}") if path.exists() else None

    def _task_of(self, job: Job) -> str:
        recipe = read_preset(self.folder(job.name) / RECIPE_FILE)
        return recipe["heads"]["tasks"][0]

    def _advance(self) -> None:
        """Start the oldest queued run when nothing runs."""
        if any(j.status == RUNNING for j in self._jobs.values()):
            return
        queued = sorted((j for j in self._jobs.values() if j.status == QUEUED), key=lambda j: j.created)
        if queued:
            self._launch(queued[0])

    def _launch(self, job: Job) -> None:
        folder = self.folder(job.name)
        argv = ["--config", str(folder / RECIPE_FILE), *(["--resume"] if job.resume else [])]
        process = ModuleProcess(argv, folder / OUTPUT_FILE, REPO)
        self._processes[job.name] = process
        job.status, job.pid, job.started, job.returncode, job.ended = RUNNING, process.pid, time.time(), None, None
        job.pid_started = process_start(process.pid)
        job.message = "resumed from its last saved state" if job.resume else ""
        self._save(job)

    # ----- stop, resume, poll -------------------------------------------------------------------------------
    def stop(self, name: str) -> Job:
        """SIGTERM to a running run (it saves its state and stops after the current step); a queued run leaves the
        queue."""
        with self._lock:
            job = self.job(name)
            if job.status == QUEUED:
                job.status, job.message = STOPPED, "taken out of the queue before it started"
            elif job.status == RUNNING and job.pid:
                try:
                    os.kill(job.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                job.message = "stopping: the state is being saved"
            else:
                raise InputError(f"run {name} is {job.status}: only a queued or running run can be stopped")
            self._save(job)
            return job

    def resume(self, name: str) -> Job:
        """Queue a stopped run again with ``--resume``."""
        with self._lock:
            if not self.allowed:
                raise InputError("training is off on this server: start it with `python app.py --allow-training`")
            job = self.job(name)
            if not job.resumable:
                raise InputError(f"run {name} is {job.status}: only a stopped or failed run can be resumed")
            job.status, job.resume, job.created = QUEUED, True, time.time()
            job.message = "waiting to resume"
            self._save(job)
            self._advance()
            return job

    def poll(self) -> list[Job]:
        """Update the running run's status; start the next queued run when it ended. Returns the runs that finished
        now (their ``on_finish`` has run)."""
        finished = []
        with self._lock:
            for job in [j for j in self._jobs.values() if j.status == RUNNING]:
                code = self._exit_code(job)
                if code is None:
                    continue
                self._ended(job, code)
                if job.status == FINISHED:
                    finished.append(job)
            self._advance()
        for job in finished:
            if self.on_finish is not None:
                self.on_finish(job, self.folder(job.name))
        return finished

    def _exit_code(self, job: Job) -> int | None:
        process = self._processes.get(job.name)
        if process is not None:
            return process.poll()
        if pid_alive(job.pid, job.pid_started):
            return None  # a process a previous server started: still running
        return -1

    def _ended(self, job: Job, code: int) -> None:
        self._processes.pop(job.name, None)
        job.returncode, job.ended, job.pid, job.pid_started = code, time.time(), None, None
        folder = self.folder(job.name)
        config = from_dict(TrainConfig, read_preset(folder / RECIPE_FILE))
        if code in (0, -1) and is_finished(folder, config):  # -1: a process an earlier server started
            job.status, job.message = FINISHED, "finished: its best checkpoint is a model in every picker"
        elif code == INTERRUPTED_RC or code < 0:
            how = "stopped" if code == INTERRUPTED_RC else f"killed (signal {-code})" if code < -1 else "ended"
            job.status, job.message = STOPPED, f"{how}: Resume continues it from its last saved state"
        else:
            job.status, job.message = FAILED, last_error(folder / OUTPUT_FILE)
        self._save(job)

    def shutdown(self) -> None:
        """Stop the runs this server started (SIGTERM: each saves its state; the next server offers Resume)."""
        for process in list(self._processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in list(self._processes.values()):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    # ----- progress -------------------------------------------------------------------------------------
    def progress(self, name: str) -> dict[str, Any]:
        """Where a run stands: step, total steps, share done, seconds left (from its recent pace), device."""
        records = self._records(name)
        start = next((r for r in reversed(records) if r["kind"] == "start"), None)
        steps = [r for r in records if r["kind"] == "step"]
        out: dict[str, Any] = {"step": 0, "total_steps": None, "fraction": 0.0, "seconds_left": None, "device": None}
        if start is not None:
            out["total_steps"], out["device"] = start["total_steps"], start["device"]
        if steps:
            out["step"] = steps[-1]["step"]
        if out["total_steps"]:
            out["fraction"] = min(1.0, out["step"] / out["total_steps"])
        recent = steps[-6:]
        if len(recent) >= 2 and out["total_steps"]:
            pace = (recent[-1]["train_seconds"] - recent[0]["train_seconds"]) / max(
                recent[-1]["step"] - recent[0]["step"], 1
            )
            out["seconds_left"] = max(0.0, (out["total_steps"] - out["step"]) * pace)
        return out

    def _records(self, name: str) -> list[dict[str, Any]]:
        """A run's ``metrics.jsonl`` records, read again only when the file has changed (every open Train tab
        polls each run's progress every second)."""
        path = self.folder(name) / METRICS_LOG
        try:
            stat = path.stat()
        except OSError:
            return []
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._records_cache.get(name)
        if cached is None or cached[0] != key:
            cached = (key, read_records(path))
            self._records_cache[name] = cached
        return cached[1]


def last_error(path: Path) -> str:
    """The trainer's ``error: ...`` line in a run's output, else its last line."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if line.startswith("error:")]
    last = errors[-1] if errors else (lines[-1] if lines else "the process ended without output")
    return last[:400]


def summary(job: Job, progress: dict[str, Any]) -> dict[str, Any]:
    """A run as the jobs table and the API show it."""
    return {
        "name": job.name,
        "preset": job.preset,
        "data": job.dataset or "CS224N train files",
        "status": job.status,
        "step": progress["step"],
        "total_steps": progress["total_steps"],
        "device": progress["device"],
        "message": job.message,
        "overrides": json.dumps(job.overrides) if job.overrides else "",
    }
