"""Ensemble member selection on dev: ``python -m train.ensemble_selection [--repeats N]``.

Compares the shipped ensemble's fixed rule (every report row) with greedy forward selection of members on dev,
scored both on the dev it chose on and cross-fitted on held-out halves of dev. Reads only the shipped dev
predictions; writes ``assets/ensemble_selection.json`` and regenerates the tables of the README and
docs/findings.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtbert.checkpoint import read_config
from mtbert.files import write_json_atomic
from mtbert.lab.ensemble_selection import selection_study
from mtbert.lab.report import write_docs
from mtbert.lab.zoo_builder import ZOO
from mtbert.layout import ASSETS, FINDINGS, README, checkpoint_dir, ensemble_selection_file

# Not candidates: the ensemble itself, and single-best, which is a copy of other variants' task models.
NOT_CANDIDATES = ("ensemble", "single-best")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--repeats", type=int, default=10, help="random halvings of dev for the cross-fitted score")
    args = parser.parse_args(argv)
    rule = read_config(checkpoint_dir(args.assets, "ensemble"))["members"]
    candidates = [v.name for v in ZOO if v.ship and v.name not in NOT_CANDIDATES]
    study = selection_study(args.assets, rule, candidates, repeats=args.repeats)
    write_json_atomic(ensemble_selection_file(args.assets), study)
    for task, row in study["tasks"].items():
        print(
            f"{task}: rule {row['rule']:.4f}  greedy on dev {row['greedy_on_dev']:.4f} "
            f"({', '.join(row['greedy_members'])})  cross-fitted {row['greedy_cross_fitted']:.4f}"
        )
    overall = study["overall"]
    print(
        f"overall: rule {overall['rule']:.4f}  greedy on dev {overall['greedy_on_dev']:.4f}  "
        f"cross-fitted {overall['greedy_cross_fitted']:.4f}"
    )
    if args.assets.resolve() == ASSETS.resolve():
        write_docs(args.assets, [README, FINDINGS])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
