"""Teacher targets for distillation: ``python -m train.distill_targets [--teacher ensemble | --teacher A,B,...]
[--tasks sentiment,paraphrase,similarity] [--data-dir DIR] [--out runs/distill-targets]``.

Runs the teacher (a shipped ensemble, by default ``ensemble``, or a list of shipped variants whose predictions are
averaged) over each task's train file and writes the soft targets with the train files' sha256 and the teacher's
members (``mtbert.distill``). Interrupted, it resumes from the members already done. A run trains on them with
``distill_targets = "<out>"`` in its preset.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from tqdm import tqdm

from mtbert import tasks as task_registry
from mtbert.checkpoint import BackboneCache, load, read_config
from mtbert.data import resolve_data_dir
from mtbert.distill import compute_targets
from mtbert.layout import ASSETS, checkpoints_dir


def members_of(assets: Path, teacher: str) -> list[str]:
    """The shipped variants a teacher averages: an ensemble's members, or the comma-separated names given."""
    names = [n.strip() for n in teacher.split(",") if n.strip()]
    if len(names) == 1 and read_config(checkpoints_dir(assets) / names[0]).get("kind") == "ensemble":
        return list(read_config(checkpoints_dir(assets) / names[0])["members"])
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="ensemble")
    parser.add_argument("--tasks", default=",".join(task_registry.CS224N_TASKS))
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/distill-targets"))
    args = parser.parse_args(argv)
    cache = BackboneCache()
    loaders = {
        name: functools.cache(functools.partial(load, checkpoints_dir(args.assets) / name, cache))
        for name in members_of(args.assets, args.teacher)
    }
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bar = lambda items, desc, total: tqdm(items, desc=desc, total=total, unit="member")  # noqa: E731
    out = compute_targets(loaders, resolve_data_dir(args.data_dir), args.out, tasks, bar)
    print(f"wrote the targets of {len(loaders)} members to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
