"""minBERT: a readable BERT encoder (embeddings, multi-head self-attention, post-LayerNorm blocks).

Shapes use B = batch, T = tokens, C = hidden size, H = heads, D = C // H (head size).
Weights load from Hugging Face BERT checkpoints through the explicit map in ``mtbert.backbones``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mtbert.config import BertConfig


@dataclass
class EncoderOutput:
    """What the encoder returns: the last hidden states and, on request, every layer's attention."""

    last_hidden_state: torch.Tensor  # (B, T, C)
    attentions: tuple[torch.Tensor, ...] | None = None  # num_layers x (B, H, T, T)


class Embeddings(nn.Module):
    """Sum of word, position and token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, word_embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        # word_embeddings (B, T, C), when given, stand in for the word lookup (integrated gradients attribute
        # through them, with no hook on the shared embedding table).
        T = input_ids.size(1)
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        words = self.word(input_ids) if word_embeddings is None else word_embeddings
        x = words + self.position(positions) + self.token_type(token_type_ids)  # (B, T, C)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention with its output projection.

    The fast path calls ``scaled_dot_product_attention``; when attention probabilities are requested it
    computes softmax(QK^T / sqrt(D) + mask) explicitly so they can be returned.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_dropout
        self.dropout = nn.Dropout(config.hidden_dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.num_heads, self.head_size).transpose(1, 2)  # (B, H, T, D)

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # x: (B, T, C); keep: (B, 1, 1, T) bool, True for real tokens (keys that may be attended to).
        B, T, C = x.shape
        q, k, v = self._split_heads(self.query(x)), self._split_heads(self.key(x)), self._split_heads(self.value(x))
        dropout_p = self.attention_dropout if self.training else 0.0
        if output_attentions:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)  # (B, H, T, T)
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
            probs = scores.softmax(dim=-1)
            context = F.dropout(probs, p=dropout_p, training=self.training) @ v  # (B, H, T, D)
        else:
            probs = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout_p)
        context = context.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.dropout(self.out(context)), probs


class FeedForward(nn.Module):
    """Position-wise feed-forward: C -> intermediate -> C with GELU."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))  # (B, T, C)


class Block(nn.Module):
    """One post-LayerNorm transformer block: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, probs = self.attention(x, keep, output_attentions)
        x = self.attention_norm(x + attended)
        x = self.ffn_norm(x + self.ffn(x))
        return x, probs


class MiniBert(nn.Module):
    """The BERT encoder: embeddings followed by ``num_layers`` blocks. No pooler: heads pool."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # BERT's initialisation; pretrained weights overwrite it when a backbone is loaded.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
        word_embeddings: torch.Tensor | None = None,
    ) -> EncoderOutput:
        # input_ids, attention_mask, token_type_ids: (B, T); word_embeddings (B, T, C) replace the word lookup
        if input_ids.size(1) > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence of {input_ids.size(1)} tokens exceeds max_position_embeddings "
                f"{self.config.max_position_embeddings}; truncate the input"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, word_embeddings)  # (B, T, C)
        # Boolean key mask (B, 1, 1, T), broadcast over heads and queries; SDPA is faster with bool than float.
        keep = attention_mask[:, None, None, :].bool()
        attentions = []
        for block in self.blocks:
            x, probs = block(x, keep, output_attentions)
            if output_attentions:
                attentions.append(probs)
        return EncoderOutput(last_hidden_state=x, attentions=tuple(attentions) if output_attentions else None)
