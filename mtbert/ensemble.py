"""An ensemble of models behind the multitask predict API: each task's answer is the mean of its members' answers.

Members that share one base encoder (LoRA or frozen models of the same backbone) answer in one mixed-adapter pass
(``mtbert.fused``); the others run one after another.
"""

from __future__ import annotations

import numpy as np

from mtbert import tasks as task_registry
from mtbert.fused import FusedModels
from mtbert.multitask import AttentionView, MultitaskModel, PredictAPI, SingleTaskModels, Texts


class EnsembleModel(PredictAPI):
    """Averages its members' outputs per task: class probabilities, paraphrase probabilities, 0-5 scores.

    A task is answered by the members that have it. Attention maps (and saliency) come from the first such
    member: an average of different models' attentions would describe none of them. With ``fuse`` (the default)
    members that share a base encoder run in one pass; ``fuse=False`` runs every member on its own.
    """

    def __init__(self, members: dict[str, MultitaskModel | SingleTaskModels], fuse: bool = True) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        leaves = [m.model_for(t) for m in members.values() for t in m.tasks]
        self.fused = FusedModels(leaves if fuse else [])

    @property
    def tasks(self) -> list[str]:
        return [t for t in task_registry.names() if self.members_for(t)]

    def members_for(self, task: str) -> list[str]:
        """Names of the members that have ``task``, in order."""
        return [name for name, model in self.members.items() if task in model.tasks]

    def _models(self, task: str) -> list[MultitaskModel]:
        """The model each member answers ``task`` with, in order; an error names the tasks there are."""
        names = self.members_for(task)
        if not names:
            raise ValueError(f"no ensemble member has {task!r} (tasks: {self.tasks})")
        return [self.members[n].model_for(task) for n in names]

    def model_for(self, task: str) -> MultitaskModel:
        return self._models(task)[0]

    def _run(
        self, task: str, a: Texts, b: Texts | None, return_attentions: bool, batch_size: int
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        models = self._models(task)
        views = None
        if return_attentions:  # the first member alone, with its attentions; the rest as usual
            first, views = models[0]._run(task, a, b, True, batch_size)  # type: ignore[misc]
            values = [first, *self.fused.run(task, models[1:], a, b, batch_size)]
        else:
            values = self.fused.run(task, models, a, b, batch_size)
        mean = np.mean(np.stack(values), axis=0)
        return (mean, views) if return_attentions else mean


Model = MultitaskModel | SingleTaskModels | EnsembleModel  # anything ``mtbert.load`` returns
