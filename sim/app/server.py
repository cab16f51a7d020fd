"""The dashboard's server process: Solara's ASGI app under uvicorn, offline and read-only.

``multivector app`` replaces itself with ``python -m sim.app.server`` (see
:mod:`sim.app.serve`). We do not use ``solara run``: what we found in Solara 1.64:

* ``solara run`` asks pypi.org for Solara's latest version on every start
  (``solara/__main__.py``, ``_check_version``, on unless ``--no-check-version``). Here no
  code path of the CLI runs at all.
* With Solara's asset proxy on (``SOLARA_ASSETS_PROXY=True``) every ``/_solara/cdn/...``
  request goes through ``solara/server/cdn_helper.py`` ``get_path``: a missing file is
  fetched from the CDN (with retries), and a URL that names a directory is *deleted*
  (``shutil.rmtree``, meant for an old cache layout), e.g. the 61 MB Vuetify bundle.
* The first page request's ``script-name`` (or ``x-script-name``) header became the root
  path of every page served after it (``solara/server/starlette.py``, ``root``), so one
  request could send every browser's page to another host for its styles and scripts.

So the proxy is off (Solara then mounts no ``/_solara/cdn`` handler at all), the root path
is fixed (``SOLARA_ROOT_PATH=""``), the page is pointed at ``/_solara/cdn`` through
``SOLARA_ASSETS_CDN``, and :class:`OfflineApp` answers that path itself from the files the
``solara-assets`` package installed: GET and HEAD only, a missing file or a directory is a
404 at once, nothing is fetched, written or deleted. The page itself gets its language
declared (``<html lang="en">``, which Solara's template leaves out) and the title
"Multivector"; everything else goes to Solara's own app unchanged.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import re
import sys
import threading
import time
import warnings
import webbrowser
from pathlib import Path, PurePath

from sim.errors import UserError

#: Where the page asks for Solara's JavaScript, styles and fonts.
ASSETS_URL = "/_solara/cdn"

#: Solara's settings for a classroom, set before Solara is imported: no usage telemetry,
#: no banner, the asset proxy off and the page's assets taken from ASSETS_URL (which
#: OfflineApp serves), and the root path fixed, so that no request header (``script-name``)
#: can move the page's URLs elsewhere.
SOLARA_ENV = {
    "SOLARA_MODE": "production",
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    "SOLARA_THEME_SHOW_BANNER": "False",
    "SOLARA_THEME_TITLE": "Multivector",
    "SOLARA_ASSETS_PROXY": "False",
    "SOLARA_ASSETS_CDN": ASSETS_URL,
    "SOLARA_ROOT_PATH": "",
    "SOLARA_APP": "sim.app.page:Page",
}

#: uvicorn's websocket keepalive: a ping every WS_PING_INTERVAL seconds, and no deadline for
#: its pong (uvicorn's default, 20 s, dropped busy classrooms' pages). uvicorn (its
#: websockets-sansio protocol) stops reading a websocket while a message waits for the app,
#: and Solara takes a page's next message only when it has handled the last one (a Step:
#: the model and its figures, many seconds when several pages step at once on a small
#: machine). A page that sent two clicks in a row therefore had its pong unread for longer
#: than 20 s and was closed (1011 "keepalive ping timeout"). Without the deadline a busy
#: page stays connected; a vanished one is still closed when TCP gives up on the pings.
WS_PING_INTERVAL = 20.0
WS_PING_TIMEOUT = None

#: The page's language, declared on its ``<html>`` element (Solara's template declares none).
PAGE_LANGUAGE = "en"
#: The path of the page itself (the dashboard has no other).
PAGE_PATH = "/"

#: The assets carry their version in their path (``requirejs@2.3.6/...``): they never change.
IMMUTABLE = "public, max-age=31536000, immutable"


def packaged_assets() -> Path:
    """The folder of CDN files that the ``solara-assets`` wheel installed
    (``<prefix>/share/solara/cdn``), found from the wheel's own file list."""
    try:
        dist = importlib.metadata.distribution("solara-assets")
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            "the dashboard needs the solara-assets package (its JavaScript, offline): "
            "install the app extra (`pip install 'multivector[app]'`)"
        ) from None
    for file in dist.files or ():
        parts = file.parts
        for i in range(len(parts) - 3):
            if parts[i : i + 3] == ("share", "solara", "cdn"):
                root = Path(dist.locate_file(PurePath(*parts[: i + 3]))).resolve()
                if (root / "requirejs@2.3.6" / "require.js").is_file():  # the page loads it
                    return root
    raise UserError(
        "solara-assets is installed but its files are missing (reinstall it: "
        "`pip install --force-reinstall solara-assets`)"
    )


def is_assets_path(path: str) -> bool:
    return path == ASSETS_URL or path.startswith(ASSETS_URL + "/")


def assets_app(directory: Path):
    """A read-only static handler for ASSETS_URL: GET/HEAD of an existing file, else 4xx."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    class ReadOnlyAssets(StaticFiles):
        async def get_response(self, path, scope):
            response = await super().get_response(path, scope)
            if response.status_code in (200, 304):
                response.headers["Cache-Control"] = IMMUTABLE
            return response

    files = ReadOnlyAssets(directory=directory, follow_symlink=False)
    return Starlette(routes=[Mount(ASSETS_URL, app=files)])


def with_language(html: bytes) -> bytes:
    """The page's HTML with its language declared: ``<html lang="en">``."""
    declared = b'<html lang="%s"' % PAGE_LANGUAGE.encode()
    return re.sub(rb"<html(?![^>]*\slang=)", declared, html, count=1)


async def send_page(app, scope, receive, send) -> None:
    """Solara's answer for the page, its language declared (see :func:`with_language`).

    The request goes on without ``accept-encoding`` (the page is a few tens of kB), so
    that the HTML comes back as text to declare it in; other answers pass unchanged.
    """
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
    start: dict = {}
    body: list[bytes] = []

    async def declare(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                await send_declared(start, b"".join(body), send)
        else:
            await send(message)

    await app(dict(scope, headers=headers), receive, declare)


async def send_declared(start: dict, html: bytes, send) -> None:
    """Send an answer whose body was held back: an HTML one with its language declared."""
    fields = dict(start.get("headers", []))
    if fields.get(b"content-type", b"").startswith(b"text/html"):
        html = with_language(html)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(html)).encode()))
    await send(dict(start, headers=headers))
    await send({"type": "http.response.body", "body": html})


class OfflineApp:
    """ASGI: requests for ASSETS_URL go to our read-only handler, the page gets its
    language declared, the rest goes to Solara."""

    def __init__(self, solara_app, assets):
        self.solara_app = solara_app
        self.assets = assets

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and is_assets_path(scope["path"]):
            if scope["type"] == "http":
                await self.assets(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "http" and scope["path"] == PAGE_PATH and scope["method"] == "GET":
            await send_page(self.solara_app, scope, receive, send)
            return
        await self.solara_app(scope, receive, send)


def build_app():
    """The ASGI app; sets SOLARA_ENV first (Solara reads its settings when imported)."""
    directory = packaged_assets()
    os.environ.update(SOLARA_ENV)
    import solara.server.starlette

    return OfflineApp(solara.server.starlette.app, assets_app(directory))


def open_when_started(server, url: str) -> None:
    def wait_and_open():
        deadline = time.monotonic() + 120
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        if server.started:
            webbrowser.open(url)

    threading.Thread(target=wait_and_open, daemon=True).start()


def run(host: str, port: int, open_browser: bool = False) -> None:
    """Serve the page on host:port until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Solara's advice for pages embedded over https, repeated for every page load over http
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    config = uvicorn.Config(
        build_app(),
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # nothing stands in front of us: no X-Forwarded-* is believed
        server_header=False,
        lifespan="on",
        ws_ping_interval=WS_PING_INTERVAL,
        ws_ping_timeout=WS_PING_TIMEOUT,
    )
    server = uvicorn.Server(config)
    if open_browser:
        shown = f"[{host}]" if ":" in host else host
        open_when_started(server, f"http://{shown}:{port}/")
    server.run()
    if not server.started:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.app.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--open", action="store_true")
    args = parser.parse_args(argv)
    try:
        run(args.host, args.port, args.open)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
