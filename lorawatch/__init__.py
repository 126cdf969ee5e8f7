"""lorawatch: LoRaWAN building-energy monitoring for communes.

The package is laid out along the data flow::

    ChirpStack -> MQTT -> gateway_bridge -> decoders -> pipeline -> alerts -> dashboards
                                   simulators (feed the bridge for demos, tests and load)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lorawatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
