"""A user's components in an importable module: a helper and a model backend.

Nothing here registers itself: the plugin tests register them at run time, as a user's script
would, and worker processes must find them by their import paths.
"""

from __future__ import annotations

import os

from automem.agent.helpers import Helper, HelperContext
from automem.core import ChatModel, ModelIdentity, StepResult
from automem.models.registry import ModelSpec
from automem.models.scripted import ScriptedModel
from automem.models.threads import model_threads


class PidStamp(Helper):
    """Writes the step and the id of the process running the episode into a memory file."""

    name = "pid_stamp"

    def after_step(self, ctx: HelperContext, result: StepResult) -> None:
        ctx.memory.write_by_code("stamp", f"step {ctx.step} pid {os.getpid()}", step=ctx.step)


def pid_backend(spec: ModelSpec, seed: int) -> ChatModel:
    """The scripted model, under an identity that names this backend and the process."""
    model = ScriptedModel(seed, slip_rate=0.0, spec=spec.text)
    details = {
        "pid": os.getpid(),
        "model_threads": model_threads(),  # what an embedded model here would be given
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
    }
    model.identity = ModelIdentity(
        spec=spec.text, backend=spec.backend, name="pid", details=details
    )
    return model
