"""The ``automem train`` command: one option per TrainConfig field, help from its description.

The options are generated from the config, so the model, the YAML file and the flags can never
disagree on a name. Every flag defaults to None ("not given"), so :func:`resolve_config` can
apply defaults < preset < YAML < flags itself. Training libraries are imported only when the
command runs.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from automem.train.config import ConfigError, TrainConfig, describe, resolve_config


def _option(name: str) -> inspect.Parameter:
    annotation = TrainConfig.model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    kind = args[0] if isinstance(annotation, types.UnionType) and args else annotation
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        option = typer.Option(f"{flag}/--no-{flag[2:]}", help=describe(name), show_default=False)
    else:
        option = typer.Option(flag, help=describe(name), show_default=False)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, option],  # type: ignore[valid-type]
    )


def train_command(fail: Callable[[str], Exception]) -> Callable[..., None]:
    """The command function for ``app.command("train")``; ``fail`` makes a user error exit."""

    def train_cmd(config: Path | None = None, **flags: Any) -> None:
        """Train a memory specialist: LoRA SFT of the base model on post-processed examples.

        Precedence: defaults < --preset < --config FILE < flags.

        On GPUs, launch the same command with accelerate (see docs/training.md).
        """
        try:
            resolved = resolve_config(flags, config)
        except ConfigError as exc:
            raise fail(str(exc)) from None
        from automem.train.sft import train

        try:
            result = train(resolved)
        except (ConfigError, ValueError) as exc:
            raise fail(str(exc)) from None
        typer.echo(result.summary())

    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option("--config", help="A YAML file of field: value (names as the flags)."),
        ],
    )
    params = [config_param, *(_option(name) for name in TrainConfig.model_fields)]
    train_cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return train_cmd
