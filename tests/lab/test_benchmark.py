"""What the benchmarks record of the machine: the CPU's model and its widest vector extension."""

from __future__ import annotations

import os

import pytest

from mtbert.lab.benchmark import cpu_model


@pytest.mark.parametrize(
    ("flags", "vector"), [("fpu avx avx2 avx512f", "AVX512"), ("fpu avx avx2", "AVX2"), ("fpu sse4_2", "no AVX")]
)
def test_cpu_model_names_the_widest_vector_extension(tmp_path, flags, vector):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert cpu_model(info) == f"Some CPU ({vector}, {os.cpu_count()} cores)"


def test_cpu_model_without_cpuinfo_falls_back_to_the_platform(tmp_path):
    assert cpu_model(tmp_path / "missing")  # the platform's word, never an error
