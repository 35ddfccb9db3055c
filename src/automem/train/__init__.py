"""Loop 2, memory-proficiency training: examples from traces, post-processing, export, LoRA SFT.

Sits above runs and traces and uses only their public functions. Importing this package needs
no training libraries; :func:`train` and the GGUF adapter export need the ``train`` extra
(``pip install "automem[train]"``).
"""

from automem.train.examples import (
    ChatMessage,
    Example,
    ExampleError,
    Provenance,
    example_from_call,
    iter_examples,
    read_examples,
    write_examples,
)
from automem.train.postprocess import Dropped, PostprocessResult, postprocess, violations

__all__ = [
    "ChatMessage",
    "Dropped",
    "Example",
    "ExampleError",
    "PostprocessResult",
    "Provenance",
    "example_from_call",
    "iter_examples",
    "postprocess",
    "read_examples",
    "violations",
    "write_examples",
]
