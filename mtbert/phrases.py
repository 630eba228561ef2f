"""Phrase-level SST: every labelled node of the train sentences' parse trees (``sst-train-trees.txt``).

Each line of the trees file is one train sentence as a Penn-Treebank-style tree, ``(label word)`` leaves and
``(label left right)`` nodes, in the order of ``ids-sst-train.csv``. A node's phrase is its leaves joined by
spaces, so the same tokenisation as the sentences. The roots are the sentences themselves (already in the
train file) and are left out; the other phrases are kept once each, with the label of their first occurrence.
"""

from __future__ import annotations

import random
from pathlib import Path

from mtbert.data import Example

TREES_FILE = "sst-train-trees.txt"


def parse_tree(line: str) -> list[tuple[str, int, bool]]:
    """Every node of one tree as (phrase, label, is_root), children before their parents."""
    tokens = line.replace("(", " ( ").replace(")", " ) ").split()
    nodes: list[tuple[str, int, bool]] = []
    # Each open node on the stack: [label, words so far].
    stack: list[tuple[int, list[str]]] = []
    expect_label = False
    for token in tokens:
        if token == "(":
            expect_label = True
        elif expect_label:
            stack.append((int(token), []))
            expect_label = False
        elif token == ")":
            if not stack:
                raise ValueError(f"unbalanced tree: {line[:80]!r}")
            label, words = stack.pop()
            nodes.append((" ".join(words), label, not stack))
            if stack:
                stack[-1][1].extend(words)
        else:
            if not stack:
                raise ValueError(f"word outside a node: {line[:80]!r}")
            stack[-1][1].append(token)
    if stack:
        raise ValueError(f"unbalanced tree: {line[:80]!r}")
    return nodes


def read_phrases(path: Path, exclude: set[str] | None = None, max_trees: int = 0) -> list[Example]:
    """The distinct labelled phrases below the roots of a trees file, minus any text in ``exclude``.

    ``exclude`` holds sentences already in the training data (compared case-sensitively, as written);
    ``max_trees`` reads only the first trees (0 = all), to match a ``train_limit``.
    """
    seen = set(exclude or ())
    phrases: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f):
            if max_trees and line_number >= max_trees:
                break
            if not line.strip():
                continue
            for text, label, is_root in parse_tree(line):
                if is_root or text in seen:
                    continue
                seen.add(text)
                phrases.append(Example(id=f"tree{line_number}-{len(phrases)}", a=text, label=float(label)))
    return phrases


def sample_indices(pool_size: int, count: int, seed: int) -> list[int]:
    """``count`` distinct positions out of ``pool_size`` (all of them, in order, when ``count`` >= the pool)."""
    if count <= 0 or count >= pool_size:
        return list(range(pool_size))
    return sorted(random.Random(seed).sample(range(pool_size), count))
