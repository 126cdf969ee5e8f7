"""``lorawatch web``: make the password hashes and tokens that go in ``[http]``.

Only hashes go in the configuration, so these commands print the secret once, to the
terminal, with the line to paste; nothing is written anywhere else.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

# Plain writes, not rich: "[[http.users]]" would be read as markup, and long hashes wrapped.


def out(text: str) -> None:
    typer.echo(text)


def err(text: str) -> None:
    typer.echo(text, err=True)


def register(app: typer.Typer) -> None:
    web = typer.Typer(help="Users and tokens of the built-in web.", no_args_is_help=True)
    app.add_typer(web, name="web")

    @web.command("hash-password")
    def hash_password_cmd(
        name: Annotated[str, typer.Option("--name", help="User name for the snippet.")] = "admin",
        role: Annotated[str, typer.Option(help="viewer or operator.")] = "operator",
        stdin: Annotated[
            bool, typer.Option("--stdin", help="Read the password from standard input.")
        ] = False,
    ) -> None:
        """Hash a password (scrypt) for [[http.users]]; the password is never printed."""
        # lazy: keeps `lorawatch --help` from loading the web's security stack
        from lorawatch.web.security import hash_password

        if role not in ("viewer", "operator"):
            err("role must be viewer or operator")
            raise typer.Exit(2)
        if stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 10:
            err("refused: use at least 10 characters")
            raise typer.Exit(2)
        encoded = hash_password(password)
        out(f'[[http.users]]\nname = "{name}"\npassword_hash = "{encoded}"\nrole = "{role}"')

    @web.command("new-token")
    def new_token_cmd(
        name: Annotated[str, typer.Option("--name", help="Label of the token.")] = "script",
        role: Annotated[str, typer.Option(help="viewer or operator.")] = "viewer",
        screen: Annotated[
            str,
            typer.Option(help="Make a screen token for this building id ('*': all) instead."),
        ] = "",
    ) -> None:
        """Make a random token; print it once, and the SHA-256 line for the config."""
        # lazy: keeps `lorawatch --help` from loading the web's security stack
        from lorawatch.web.security import new_token

        token, digest = new_token()
        err("token (shown once, keep it safe):")
        out(token)
        if screen:
            snippet = f'[[http.screens.tokens]]\nbuilding = "{screen}"\nsha256 = "{digest}"'
            hint = f"screen URL: /screens/{screen}?token=<token>"
        else:
            snippet = f'[[http.tokens]]\nname = "{name}"\nsha256 = "{digest}"\nrole = "{role}"'
            hint = "send it as: Authorization: Bearer <token>"
        err(f"configuration ({hint}):")
        err(snippet)
