"""The API against its own OpenAPI schema: generated requests never get a server error, and
every answer matches what the schema promises (status, content type, body).

Schemathesis reads the schema the app publishes and Hypothesis generates requests from it,
with an operator's token so that the routes are reached, not just refused. Kept small (a few
examples per operation) so that it runs in well under a minute on a small machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from lorawatch.web import create_app
from lorawatch.web.security import FailureLimiter
from lorawatch.web.server import WebServer
from tests.web_support import OPERATOR_TOKEN, make_service

MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, schemathesis.BaseSchema, dict[str, object]]]:
    service = make_service(Path(tmp_path_factory.mktemp("schema")))
    app = create_app(service)
    # Schemathesis sends wrong credentials to every operation and wants 401, not the 429 of
    # the failure limiter (which test_web_api checks): a limiter that this run cannot fill.
    app.state.ctx.auth.limiter = FailureLimiter(10**6, per_identity=10**6, per_address=10**6)
    server = WebServer(app, "127.0.0.1:0")
    server.start()
    try:
        leak = service.sqlite.fetch("SELECT MIN(id) FROM alerts WHERE rule = 'water.leak'")[0][0]
        known = {"building": "ecole", "dev_eui": "24e124136b400002", "alert_id": leak}
        yield (
            f"http://127.0.0.1:{server.port}",
            schemathesis.openapi.from_dict(app.openapi()),
            known,
        )
    finally:
        server.stop()
        service.stop()


def test_generated_requests_get_no_server_error(
    live: tuple[str, schemathesis.BaseSchema, dict[str, object]],
) -> None:
    """Every operation of the schema, each with a few generated requests.

    Driven by hand rather than through the schemathesis pytest plugin, which does not load
    with this pytest; the checks are the same (``call_and_validate``).
    """
    base_url, schema, known = live
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12, "the schema lists the API"
    # Real ids for the path parameters, so that generation explores the queries of routes
    # that answer, not only their 404 (random ids are tried by the API tests).
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        strategy = operation.as_strategy(
            path_parameters={k: v for k, v in known.items() if k in names} or None
        )

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Case) -> None:
            # positive_data_acceptance is left out: the API refuses, with a 422 naming the
            # field, what JSON Schema cannot express (a start in year 1268, end before start,
            # a range of more than 2000 points); test_web_api checks those answers.
            case.call_and_validate(
                base_url=base_url,
                headers=headers,
                timeout=30,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        check()
