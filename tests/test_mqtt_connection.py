"""Connection state is visible: every failed attempt is logged with its error and the wait
before the next one, a refusal with the broker's reason code, and health carries the error."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from lorawatch.gateway_bridge.mqtt import MqttSource
from lorawatch.gateway_bridge.receiver import ProcessSource
from lorawatch.gateway_bridge.settings import MqttConfig
from tests.servers import Mosquitto, free_port, wait_until


def closed_port_config(**extra: Any) -> MqttConfig:
    return MqttConfig.model_validate(
        {"url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min_s": 0.5, "reconnect_max_s": 2}
        | extra
    )


def test_an_unreachable_broker_logs_each_attempt_and_its_back_off() -> None:
    source = MqttSource(closed_port_config())
    seen: list[tuple[float, dict[str, Any]]] = []
    with structlog.testing.capture_logs() as logs:
        source.start()
        try:
            deadline = time.monotonic() + 30
            while len(seen) < 3 and time.monotonic() < deadline:
                for event in logs[len(seen) :]:
                    seen.append((time.monotonic(), event))
                time.sleep(0.02)
            health = source.health()
        finally:
            source.stop()
    failures = [e for _, e in seen if e["event"] == "mqtt connection failed; retrying"]
    assert [e["attempt"] for e in failures[:3]] == [1, 2, 3], seen
    assert all(e["log_level"] == "warning" and e["error"] == "Connection refused" for e in failures)
    # paho's doubling back-off from 1 s, capped at 2 s; it waits twice after the first attempt.
    assert [e["retry_in_s"] for e in failures[:3]] == [3, 2, 2]
    times = [t for t, e in seen if e["event"] == "mqtt connection failed; retrying"]
    for (before, event), after in zip(zip(times, failures, strict=False), times[1:], strict=False):
        assert after - before >= event["retry_in_s"] - 0.2, (
            "an attempt came before its announced wait"
        )
    assert "Connection refused" in str(health["last_error"])
    assert health["last_error_at"] and health["failed_attempts"] == 3
    assert health["connected"] is False


def test_the_receiver_process_reports_the_error_to_the_service() -> None:
    source = ProcessSource(closed_port_config())
    source.start()
    try:
        wait_until(
            lambda: "Connection refused" in str(source.health().get("last_error")), 30, "error"
        )
    finally:
        source.stop()


class LockedMosquitto(Mosquitto):
    """A broker that knows one user and refuses anonymous clients."""

    def command(self) -> list[str]:
        cmd = super().command()
        conf = Path(cmd[-1])
        passwords = self.workdir / "passwords"
        passwords.write_text("")
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwords), "lorawatch", "right"],
            check=True,
            capture_output=True,
        )
        text = conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
        conf.write_text(text + f"password_file {passwords}\n")
        return cmd


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[LockedMosquitto]:
    broker = LockedMosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_refusal_names_the_reason_code_and_the_fix(
    locked_broker: LockedMosquitto, protocol: str
) -> None:
    cfg = MqttConfig.model_validate(
        {
            "url": locked_broker.url,
            "protocol": protocol,
            "username": "lorawatch",
            "password": "wrong",
            "reconnect_min_s": 0.5,
        }
    )
    source = MqttSource(cfg)
    with structlog.testing.capture_logs() as logs:
        source.start()
        try:
            wait_until(lambda: source.failures >= 2, 30, "two refusals")
        finally:
            source.stop()
    refused = [e for e in logs if e["event"] == "mqtt connect refused; retrying"]
    assert refused and refused[0]["log_level"] == "error"
    # Mosquitto answers "Not authorized" to a wrong password; paho gives 3.1.1's return codes
    # their MQTT 5 reason codes.
    code = refused[0]["reason_code"]
    assert code == 135 and refused[0]["reason"] == "Not authorized"
    assert "mqtt.username" in refused[0]["fix"]
    assert f"reason code {code}" in source.last_error
    assert any(e["event"] == "mqtt disconnected; retrying" and e["retry_in_s"] for e in logs)
