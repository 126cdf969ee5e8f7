"""MQTT over TLS against a real Mosquitto TLS listener: CA file, client certificate, require_tls."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lorawatch.app import config
from lorawatch.app.service import Service
from lorawatch.core.errors import ConfigError
from tests.conftest import DATA, REFERENCE
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.servers

TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/24e124136d123456/event/up"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
            cwd=d,
        )
    return d


class TlsMosquitto(Mosquitto):
    def __init__(self, workdir: Path, pki: Path) -> None:
        super().__init__(workdir)
        self.pki = pki

    def command(self) -> list[str]:
        cmd = super().command()
        conf = Path(cmd[-1])
        conf.write_text(
            conf.read_text() + f"cafile {self.pki / 'ca.crt'}\ncertfile {self.pki / 'server.crt'}\n"
            f"keyfile {self.pki / 'server.key'}\nrequire_certificate true\n"
        )
        return cmd


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Mosquitto:
    broker = TlsMosquitto(tmp_path_factory.mktemp("tls-broker"), pki)
    broker.start()
    yield broker  # type: ignore[misc]
    broker.stop()


def settings(tmp_path: Path, broker: Mosquitto, pki: Path, client_cert: bool) -> config.Settings:
    mqtt_cfg: dict[str, object] = {
        "url": f"mqtts://127.0.0.1:{broker.port}",
        "require_tls": True,
        "ca_file": str(pki / "ca.crt"),
        "client_id": f"tls-{client_cert}",
        "reconnect_min_s": 0.2,
    }
    if client_cert:
        mqtt_cfg |= {"cert_file": str(pki / "client.crt"), "key_file": str(pki / "client.key")}
    return config.load(
        None,
        {
            "inventory": {"path": str(DATA / "inventory.toml")},
            "mqtt": mqtt_cfg,
            "store": {"sqlite": {"path": str(tmp_path / "lw.sqlite")}},
            "http": {"listen": "127.0.0.1:0"},
        },
    )


def test_uplinks_flow_over_mutual_tls(tmp_path: Path, tls_broker: Mosquitto, pki: Path) -> None:
    service = Service(settings(tmp_path, tls_broker, pki, client_cert=True))
    service.start()
    try:
        assert service.source.wait_subscribed(15)  # type: ignore[attr-defined]
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-publisher")
        publisher.tls_set(
            ca_certs=str(pki / "ca.crt"),
            certfile=str(pki / "client.crt"),
            keyfile=str(pki / "client.key"),
            cert_reqs=ssl.CERT_REQUIRED,
        )
        publisher.connect("127.0.0.1", tls_broker.port)
        publisher.loop_start()
        publisher.publish(
            TOPIC, (REFERENCE / "v4-event-up.json").read_bytes(), qos=1
        ).wait_for_publish(10)
        publisher.disconnect()
        publisher.loop_stop()

        def stored() -> bool:
            return bool(
                service.sqlite.fetch("SELECT COUNT(*) FROM readings WHERE name = 'energy_kwh'")[0][
                    0
                ]
            )

        wait_until(stored, 15, "the uplink over TLS")
    finally:
        service.stop()


def test_without_its_client_certificate_the_bridge_is_refused(
    tmp_path: Path, tls_broker: Mosquitto, pki: Path
) -> None:
    service = Service(settings(tmp_path, tls_broker, pki, client_cert=False))
    service.start()
    try:
        assert not service.source.wait_subscribed(3)  # type: ignore[attr-defined]
        assert service.health()["status"] == "degraded"
    finally:
        service.stop()


def test_require_tls_refuses_a_plaintext_url() -> None:
    with pytest.raises(ConfigError, match="require_tls"):
        config.load(
            None,
            {
                "inventory": {"path": "x.toml"},
                "mqtt": {"url": "mqtt://127.0.0.1:1883", "require_tls": True},
            },
        )
