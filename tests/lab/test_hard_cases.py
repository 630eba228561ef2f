"""The hard-case miner: each written rule picks exactly the dev examples it describes, the same on every run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mtbert.lab.hard_cases import mine, write_hard_cases

STS = [  # id, sentence1, sentence2, gold, predicted by the reference
    ("sum", "A man is playing a guitar.", "A man in a red shirt is playing an old acoustic guitar on stage.", 4.0, 2.5),
    ("flip", "A man is playing a guitar.", "A man is playing a violin.", 1.5, 4.0),
    ("fine", "A dog runs in a park.", "The stock market fell sharply today.", 0.2, 0.3),
    ("low-but-unrelated", "Kids swim.", "An old woman in a hat reads a long novel slowly at home.", 2.0, 0.5),
]
QUORA = [  # id, sentence1, sentence2, gold, probability
    ("fp", "how do i learn python fast?", "how do i learn java fast?", 0, 0.9),
    ("fp-low-overlap", "what is love?", "where can i buy cheap flights to paris?", 0, 0.8),
    ("tp", "how to cook rice?", "how do i cook rice?", 1, 0.9),
]
SST = [  # id, sentence, gold, predicted class probabilities
    ("near", "It is not bad at all.", 2, [0.05, 0.7, 0.15, 0.05, 0.05]),
    ("far", "A triumph.", 4, [0.1, 0.6, 0.1, 0.1, 0.1]),
    ("right", "Quite good.", 3, [0.0, 0.1, 0.1, 0.7, 0.1]),
]


def _write(tmp_path: Path) -> tuple[Path, Path]:
    data, assets = tmp_path / "data", tmp_path / "assets"
    data.mkdir()
    rows = [f"{i}\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}" for i, r in enumerate(STS)]
    (data / "sts-dev.csv").write_text("\n".join(["\tid\tsentence1\tsentence2\tsimilarity", *rows]) + "\n")
    rows = [f"{i}\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}" for i, r in enumerate(QUORA)]
    (data / "quora-dev.csv").write_text("\n".join(["\tid\tsentence1\tsentence2\tis_duplicate", *rows]) + "\n")
    rows = [f"{i}\t{r[0]}\t{r[1]}\t{r[2]}" for i, r in enumerate(SST)]
    (data / "ids-sst-dev.csv").write_text("\n".join(["\tid\tsentence\tsentiment", *rows]) + "\n")
    for name, shift in (("best", 0.0), ("other", 0.5)):
        out = assets / "predictions" / name
        out.mkdir(parents=True)
        pd.DataFrame(
            {"id": [r[0] for r in STS], "gold": [r[3] for r in STS], "predicted": [r[4] + shift for r in STS]}
        ).to_csv(out / "similarity-dev-predictions.csv", index=False)
        pd.DataFrame(
            {
                "id": [r[0] for r in QUORA],
                "gold": [r[3] for r in QUORA],
                "probability": [r[4] for r in QUORA],
                "predicted": [int(r[4] >= 0.5) for r in QUORA],
            }
        ).to_csv(out / "paraphrase-dev-predictions.csv", index=False)
        sst = pd.DataFrame(
            {
                "id": [r[0] for r in SST],
                "gold": [r[2] for r in SST],
                "predicted": [max(range(5), key=r[3].__getitem__) for r in SST],
            }
        )
        for c in range(5):
            sst[f"p{c}"] = [r[3][c] for r in SST]
        sst.to_csv(out / "sentiment-dev-predictions.csv", index=False)
    results = {
        "best": {"sts_pearson": 0.9, "quora_acc": 0.9, "sst_acc": 0.6, "shipped": True},
        "other": {"sts_pearson": 0.5, "quora_acc": 0.5, "sst_acc": 0.3, "shipped": True},
        "local-full-run": {"sts_pearson": 0.99, "shipped": False},  # not shipped: never the reference
    }
    (assets / "results.json").write_text(json.dumps(results))
    return data, assets


def test_each_rule_picks_what_it_describes(tmp_path):
    data, assets = _write(tmp_path)
    categories = {c["id"]: c for c in mine(assets, data)["categories"]}
    ids = {name: [e["id"] for e in c["examples"]] for name, c in categories.items()}
    assert ids == {
        "sts_summary": ["sum"],
        "sts_overlap": ["flip"],
        "quora_false_positive": ["fp"],
        "sst_neighbours": ["near"],
    }
    assert all(c["reference"] == "best" for c in categories.values())
    flip = categories["sts_overlap"]["examples"][0]
    assert flip["gold"] == 1.5 and flip["predictions"] == {"best": 4.0, "other": 4.5}
    near = categories["sst_neighbours"]["examples"][0]
    assert near["gold"] == "2 neutral" and near["predictions"]["best"] == "1 negative"
    assert "sentence2" not in near and flip["sentence2"] == "A man is playing a violin."


def test_mining_is_reproducible(tmp_path):
    data, assets = _write(tmp_path)
    first = write_hard_cases(assets, data).read_text()
    assert write_hard_cases(assets, data).read_text() == first
