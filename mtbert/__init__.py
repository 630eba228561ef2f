"""mtbert: a multitask minBERT lab (sentiment, paraphrase, similarity) on real pretrained weights."""

from mtbert.backbones import BackboneNotAvailable, load_backbone
from mtbert.checkpoint import BackboneCache, CheckpointError, load, save_checkpoint, save_ensemble
from mtbert.config import BertConfig, FinetuneConfig, HeadConfig, TrainConfig
from mtbert.model import EncoderOutput, MiniBert
from mtbert.multitask import AttentionView, EnsembleModel, MultitaskModel, SingleTaskModels

__all__ = [
    "AttentionView",
    "BackboneCache",
    "BackboneNotAvailable",
    "BertConfig",
    "CheckpointError",
    "EncoderOutput",
    "EnsembleModel",
    "FinetuneConfig",
    "HeadConfig",
    "MiniBert",
    "MultitaskModel",
    "SingleTaskModels",
    "TrainConfig",
    "load",
    "load_backbone",
    "save_checkpoint",
    "save_ensemble",
]
