"""``lorawatch web``: make the password hashes and tokens that go in ``[http]``.

Only hashes go in the configuration, so these commands print the secret once, to the
terminal, with the line to paste; nothing is written anywhere else.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lorawatch.app.cli import say

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
            err(
                f"{say.t('error')}: "
                + say.t("bad_choice", option="--role", value=role, choices="viewer, operator")
            )
            raise typer.Exit(2)
        if stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt(
                say.t("web.password"), hide_input=True, confirmation_prompt=True
            )
        if len(password) < 10:
            err(f"{say.t('error')}: " + say.t("web.too_short"))
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
        err(say.t("web.token"))
        out(token)
        if screen:
            snippet = f'[[http.screens.tokens]]\nbuilding = "{screen}"\nsha256 = "{digest}"'
            hint = say.t("web.screen_hint", screen=screen)
        else:
            snippet = f'[[http.tokens]]\nname = "{name}"\nsha256 = "{digest}"\nrole = "{role}"'
            hint = say.t("web.bearer_hint")
        err(say.t("web.configuration", hint=hint))
        err(snippet)
