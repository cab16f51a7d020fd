"""Start the dashboard: Solara's server on our page, offline, telemetry off.

The checks run here, in the ``multivector app`` process (a missing package or a busy port
is a plain error, exit 2); then the process replaces itself with :mod:`sim.app.server`,
which serves the page under uvicorn with nothing fetched from the internet: no version
check, no usage telemetry, and the page's JavaScript and styles read (never written) from
the ``solara-assets`` package, installed with a matching ``ipyvuetify<3``.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

from sim.errors import UserError


def check_offline_assets() -> None:
    """Refuse to start a page that would fetch its JavaScript from the internet."""
    missing = []
    for module in ("solara", "solara_assets", "ipyvuetify"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UserError(
            f"the dashboard needs {', '.join(missing)}: install the app extra "
            "(`pip install 'multivector[app]'`; `./dev setup` installs it)"
        )
    import ipyvuetify

    major = int(ipyvuetify.__version__.split(".")[0])
    if major >= 3:
        raise UserError(
            f"ipyvuetify {ipyvuetify.__version__} does not match solara-assets (it needs "
            "ipyvuetify<3); without a match the page fetches its JavaScript from a CDN. "
            "Install `ipyvuetify<3`."
        )


def check_port(host: str, port: int) -> None:
    """Refuse a port that something listens on, as uvicorn will bind it: with
    SO_REUSEADDR, so the connections of a server closed a moment ago (TIME_WAIT) do not
    block a restart. (The dashboard and the shared classroom both check here.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"--port {port}: something is already listening on {host}:{port} "
                    "(another dashboard or classroom?); choose another port with --port"
                ) from None
            raise UserError(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
            ) from None


def serve(scenario: Path, host: str, port: int, open_browser: bool = False) -> None:
    """Replace this process with the dashboard's server (does not return)."""
    check_offline_assets()
    from sim.app.server import packaged_assets

    packaged_assets()  # its files, not only its module, are there
    check_port(host, port)
    env = dict(os.environ, MULTIVECTOR_APP_SCENARIO=str(scenario.resolve()))
    argv = [
        sys.executable, "-m", "sim.app.server", "--host", host, "--port", str(port),
        *(["--open"] if open_browser else []),
    ]  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    print(f"Multivector dashboard: http://{shown}:{port}/  (Ctrl-C stops it)", flush=True)
    if host in ("0.0.0.0", "::"):
        print("  shared on every network interface: students use this machine's address")
    os.execve(sys.executable, argv, env)
