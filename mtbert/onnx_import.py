"""Import a BERT exported to ONNX into Hugging Face-named weights that minBERT's weight map reads.

Exporters keep the names of bias and LayerNorm initializers (``...encoder.layer.0.attention.self.query.bias``)
but often rename the Linear weights to anonymous ``onnx::MatMul_470`` initializers, stored transposed
(in_features, out_features). Each anonymous weight is named by following its MatMul to the Add that applies
the named bias: ``MatMul(x, W) + b`` is the Linear whose bias is ``b``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

# Where a parameter's Hugging Face name starts inside an exporter's prefixed name ("model.0.auto_model.").
_HF_NAME = re.compile(r"(?:^|\.)((?:embeddings|encoder)\..*)$")


def read_onnx_bert(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The Hugging Face ``BertModel`` state dict stored in an ONNX file (Linear weights as (out, in))."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name, array in arrays.items():
        match = _HF_NAME.search(name)
        if match:
            state[match.group(1)] = torch.from_numpy(np.array(array, dtype=np.float32))
    consumers: dict[str, list] = {}
    for node in graph.node:
        for value in node.input:
            consumers.setdefault(value, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in arrays or _HF_NAME.search(node.input[1]):
            continue
        bias = _bias_of(node.output[0], consumers, arrays)
        if bias is None:
            raise ValueError(f"cannot name the ONNX weight {node.input[1]}: its MatMul feeds no named bias Add")
        weight_name = bias.removesuffix("bias") + "weight"
        state[weight_name] = torch.from_numpy(np.array(arrays[node.input[1]], dtype=np.float32).T.copy())
    return state


def _bias_of(value: str, consumers: dict[str, list], arrays: dict[str, np.ndarray]) -> str | None:
    """The Hugging Face name of the bias that an Add node applies to ``value``, if there is one."""
    for node in consumers.get(value, []):
        if node.op_type != "Add":
            continue
        for other in node.input:
            match = _HF_NAME.search(other) if other in arrays else None
            if match and other.endswith("bias"):
                return match.group(1)
    return None


def materialise_onnx_backbone(
    onnx_path: Path, hf_config: dict, tokenizer_dir: Path, cache_dir: Path, name: str
) -> Path:
    """Convert once into ``cache_dir/name`` (config.json, model.safetensors, tokenizer files); return that folder.

    The folder is written under a temporary name and renamed into place, so a half-written import is never used.
    """
    target = cache_dir / name
    if (target / "model.safetensors").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache_dir))
    try:
        save_file(read_onnx_bert(onnx_path), str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(hf_config, indent=2))
        for file in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (tokenizer_dir / file).exists():
                shutil.copy(tokenizer_dir / file, tmp / file)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
