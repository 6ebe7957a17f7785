"""`flashsale completion bash|zsh|fish`: the shell's completion script for the CLI (click's).

``eval "$(flashsale completion bash)"`` in ``~/.bashrc`` (zsh: ``~/.zshrc``; fish:
``flashsale completion fish > ~/.config/fish/completions/flashsale.fish``) completes commands,
options and choices as they are typed.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_FLASHSALE_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Examples:
      eval "$(flashsale completion bash)"        # in ~/.bashrc
      eval "$(flashsale completion zsh)"         # in ~/.zshrc
      flashsale completion fish > ~/.config/fish/completions/flashsale.fish
    """
    root = ctx.find_root().command
    kind = get_completion_class(shell)
    assert kind is not None  # every name in SHELLS is one of click's
    click.echo(kind(root, {}, "flashsale", COMPLETE_VAR).source())
