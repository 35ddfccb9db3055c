"""The llama.cpp runtime probe: run as a script in a child process by :mod:`llama_runtime`.

``python -P llama_probe.py MODEL.gguf [FOLDER]`` (FOLDER: where the caller found llama_cpp, so
both use the same runtime) prints one JSON line describing the runtime (what it was
built with, which library it loaded), then loads the model and decodes a short multi-token
prompt the way the backend does. A build that cannot run on this CPU (a native build whose
AMX kernels fault, issue #9) dies here by a signal instead of in the caller, which can then
say what failed. Exit status: 0 it works (a last line ``{"ok": true}``), 3 the model did not
load (a problem of the file, reported by the caller's own load).

Run as a plain script (not ``-m``, and ``-P`` keeps this folder off ``sys.path``), so the probe
imports llama_cpp, the standard library and its sibling :mod:`llama_backends` (loaded by path)
only. A build with CPU variants loads the best one first (and says which it had), as the
backend does.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

# About a hundred tokens: a multi-token batch is what takes the matrix-multiply kernels.
PROMPT = (
    "You are an agent exploring a small world. To the north there is a tree, to the east "
    "water and to the south a stone. Write down what you see, then choose one action. "
) * 3
LOAD_FAILED = 3


def _backends_module() -> ModuleType:
    # The sibling module by path: this script imports nothing of automem as a package.
    path = Path(__file__).with_name("llama_backends.py")
    spec = importlib.util.spec_from_file_location("llama_backends", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: llama_probe.py MODEL.gguf [FOLDER]", file=sys.stderr)
        return 2
    if len(argv) == 3:
        sys.path.insert(0, argv[2])
    import llama_cpp

    backends = _backends_module()
    folder = backends.variant_folder(Path(llama_cpp.__file__).parent.parent)
    if folder is not None:  # said before loading them, which may crash
        print(json.dumps({"cpu_variants": backends.variants(folder)}), flush=True)
        backends.load_cpu_backends(llama_cpp)
    library = getattr(getattr(llama_cpp, "llama_cpp", None), "_lib", None)
    info = {
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace"),
        "library": str(getattr(library, "_name", "")),
    }
    print(json.dumps(info), flush=True)  # before anything that may crash
    try:
        llm = llama_cpp.Llama(model_path=argv[1], n_ctx=512, n_batch=512, verbose=False)
    except (ValueError, RuntimeError) as exc:
        print(json.dumps({"load_error": str(exc)}), flush=True)
        return LOAD_FAILED
    tokens = llm.tokenize(PROMPT.encode("utf-8"), add_bos=True, special=False)
    llm.create_completion(prompt=tokens, max_tokens=4, temperature=0.0)
    print(json.dumps({"ok": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
