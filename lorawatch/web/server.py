"""uvicorn serving the web app in a thread of the service, on a socket bound beforehand.

Binding first gives the real port at once (``listen = "127.0.0.1:0"`` in tests and the demo)
and makes a busy port fail ``Service.start`` instead of a background thread. uvicorn installs
no signal handler off the main thread, so SIGINT and SIGTERM stay with the runner, which
stops the service, which stops this server. Its access log stays off: request lines carry
query strings (a screen's ``?token=``), so the app logs requests itself, path only.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time

import structlog
import uvicorn
from starlette.types import ASGIApp

from lorawatch.core.errors import BusyError, ConfigError
from lorawatch.core.reasons import Reason

log = structlog.get_logger(__name__)


def bind(listen: str, key: str = "http.listen") -> socket.socket:
    """A listening TCP socket for ``host:port`` (``[::1]:8080`` for IPv6; port 0: any free).

    A port in use raises :class:`BusyError`, an address this machine does not have or may
    not use raises :class:`ConfigError` naming ``key``: both before anything has started.
    """
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BusyError(
                f"{key}: port {port} on {host} is in use by another program: stop it, or "
                f"choose another port (0: any free port)",
                "busy.port",
                option=key,
                port=port,
                host=host,
            ) from None
        why = Reason("cannot_listen", {"listen": listen, "why": exc.strerror or str(exc)})
        raise ConfigError([(key, why)]) from None
    sock.set_inheritable(True)
    return sock


class WebServer:
    """One uvicorn server in a daemon thread; :meth:`stop` lets requests in flight finish."""

    def __init__(self, app: ASGIApp, listen: str) -> None:
        self.socket = bind(listen)
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",  # no WebSocket route: uvicorn would load the websockets package (~3 MB)
            server_header=False,
            date_header=True,
            timeout_graceful_shutdown=3,
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )
        self._server = uvicorn.Server(config)
        # uvicorn's own lines (started, shutting down) are not events of lorawatch's log.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self.socket]))

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        log.info("http listening", port=self.port)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self.socket.close()
