"""A test agent backend, loaded as a plugin (``--plugin`` file) in every process of a run.

``marker[,delay=S]``: the scripted model, except that a prompt holding :data:`MARKER` makes
the call fail for good (a model error, as a broken server would), and ``delay`` slows every
call, so a test can kill an optimisation while an evaluation is running.
"""

from __future__ import annotations

import time

from automem.core import Completion, CompletionRequest, ModelError
from automem.models import ScriptedModel
from automem.models.registry import ModelSpec, register_backend

MARKER = "FAIL-AGENT-MARKER"


class MarkerModel(ScriptedModel):
    def __init__(self, seed: int, delay: float, spec: str) -> None:
        super().__init__(seed, slip_rate=0.0, spec=spec)
        self.delay = delay

    def complete(self, request: CompletionRequest) -> Completion:
        if self.delay:
            time.sleep(self.delay)
        if any(MARKER in m.content for m in request.messages):
            raise ModelError("the test server refuses this prompt", kind="bad_request")
        return super().complete(request)


def marker_model(spec: ModelSpec, seed: int) -> MarkerModel:
    return MarkerModel(seed, float(spec.options.get("delay", "0")), spec.text)


register_backend("marker", marker_model)
