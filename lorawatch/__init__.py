"""lorawatch: LoRaWAN building-energy monitoring for communes.

The package is laid out along the data flow::

    ChirpStack -> MQTT -> gateway_bridge -> decoders -> pipeline -> alerts -> dashboards
                                   simulators (feed the bridge for demos, tests and load)
"""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata when first asked for: importing
    importlib.metadata costs ~5 MB, which the MQTT receiver child (it imports this package
    and never the version) need not hold."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Here, not at the top: only the command line and the web API ask for the version.
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("lorawatch")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
