"""``lorawatch decoders``: list, try and verify decoders and vendor codecs, for integrators.

* ``decoders test --codec FILE.js HEX --fport N`` runs a vendor codec (or ``DECODER HEX`` a
  registered decoder, or ``--repository DIR --device VENDOR/MODEL`` a repository device) on one
  frame and prints its data, warnings, errors and canonical readings, through a mapping when
  ``--mapping`` gives one.
* ``decoders verify PATH`` runs every example of a Device Repository codec YAML (or of
  lorawatch vector files) and prints a diff per mismatch; exit 1 on any.
* ``decoders add VENDOR/MODEL --repository DIR`` prints the inventory lines that read a
  repository device, with the fields its examples produce, ready to map.

Whatever a file contains, these commands answer with a message and an exit code (2 for a
usage or file problem, 1 for a failing frame or example), never a traceback.
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorawatch.app.cli import say
from lorawatch.core.errors import InventoryError
from lorawatch.core.readings import CANONICAL, Reading
from lorawatch.decoders import registry, repository, vectors
from lorawatch.decoders.base import Decoder, Uplink, readings_of
from lorawatch.decoders.js import JSCodec
from lorawatch.decoders.mapping import UNITS, FieldMapping, apply

app = typer.Typer(help="List, try and verify payload decoders.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)
EXIT_USAGE = 2


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="decoders")


def _fail(message: str) -> typer.Exit:
    """``error: message`` (a message raised below, as it is), exit 2."""
    err.print(f"{say.t('error')}: {message}", highlight=False, markup=False)
    return typer.Exit(EXIT_USAGE)


def _refuse(text_id: str, /, **values: object) -> typer.Exit:
    """``error:`` and the catalogue's ``cli.decoders.<text_id>``, exit 2."""
    return _fail(say.t(f"decoders.{text_id}", **values))


def _failed(label: str) -> str:
    return f"[red]{say.t('decoders.fail')}[/red] {escape(label)}"


@app.command("list")
def list_decoders(
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: name, vendor, device, family, readings.")
    ] = False,
) -> None:
    """Table of every registered decoder: name, vendor, device, family, readings."""
    if as_json:
        doc = [
            {
                "name": cls.name,
                "vendor": cls.vendor,
                "device": cls.device,
                "family": cls.family,
                "readings": list(cls.readings),
            }
            for cls in registry.classes()
        ]
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return
    table = Table()
    table.add_column(say.t("col.name"), no_wrap=True)
    table.add_column(say.t("col.vendor"), overflow="fold")
    table.add_column(say.t("col.device"), overflow="fold")
    table.add_column(say.t("col.family"), no_wrap=True)
    table.add_column(say.t("col.readings"), overflow="fold", ratio=1)
    for cls in registry.classes():
        table.add_row(cls.name, cls.vendor, cls.device, cls.family, ", ".join(cls.readings))
    out.print(table)
    for problem in registry.problems():
        say.warning(err, problem)


def _params(values: list[str]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise _refuse("bad_param", item=item)
        params[key.strip()] = value.strip()
    return params


def _mapping(text: str) -> dict[str, FieldMapping]:
    """A mapping from a TOML file, or inline TOML (``'status = {reading = "leak", ...}'``);
    the table may be top-level or under ``mapping``."""
    source = text
    if "=" not in text:  # a file name: inline TOML always has a key = value
        path = Path(text).expanduser()
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _refuse("mapping_unreadable", path=path, why=exc) from None
    try:
        doc = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise _refuse("mapping_not_toml", why=exc) from None
    table = doc.get("mapping", doc)
    if not isinstance(table, dict):
        raise _refuse("mapping_not_table")
    fields: dict[str, FieldMapping] = {}
    for key, spec in table.items():
        if not isinstance(spec, dict):
            raise _refuse("mapping_not_spec", key=key, spec=spec)
        try:
            fields[key] = FieldMapping(**spec)
        except ValidationError as exc:
            problems = "; ".join(e["msg"] for e in exc.errors())
            raise _refuse("mapping_bad", key=key, problems=problems) from None
    return fields


def _decoder(
    name: str | None, codec: Path | None, repo: Path | None, device: str | None, param: list[str]
) -> tuple[Decoder, dict[str, Any]]:
    raw: dict[str, Any] = _params(param)
    if codec is not None or device is not None:
        if name is not None:
            raise _refuse("both")
        if codec is not None:
            raw["codec"] = str(codec)
        if repo is not None:
            raw["repository"] = str(repo)
        if device is not None:
            raw["device"] = device
        name = "js"
    if name is None:
        raise _refuse("which")
    try:
        decoder = registry.get(name)
    except InventoryError as exc:
        raise _fail(exc.said(say.language())[0][1]) from None
    params, problems = decoder.resolve_params(raw)
    if problems:
        raise _fail("; ".join(p.text(say.language()) for p in problems))
    try:
        return decoder.bind(params), params
    except ValueError as exc:
        raise _fail(say.reason(exc)) from None


def _reading_doc(r: Reading) -> dict[str, Any]:
    return {
        "name": r.name,
        "value": r.value,
        "unit": r.unit,
        "time": r.time.isoformat().replace("+00:00", "Z"),
        **({"channel": r.channel} if r.channel else {}),
        **({"modulus": r.modulus} if r.modulus is not None else {}),
    }


@app.command("test")
def test_frame(
    arguments: Annotated[
        list[str],
        typer.Argument(
            metavar="[DECODER] HEX",
            help="Frame bytes in hex, after a decoder name unless --codec or --device is given.",
        ),
    ],
    codec: Annotated[
        Path | None,
        typer.Option(
            "--codec", help="A vendor codec: .js file, or a Device Repository codec .yaml."
        ),
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option("--repository", help="Folder of a copy of TTN's Device Repository."),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Repository device as VENDOR/MODEL.")
    ] = None,
    fport: Annotated[int, typer.Option("--fport", help="LoRaWAN fPort (1-223).")] = 85,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Device parameter KEY=VALUE (repeatable)."),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="Mapping onto readings: a TOML file, or inline TOML."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: data, warnings, errors, readings.")
    ] = False,
) -> None:
    """Decode one frame and print its vendor data, warnings, errors and canonical readings."""
    by_option = codec is not None or device is not None
    if not arguments or (not by_option and len(arguments) < 2):
        raise _refuse("expected_args")
    name = None if by_option else arguments[0]
    payload_hex = " ".join(arguments if by_option else arguments[1:])
    try:
        payload = repository.payload_of(payload_hex)
    except ValueError:
        raise _refuse("not_hex", payload=payload_hex) from None
    decoder, params = _decoder(name, codec, repo, device, param or [])
    ports = repository.F_PORTS if isinstance(decoder, JSCodec) else range(256)
    try:
        repository.f_port_of(fport, ports)
    except ValueError:
        span = f"{ports.start}-{ports.stop - 1}"
        kind = "not_application_port" if fport in range(256) else "not_lorawan_port"
        raise _refuse(kind, port=fport, span=span) from None
    fields = _mapping(mapping) if mapping is not None else {}
    now = datetime.now(UTC).replace(microsecond=0)
    result = decoder.decode_uplink(Uplink(payload, fport, now))
    readings = readings_of(decoder, result, params, now)
    if fields and result.ok:
        mapped, problems = apply(result.data, fields, now)
        declared = {(f.reading, f.channel) for f in fields.values()}
        readings = [r for r in readings if (r.name, r.channel) not in declared] + mapped
        result.warnings.extend(problems)
    doc: dict[str, Any] = {
        "data": result.data,
        "warnings": result.warnings,
        "errors": result.errors,
        "readings": [_reading_doc(r) for r in readings],
    }
    if result.normalized is not None:
        doc["normalized"] = result.normalized
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        out.print_json(data=doc)
    if result.errors:
        raise typer.Exit(1)


def _kind_of(path: Path) -> str:
    """ "codec" (a codec YAML), "device" (a repository device YAML) or "" (anything else)."""
    try:
        doc = repository.read_yaml(path)
    except repository.RepositoryError:
        return ""
    if isinstance(doc, dict) and "uplinkDecoder" in doc:
        return "codec"
    if isinstance(doc, dict) and "firmwareVersions" in doc:
        return "device"
    return ""


def _codecs_of_device(path: Path) -> list[Path]:
    """The codec YAMLs a device YAML names (beside it, as in the repository)."""
    model = repository.Repository(path.parent.parent.parent).model(
        f"{path.parent.name}/{path.stem}"
    )
    return [path.parent / f"{codec}.yaml" for codec in model.codecs]


def _verify_codec(path: Path) -> tuple[int, int]:
    """Run a codec YAML's examples; print a diff per mismatch; (passed, failed)."""
    try:
        codec = repository.load_codec(path)
    except repository.RepositoryError as exc:
        err.print(f"{_failed(str(exc))}", highlight=False)
        return 0, 1
    decoder = JSCodec(codec.script)
    label = path.name
    problem = decoder.check()
    if problem:
        err.print(f"{_failed(label)}: {escape(problem)}", highlight=False)
        return 0, max(1, len(codec.examples) + len(codec.problems))
    for line in codec.problems:
        err.print(f"{_failed(label)} {escape(line)}", highlight=False)
    failed = 0
    for example in codec.examples:
        recv = example.recv_time or vectors.DEFAULT_RECV_TIME
        result = decoder.decode_uplink(Uplink(example.payload, example.f_port, recv))
        readings_of(decoder, result, {}, recv)  # normalized-output problems become warnings
        try:
            problems = example.problems(result)
        except Exception as exc:  # noqa: BLE001 - an odd expected value is the example's fault
            problems = [say.t("decoders.cannot_compare", why=f"{type(exc).__name__}: {exc}")]
        if problems:
            failed += 1
            err.print(_failed(f"{label}[{example.index}] {example.description}"), highlight=False)
            for line in problems:
                err.print(f"    {line}", highlight=False, markup=False)
    return len(codec.examples) - failed, failed + len(codec.problems)


def _run_vector(example: vectors.Example) -> vectors.Outcome:
    try:
        return vectors.run(example)
    except Exception as exc:  # noqa: BLE001 - a malformed example is reported, not a crash
        outcome = vectors.Outcome(example)
        outcome.problems.append(say.t("decoders.malformed", why=f"{type(exc).__name__}: {exc}"))
        return outcome


@app.command("verify")
def verify(
    path: Annotated[
        Path,
        typer.Argument(
            help="A Device Repository codec or device YAML, a lorawatch vectors YAML, or a "
            "folder of them."
        ),
    ],
) -> None:
    """Run every example against its codec or decoder; a diff per mismatch (exit 1 on any)."""
    if not path.exists():
        raise _refuse("missing", path=path)
    passed = failed = 0
    single = path.is_file()
    for file in vectors.files(path):
        kind = _kind_of(file)
        if kind == "device" and single:  # in a folder, its codec YAMLs are run anyway
            try:
                codecs = _codecs_of_device(file)
            except repository.RepositoryError as exc:
                raise _fail(str(exc)) from None
            for codec in codecs:
                ok, bad = _verify_codec(codec)
                passed, failed = passed + ok, failed + bad
            continue
        if kind == "codec":
            ok, bad = _verify_codec(file)
            passed, failed = passed + ok, failed + bad
            continue
        try:
            outcomes = [_run_vector(example) for example in vectors.load(file)]
        except InventoryError as exc:
            if path.is_dir():
                continue  # a folder holds other YAML files too (device definitions, indexes)
            raise _fail(say.failure(exc)) from None
        for o in outcomes:
            if o.ok:
                passed += 1
                continue
            failed += 1
            err.print(_failed(o.example.id), highlight=False)
            for p in o.problems:
                err.print(f"    {p}", highlight=False, markup=False)
    out.print(say.t("decoders.verified", passed=passed, failed=failed), highlight=False)
    if failed or not passed:
        raise typer.Exit(1)


_LABELS = ("displayName", "name", "type", "id")


def _leaves(value: Any, prefix: str = "", unit: str = "") -> list[tuple[str, Any, str]]:
    """(path, example value, vendor unit) of every leaf; a list item that names itself
    (``{displayName: Energy, unit: Wh, value: ...}``) is addressed by that name."""
    if isinstance(value, dict):
        label = next((k for k in _LABELS if isinstance(value.get(k), str)), None)
        unit = str(value["unit"]) if isinstance(value.get("unit"), str) else unit
        return [
            leaf
            for key, item in value.items()
            if key != label and not (key == "unit" and isinstance(item, str))
            for leaf in _leaves(item, f"{prefix}.{key}" if prefix else str(key), unit)
        ]
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            label = next(
                (k for k in _LABELS if isinstance(item, dict) and isinstance(item.get(k), str)),
                None,
            )
            step = f"[{label}={item[label]}]" if label else f"[{i}]"
            out += _leaves(item, f"{prefix}{step}", unit)
        return out
    return [(prefix, value, unit)]


# Words of vendor keys and the reading they usually are: a hint in `decoders add`, to check.
_HINTS = (
    ("leak", "leak"),
    ("distance", "distance_mm"),
    ("humid", "humidity_pct"),
    ("temp", "temperature_c"),
    ("energy", "energy_kwh"),
    ("power", "power_w"),
    ("voltage", "voltage_v"),
    ("current", "current_a"),
    ("volume", "volume_m3"),
    ("pulse", "pulse_count"),
    ("bat", "battery_pct"),
)


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@app.command("add")
def add(
    model: Annotated[str, typer.Argument(metavar="VENDOR/MODEL", help="e.g. dragino/ldds75")],
    repo: Annotated[
        Path, typer.Option("--repository", help="Folder of a copy of TTN's Device Repository.")
    ],
    dev_eui: Annotated[
        str | None,
        typer.Option("--dev-eui", help="Print a [[devices]] entry for this device instead."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="ChirpStack device-profile name (default: the model's)."),
    ] = None,
) -> None:
    """Print the inventory lines that read a repository device, checked against its examples."""
    try:
        found = repository.Repository(repo).model(model)
        codec = repository.Repository(repo).codec_of(model)
    except repository.RepositoryError as exc:
        raise _fail(str(exc)) from None
    decoder = JSCodec(codec.script)
    problem = decoder.check()
    if problem:
        raise _fail(problem)
    passed = 0
    fields: dict[str, Any] = {}
    normalized = False
    for example in codec.examples:
        result = decoder.decode_uplink(
            Uplink(example.payload, example.f_port, vectors.DEFAULT_RECV_TIME)
        )
        passed += not example.problems(result)
        normalized = normalized or result.normalized is not None
        for key, value, unit in _leaves(result.data):
            fields.setdefault(key, (value, unit))
    lines = [
        f"# {found.name}: {found.description}".rstrip(": "),
        f"# codec {codec.script.name}: {passed} of {len(codec.examples)} example(s) reproduced"
        + ("; its normalizeUplink gives canonical readings" if normalized else ""),
    ]
    params = (
        f"params = {{ repository = {_toml(str(Path(repo).resolve()))}, device = {_toml(model)} }}"
    )
    if dev_eui:
        lines += [
            "[[devices]]",
            f"dev_eui = {_toml(dev_eui.lower())}",
            f"name = {_toml(found.name)}",
            'decoder = "js"',
            'building = ""  # the building it is in',
            params,
            "[devices.mapping]",
        ]
    else:
        lines += [
            "[[profiles]]",
            f"device_profile = {_toml(profile or found.name)}  # its ChirpStack device-profile name",
            'decoder = "js"',
            params,
            "[profiles.mapping]",
        ]
    lines.append("# fields of its examples; map those you need (docs/decoders.md, 'Mapping'):")
    for key, (value, unit) in fields.items():
        last = key.split(".")[-1].split("]")[-1].lower()
        guess = next((name for name in CANONICAL if last == name), "") or next(
            (name for word, name in _HINTS if word in last or word in key.lower()), ""
        )
        hint = f"reading = {_toml(guess)}" if guess else 'reading = "..."'
        if unit in UNITS:
            hint += f", unit = {_toml(unit)}"
        lines.append(f"# {_toml(key)} = {{ {hint} }}  # example: {value!r}")
    sys.stdout.write("\n".join(lines) + "\n")
