"""Phrase-level SST: tree parsing, the phrase pool, and per-epoch samples."""

from __future__ import annotations

import pytest

from mtbert.phrases import parse_tree, read_phrases, sample_indices

TREE = "(3 (2 It) (4 (3 (2 is) (4 great)) (2 .)))"


def test_parse_tree_gives_every_node_with_its_label_children_first():
    nodes = parse_tree(TREE)
    assert nodes[-1] == ("It is great .", 3, True)
    assert ("is great", 3, False) in nodes and ("great", 4, False) in nodes and ("It", 2, False) in nodes
    assert sum(is_root for _, _, is_root in nodes) == 1 and len(nodes) == 7


@pytest.mark.parametrize("line", ["(3 (2 It)", "(2 a))", "word (2 a)"])
def test_malformed_trees_are_refused(line):
    with pytest.raises(ValueError):
        parse_tree(line)


def test_read_phrases_skips_roots_known_sentences_and_repeats(tmp_path):
    path = tmp_path / "trees.txt"
    path.write_text(TREE + "\n(1 (2 is) (0 (0 awful) (2 .)))\n\n(2 (2 is) (4 great))\n")
    phrases = read_phrases(path, exclude={"is great"})
    texts = [p.a for p in phrases]
    assert "It is great ." not in texts and "is awful ." not in texts  # roots are the sentences themselves
    assert "is great" not in texts  # excluded (a train sentence)
    assert len(texts) == len(set(texts))  # "is" and "." appear once each
    assert {p.a: p.label for p in phrases}["awful ."] == 0.0
    assert {p.a for p in read_phrases(path, max_trees=1)} == {"It", "is", "great", "is great", ".", "is great ."}


def test_samples_are_distinct_seeded_and_change_per_epoch():
    a, b = sample_indices(1000, 100, seed=1), sample_indices(1000, 100, seed=2)
    assert len(set(a)) == 100 and a == sample_indices(1000, 100, seed=1) and a != b
    assert sample_indices(10, 0, seed=1) == list(range(10)) == sample_indices(10, 50, seed=1)
