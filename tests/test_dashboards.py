"""Grafana dashboards as code: snapshots, provisioning format, reproducibility, conventions.

Snapshots: the tree generated from ``tests/data/dashboards-inventory.toml`` (French and
English) is compared file by file with ``tests/snapshots/dashboards/<lang>/``. After an
intended change, regenerate them and review the diff::

    LORAWATCH_UPDATE_SNAPSHOTS=1 pytest tests/test_dashboards.py

The queries themselves are run against a real InfluxDB in ``test_dashboards_queries.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from lorawatch import inventory as inventory_mod
from lorawatch.app.cli.main import app
from lorawatch.core import catalogue
from lorawatch.dashboards import DEFAULT_DASHBOARDS_PATH, catalog, influxql, provisioning
from lorawatch.simulators.scenario import builtin
from tests import grafana
from tests.conftest import DATA
from tests.language_support import leaked, words

SMALL = DATA / "dashboards-inventory.toml"
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "dashboards"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "grafana"
UPDATE = os.environ.get("LORAWATCH_UPDATE_SNAPSHOTS") == "1"
ENV_REF = re.compile(r"^(Token )?\$[A-Z][A-Z0-9_]*$")
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

runner = CliRunner()


def small_tree(lang: provisioning.Lang = "fr") -> dict[PurePosixPath, str]:
    return provisioning.tree(inventory_mod.load(SMALL), lang)


def saint_sulpice_tree() -> dict[PurePosixPath, str]:
    return provisioning.tree(inventory_mod.load(builtin("saint-sulpice")))


def dashboards(tree: dict[PurePosixPath, str]) -> dict[PurePosixPath, dict[str, Any]]:
    return {rel: json.loads(text) for rel, text in tree.items() if rel.suffix == ".json"}


def yaml_load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


# --- snapshots -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_generated_tree_matches_the_snapshots(lang: provisioning.Lang) -> None:
    tree = small_tree(lang)
    root = SNAPSHOTS / lang
    if UPDATE:
        for old in root.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, text in tree.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
    on_disk = {
        PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()
    }
    assert on_disk == set(tree), "files differ; LORAWATCH_UPDATE_SNAPSHOTS=1 to regenerate"
    for rel, text in tree.items():
        expected = (root / rel).read_text(encoding="utf-8")
        assert text == expected, f"{rel} differs; LORAWATCH_UPDATE_SNAPSHOTS=1 to regenerate"


def test_deploy_tree_is_the_saint_sulpice_generation() -> None:
    """deploy/grafana is what the CLI generates from the reference scenario, nothing stale."""
    tree = saint_sulpice_tree()
    files = {
        PurePosixPath(p.relative_to(DEPLOY).as_posix())
        for p in DEPLOY.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    fix = "regenerate: lorawatch dashboards build -i scenarios/saint-sulpice.toml -o deploy/grafana"
    assert files == set(tree), fix
    for rel, text in tree.items():
        assert (DEPLOY / rel).read_text(encoding="utf-8") == text, f"{rel}: {fix}"


# --- reproducibility and the CLI -------------------------------------------------------------


def test_regenerating_gives_identical_files_and_drops_stale_ones(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = runner.invoke(app, ["dashboards", "build", "-i", str(SMALL), "-o", str(out)])
        assert result.exit_code == 0, result.output
    files_a = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel

    stale = first / "dashboards" / "gone-commune" / "technical" / "old.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    keep = first / "README.md"
    keep.write_text("mount me")
    before = {rel: (first / rel).stat().st_mtime_ns for rel in files_a}
    result = runner.invoke(app, ["dashboards", "build", "-i", str(SMALL), "-o", str(first)])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and not stale.parent.parent.exists()
    assert keep.read_text() == "mount me"
    assert {rel: (first / rel).stat().st_mtime_ns for rel in files_a} == before, "rewrote"


def test_cli_rejects_a_bad_language_and_a_bad_inventory(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["dashboards", "build", "-i", str(SMALL), "-o", str(tmp_path), "--lang", "de"]
    )
    assert result.exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[buildings]]\nid = "x"\ncommune = "nowhere"\nname = "X"\n')
    result = runner.invoke(app, ["dashboards", "build", "-i", str(bad), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "nowhere" in result.output


def test_english_labels_keep_the_same_uids() -> None:
    fr, en = dashboards(small_tree("fr")), dashboards(small_tree("en"))
    assert set(fr) == set(en)
    for rel in fr:
        assert fr[rel]["uid"] == en[rel]["uid"]
    overview = en[PurePosixPath("dashboards/bourg-test/technical/overview.json")]
    assert overview["title"] == "Bourg-Test · Overview"
    assert "Today (kWh)" in {p["title"] for p in grafana.panels(overview)}


# --- provisioning format ---------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["password", "token"])
def test_datasource_yaml_follows_grafana_provisioning_and_holds_no_secret(auth: str) -> None:
    tree = provisioning.tree(inventory_mod.load(SMALL), auth=auth)  # type: ignore[arg-type]
    doc = yaml_load(tree[PurePosixPath("provisioning/datasources/lorawatch.yaml")])
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    assert ds["type"] == "influxdb" and ds["access"] == "proxy"
    assert ds["uid"] == "lorawatch-influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    # Addresses and secrets only as $VAR: Grafana reads them from its environment.
    values = [ds["url"], ds["jsonData"]["dbName"], *ds["secureJsonData"].values()]
    if auth == "password":
        values.append(ds["user"])
        assert set(ds["secureJsonData"]) == {"password"}
    else:
        assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
        assert ds["secureJsonData"]["httpHeaderValue1"].startswith("Token $")
    assert all(ENV_REF.match(v) for v in values), values


def test_dashboard_provider_yaml_points_at_one_folder_per_commune_and_audience() -> None:
    tree = small_tree()
    doc = yaml_load(tree[PurePosixPath("provisioning/dashboards/lorawatch.yaml")])
    assert doc["apiVersion"] == 1
    providers = doc["providers"]
    assert [p["folder"] for p in providers] == [
        "Bourg-Test",
        "Bourg-Test · écrans d’accueil",
        "Hameau-Test",
    ]
    for provider in providers:
        assert provider["type"] == "file" and provider["orgId"] == 1
        assert provider["disableDeletion"] is True and provider["allowUiUpdates"] is False
        assert UID.match(provider["folderUid"])
        path = PurePosixPath(provider["options"]["path"])
        rel = PurePosixPath("dashboards") / path.relative_to(DEFAULT_DASHBOARDS_PATH)
        assert any(f.parent == rel for f in tree), f"{path} has no dashboards"
    assert len({p["folderUid"] for p in providers}) == len(providers)


# --- conventions every dashboard keeps -------------------------------------------------------


@pytest.fixture(scope="module")
def all_dashboards() -> list[dict[str, Any]]:
    return [*dashboards(small_tree()).values(), *dashboards(saint_sulpice_tree()).values()]


def test_uids_are_stable_valid_and_unique(all_dashboards: list[dict[str, Any]]) -> None:
    uids = [d["uid"] for d in all_dashboards[: len(dashboards(small_tree()))]]
    assert len(set(uids)) == len(uids)
    assert all(UID.match(u) for d in all_dashboards for u in [d["uid"]])
    long = catalog.uid("saint-jacques-de-la-lande", "screen", "complexe-sportif-municipal")
    assert len(long) == 40 and long.startswith("lw-saint-jacques-de-la-lande-")
    assert long == catalog.uid("saint-jacques-de-la-lande", "screen", "complexe-sportif-municipal")
    assert catalog.uid("bourg-test", "overview") == "lw-bourg-test-overview"


def test_every_panel_has_a_unit_a_datasource_and_a_place(
    all_dashboards: list[dict[str, Any]],
) -> None:
    for dashboard in all_dashboards:
        assert dashboard["timezone"] == "Europe/Paris"
        assert dashboard["weekStart"] == "monday"
        ids = [p["id"] for p in grafana.panels(dashboard)]
        assert len(ids) == len(set(ids)), dashboard["uid"]
        for panel in grafana.panels(dashboard):
            where = f"{dashboard['uid']} / {panel['title']}"
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, where
            if panel["type"] in ("row", "text"):
                continue
            assert panel["fieldConfig"]["defaults"]["unit"], f"{where}: no unit"
            assert panel["datasource"]["uid"] == "lorawatch-influxdb", where
            assert panel["targets"], where
            for target in panel["targets"]:
                kind = target["datasource"]["type"]
                assert kind in ("influxdb", "__expr__"), where


def test_sparse_data_is_never_bridged_nor_shown_as_zero(
    all_dashboards: list[dict[str, Any]],
) -> None:
    for dashboard in all_dashboards:
        for panel in grafana.panels(dashboard):
            where = f"{dashboard['uid']} / {panel['title']}"
            if panel["type"] in ("timeseries", "state-timeline"):
                span = panel["fieldConfig"]["defaults"]["custom"]["spanNulls"]
                assert span is not True and isinstance(span, int), where
                assert span <= 36 * 3_600_000 * 2, where
            for target in panel.get("targets", []):
                if not grafana.is_influxql(target):
                    continue
                query = target["query"]
                assert "now()" not in query, f"{where}: the range must come from Grafana"
                for fill in re.findall(r"fill\((\w+)\)", query):
                    assert fill in ("null", "none", "0"), where
                    if fill == "0":
                        # Only where a zero is true: counts of received frames.
                        assert "count(" in query, where


def test_occupant_screens_are_read_only_kiosks_with_building_totals_only(
    all_dashboards: list[dict[str, Any]],
) -> None:
    screens = [d for d in all_dashboards if catalog.SCREEN_TAG in d["tags"]]
    assert len(screens) == 2 + 7
    for screen in screens:
        assert screen["editable"] is False and screen["hideControls"] is True
        assert screen["timepicker"]["hidden"] is True
        assert screen["links"] == [] and screen["templating"]["list"] == []
        building = screen["uid"].removeprefix("lw-screen-")
        for panel in grafana.panels(screen):
            for target in panel.get("targets", []):
                if not grafana.is_influxql(target):
                    continue
                query = target["query"]
                assert f"\"building\" = '{building}'" in query, query
                assert '"device"' not in query, "a screen shows building totals only"


def test_building_detail_has_a_building_variable_with_names_and_ids(
    all_dashboards: list[dict[str, Any]],
) -> None:
    detail = next(d for d in all_dashboards if d["uid"] == "lw-bourg-test-building")
    (variable,) = detail["templating"]["list"]
    assert variable["name"] == "building" and variable["type"] == "custom"
    assert [(o["text"], o["value"]) for o in variable["options"]] == [
        ("Mairie", "mairie-test"),
        ("École, maternelle", "ecole-test"),
    ]
    assert variable["query"] == "Mairie : mairie-test,École\\, maternelle : ecole-test"
    queries = [t["query"] for p in grafana.panels(detail) for t in p.get("targets", [])]
    assert all("'$building'" in q for q in queries)


def test_communes_only_get_the_dashboards_their_devices_need() -> None:
    stems = {rel.as_posix() for rel in small_tree() if rel.suffix == ".json"}
    assert "dashboards/hameau-test/technical/waste.json" in stems
    assert "dashboards/hameau-test/technical/fleet.json" in stems
    assert not any(s.startswith("dashboards/hameau-test/screens") for s in stems)
    assert "dashboards/hameau-test/technical/overview.json" not in stems


# --- InfluxQL helpers ------------------------------------------------------------------------


def test_literals_and_regexes_are_escaped() -> None:
    assert influxql.literal("l'église") == "'l\\'église'"
    assert influxql.ident('a"b') == '"a\\"b"'
    assert influxql.regex_alternatives(["pav-1", "a.b/c"]) == "/^(pav-1|a\\.b\\/c)$/"
    scope = influxql.Scope(commune="c", kinds=("leak", "streetlight"), devices=("d",))
    assert influxql.where(scope) == (
        "WHERE \"commune\" = 'c' AND (\"kind\" = 'leak' OR \"kind\" = 'streetlight') "
        'AND "device" =~ /^(d)$/ AND $timeFilter'
    )
    with pytest.raises(ValueError, match="occupied"):
        influxql.occupancy_daily("energy_delta_kwh", scope, "Europe/Paris", "evening")


def test_occupancy_queries_read_only_deltas_that_carry_their_unoccupied_part() -> None:
    """Deltas stored before occupancy was (or of a building without a schedule) have no
    unoccupied part; counted in the total they would pass for occupied consumption."""
    scope = influxql.Scope(building="$building", kinds=("electricity",))
    for field, query in (
        ("energy_delta_kwh", influxql.unoccupied_share("energy_delta_kwh", scope, ("building",))),
        (
            "energy_delta_kwh",
            influxql.occupancy_daily("energy_delta_kwh", scope, "UTC", "occupied"),
        ),
        (
            "volume_delta_m3",
            influxql.occupancy_daily("volume_delta_m3", scope, "UTC", "unoccupied"),
        ),
    ):
        assert set(re.findall(r'"(\w+)_unoccupied"', query)) == {field}, query
        assert f'"{field}_unoccupied" >= 0 AND $timeFilter' in query


def test_alert_queries_read_one_series_per_alert() -> None:
    """Each alert is one series: ``last()`` per group is its state; only the inner level
    takes Grafana's time filter (the module's sub-query rule)."""
    scope = influxql.Scope(commune="l'île")
    query = influxql.open_alerts(scope)
    assert "\"commune\" = 'l\\'île'" in query
    group = 'GROUP BY "alert_id", "building", "device", "rule"'
    assert query.count(group) == 2 and query.count("$timeFilter") == 1
    assert query.endswith('WHERE "active" = true ' + group)
    assert influxql.alert_history(scope).endswith(group)


# --- one language per dashboard ---------------------------------------------------------------

TEXT_KEYS = frozenset({"title", "description", "axisLabel", "displayName", "alias", "content"})
"""Where a dashboard holds words a person reads (panel and row titles, descriptions, axis
labels, legends, text panels); mappings' ``text``, columns' new names and ``suffix:`` units
are collected beside them."""


def shown_texts(node: Any, key: str = "", out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(node, dict):
        if node.get("id") == "displayName" and isinstance(node.get("value"), str):
            out.append(node["value"])
        for k, v in node.items():
            if k == "renameByName" and isinstance(v, dict):
                out += [str(name) for name in v.values()]
            elif k == "text" and isinstance(v, str) and key in ("result", "options", ""):
                out.append(v)
            else:
                shown_texts(v, k, out)
    elif isinstance(node, list):
        for v in node:
            shown_texts(v, key, out)
    elif isinstance(node, str):
        if key in TEXT_KEYS and not node.startswith("$"):
            out.append(node)
        elif key == "unit" and node.startswith("suffix:"):
            out.append(node.removeprefix("suffix:"))
    return out


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_dashboard_speaks_one_language(lang: provisioning.Lang) -> None:
    """Titles, descriptions, axis labels, legends and columns of every generated dashboard
    are words of the chosen language's catalogue: no word of the other language, and no
    word outside the catalogue (beyond the inventory's names)."""
    for path, tree_of in ((SMALL, small_tree), (builtin("saint-sulpice"), None)):
        inv = inventory_mod.load(path)
        tree = tree_of(lang) if tree_of else provisioning.tree(inv, lang)
        names = [c.name for c in inv.communes.values()] + list(inv.communes)
        names += [b.name for b in inv.buildings.values()] + list(inv.buildings)
        names += [f"{d.name} {d.dev_eui} {d.site}" for d in inv.doc.devices]
        texts: list[str] = []
        for board in dashboards(tree).values():
            texts += shown_texts(board)
        assert len(texts) > 200
        assert leaked(texts, lang, names) == [], f"{path.name} in {lang}"
        own = words(catalogue.messages(lang).values())
        strangers = sorted(words(texts) - words(names) - own)
        assert strangers == [], f"{path.name} in {lang}: words outside the catalogue"


def test_build_with_a_config_speaks_its_site_language(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    conf = tmp_path / "lorawatch.toml"
    text = conf.read_text(encoding="utf-8")
    conf.write_text(text.replace('\nlanguage = "fr"\n', '\nlanguage = "en"\n'), encoding="utf-8")
    built: dict[str, list[str]] = {}
    for name, extra in (("site", []), ("flag", ["--lang", "fr"])):
        out = tmp_path / name
        result = runner.invoke(
            app, ["dashboards", "build", "-c", str(conf), "-o", str(out), *extra]
        )
        assert result.exit_code == 0, result.output
        built[name] = [
            t
            for p in out.rglob("*.json")
            for t in shown_texts(json.loads(p.read_text(encoding="utf-8")))
        ]
    assert catalogue.text("en", "dash.open_alerts") in built["site"]
    assert catalogue.text("fr", "dash.open_alerts") in built["flag"]
