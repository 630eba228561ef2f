"""Train mtbert: ``python -m train.train --config train/configs/X.toml [key=value ...] [--resume]``.

Data-parallel over N processes (gloo on CPUs, nccl on GPUs): ``accelerate launch --num_processes N -m train.train
--config ...`` (add ``--cpu`` to use CPU processes on a machine with GPUs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert.config import TrainConfig, apply_overrides, from_dict
from mtbert.distributed import WorkerLost
from mtbert.layout import PRESETS, preset_file
from mtbert.presets import read_preset
from mtbert.run_state import CheckpointSaveFailed, TrainingDiverged, TrainingInterrupted
from mtbert.training import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="preset file (TOML), or a preset's name in train/configs/")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=1 heads.pooling=mean")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/state")
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", help="output directory (overrides out_dir)")
    parser.add_argument(
        "--task",
        action="append",
        dest="tasks",
        help="single-task mode: train only this task's model (repeatable), e.g. to train tasks in parallel processes",
    )
    args = parser.parse_args(argv)
    path = Path(args.config) if Path(args.config).exists() else preset_file(PRESETS, Path(args.config).stem)
    raw = apply_overrides(read_preset(path), args.overrides)
    if "members" in raw or "tasks_from" in raw:
        kind = "an ensemble (a list of members)" if "members" in raw else "composed of shipped task models"
        parser.error(
            f"{args.config} is {kind}, not a training run: build it with "
            f"python -m train.build_zoo {Path(args.config).stem}"
        )
    if args.data_dir:
        raw["data_dir"] = args.data_dir
    if args.out:
        raw["out_dir"] = args.out
    config = from_dict(TrainConfig, raw)
    try:
        best = train(config, resume=args.resume, only_tasks=args.tasks)
    except (TrainingDiverged, TrainingInterrupted, CheckpointSaveFailed, WorkerLost, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 130 if isinstance(err, TrainingInterrupted) else 1
    if not (best / "config.json").exists():
        print(f"trained {', '.join(args.tasks or [])}; {best} is assembled once every task's model is finished")
        return 0
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
