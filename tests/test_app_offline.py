"""The dashboard offline, and no request able to break it, checked with a real server.

Inside a fresh network namespace that has only loopback (``unshare --net``, as root; also
its own mounts and processes), with the ``solara-assets`` folder bind-mounted read-only,
the probe at the bottom of this file starts ``multivector app`` under ``strace -f``
(connect, bind and every syscall that deletes, renames or creates a path), sends it
hostile requests for the page's asset URLs, then loads the page in Debian's ``chromium``
and steps it. Outside, the test checks:

* every ``connect`` of the server (and of what it starts) is to 127.0.0.1 or ::1: no DNS
  query, no version check, no CDN fetch, at start or on demand; the page still loads
  fully, and it asked nothing of any other host;
* every asset request that names a directory (the one ``solara run`` deleted), a missing
  file or a path out of the folder, or that is not a GET, is refused at once (< 1 s, also
  60 at a time), and no syscall of the server hit the read-only folder (``EROFS``): nothing
  tried to delete or write it; its content hash is the same before and after;
* a ``script-name`` header cannot move the page's URLs to another host.

Skipped where the namespace, ``strace`` or Chromium is not available, unless
``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI, as root, with ``chromium`` and ``strace``).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from headless import CHROMIUM_FLAGS, chromium, free_port

ROOT = Path(__file__).resolve().parents[1]

#: What strace records: connections, the listening socket, and every change to a path.
TRACED = "connect,bind,listen,unlink,unlinkat,rmdir,rename,renameat,renameat2,mkdir,mkdirat"
LOOPBACK = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
REQUIRE = os.environ.get("MULTIVECTOR_REQUIRE_BROWSER") == "1"
#: Only loopback, its own mounts, and its own processes: whatever the probe started ends
#: with it, even if the test is killed.
UNSHARE = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]


# ---- reading strace's output (pure functions, tested on literal lines) ------------------


def connect_targets(trace: str) -> list[tuple[str, str]]:
    """(address, line) of every AF_INET/AF_INET6 connect in strace's output."""
    found = []
    for line in trace.splitlines():
        if " connect(" not in line and not line.startswith("connect("):
            continue
        m = re.search(r'inet_addr\("([^"]+)"\)', line) or re.search(
            r'inet_pton\(AF_INET6, "([^"]+)"', line
        )
        if m:
            found.append((m.group(1), line))
        elif "sa_family=AF_INET" in line:  # an address strace could not show
            found.append(("?", line))
    return found


def outside_connects(trace: str) -> list[str]:
    """The lines of connects to anything but 127.0.0.1 or ::1 (AF_UNIX is local IPC)."""
    bad = []
    for address, line in connect_targets(trace):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            bad.append(line)
            continue
        mapped = getattr(ip, "ipv4_mapped", None)
        if (mapped or ip) not in LOOPBACK:
            bad.append(line)
    return bad


def test_strace_reader_flags_every_outside_connect():
    trace = "\n".join(
        [
            '7 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.2.3.53")},'
            " 16) = -1 ENETUNREACH (Network is unreachable)",
            '7 connect(5, {sa_family=AF_INET, sin_port=htons(8765), sin_addr=inet_addr("127.0.0.1")'
            "}, 16) = 0",
            '7 connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")'
            "}, 16 <unfinished ...>",
            "8 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "2a04:4e42::223", &sin6_addr), sin6_scope_id=0}, 28) = -1',
            "8 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
            '9 connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
            '9 bind(3, {sa_family=AF_INET, sin_port=htons(8765), sin_addr=inet_addr("10.0.0.1")},'
            " 16) = 0",
        ]
    )
    bad = outside_connects(trace)
    assert [re.search(r'"([^"]+)"', b).group(1) for b in bad] == [
        "10.2.3.53",
        "127.0.0.53",  # loopback, but not our server: a local DNS resolver
        "2a04:4e42::223",
    ]


# ---- the test ---------------------------------------------------------------------------


def namespace_problem() -> str | None:
    """Why the loopback-only namespace cannot be used here, or None."""
    for tool in ("unshare", "strace", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (Debian: apt-get install strace iproute2)"
    for argv, what in (
        ([*UNSHARE, "true"], "`unshare --net --mount --pid` (needs root)"),
        (["strace", "-f", "-qq", "-e", "trace=none", "true"], "strace (ptrace)"),
    ):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return f"{what} is not permitted here: {r.stderr.strip()}"
    return None


def folder_digest(folder: Path) -> str:
    """SHA-256 of every file's relative path, mode and content, in order."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def namespace_run(tmp_path_factory):
    """Run the probe in the namespace once; its outputs, and the folder's hash around it."""
    browser = chromium()
    if browser is None:
        if REQUIRE:
            pytest.fail("MULTIVECTOR_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    if problem := namespace_problem():
        if REQUIRE:
            pytest.fail(f"MULTIVECTOR_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    from sim.app.server import packaged_assets

    assets = packaged_assets()
    out = tmp_path_factory.mktemp("offline")
    before = folder_digest(assets)
    script = (
        'ip link set lo up && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
        'exec "$2" "$3" probe "$4" "$5"'
    )
    argv = ["sh", "-c", script, "sh", assets, sys.executable, __file__, out, browser]
    r = subprocess.run(
        [*UNSHARE, *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    after = folder_digest(assets)
    log = (out / "server.log").read_text() if (out / "server.log").exists() else ""
    assert r.returncode == 0, f"probe failed:\n{r.stdout}\n{r.stderr}\nserver log:\n{log}"
    result = json.loads((out / "result.json").read_text())
    return result, (out / "server.trace").read_text(), log, (before, after)


def test_server_connects_only_to_loopback(namespace_run):
    result, trace, log, _ = namespace_run
    port = result["port"]
    assert re.search(rf"bind\(\d+, \{{sa_family=AF_INET, sin_port=htons\({port}\)", trace), (
        "strace did not see the server's socket: the trace does not cover the server"
    )
    assert not outside_connects(trace), outside_connects(trace)
    assert "Could not load URL" not in log, log
    assert "Traceback" not in log, log


def test_page_loads_and_steps_with_loopback_only(namespace_run):
    result = namespace_run[0]
    assert "load_page_error" not in result, result["load_page_error"]
    page = result["page"]
    assert page["stepped"], page
    outside = sorted(
        u
        for u in page["requests"]
        if urlparse(u).hostname not in ("127.0.0.1", None) and not u.startswith(("data:", "blob:"))
    )
    assert not outside, f"the page asked other hosts: {outside}"
    assert len(page["requests"]) > 10
    assert not page["failed"], page["failed"]


def test_a_header_cannot_move_the_page_elsewhere(namespace_run):
    result = namespace_run[0]
    assert "page_with_hostile_headers_error" not in result, result
    assert result["html_hosts"] == [], result["html_hosts"]  # all relative to this server


def test_asset_requests_are_refused_at_once(namespace_run):
    result = namespace_run[0]
    assert "hostile_requests_error" not in result, result["hostile_requests_error"]
    assert len(result["hostile"]) > 10
    for path, method, status, seconds in result["hostile"]:
        assert status >= 300 and status != 304, (path, method, status)
        assert seconds < 1.0, (path, method, seconds)
    assert result["real_asset"] == 200
    flood = result["flood"]
    assert set(flood["statuses"]) == {404}, flood
    assert flood["seconds"] < 5.0 and flood["real_asset_seconds"] < 1.0, flood


def test_no_request_changes_the_assets_folder(namespace_run):
    _, trace, _, (before, after) = namespace_run
    refused = [line for line in trace.splitlines() if "EROFS" in line]
    assert not refused, f"something tried to change the read-only assets folder: {refused}"
    assert before == after, "the solara-assets folder changed"


# ---- the probe (runs inside the namespace: `python tests/test_app_offline.py probe`) ----


def request(port: int, path: str, method: str = "GET", headers=None) -> tuple[int, bytes, float]:
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, body, time.monotonic() - t0


def page_with_hostile_headers(port: int, _browser_path: str) -> dict:
    """The first page request carries the headers that told Solara its root path."""
    headers = {"script-name": "http://192.0.2.1/x", "x-script-name": "http://192.0.2.1/x"}
    request(port, "/", headers=headers)
    status, html, _ = request(port, "/")
    assert status == 200, status
    text = html.decode()
    # what the page loads (src=, and <link href=>), not its links to read about Solara
    urls = re.findall(r'\ssrc="([^"]+)"', text) + re.findall(r'<link[^>]*\shref="([^"]+)"', text)
    assert any(u.startswith("/_solara/cdn/") for u in urls), urls
    return {"html_hosts": sorted({h for u in urls if (h := urlparse(u).hostname)})}


def hostile_requests(port: int, _browser_path: str) -> dict:
    """Asset URLs that name a directory, a missing file, a way out; other methods; a flood."""
    _, html, _ = request(port, "/")
    version = re.search(r"/@widgetti/solara-vuetify-app@([^/\"]+)/", html.decode())
    assert version, "the page names no @widgetti/solara-vuetify-app"
    folder = f"/_solara/cdn/@widgetti/solara-vuetify-app@{version.group(1)}"  # the 61 MB one
    attacks = [
        (folder, "GET"),
        (folder + "/", "GET"),
        (folder + "/dist", "GET"),
        ("/_solara/cdn/@widgetti", "GET"),
        ("/_solara/cdn/", "GET"),
        (folder + "/dist/../../" + folder.rsplit("/", 1)[1], "GET"),
        ("/_solara/cdn/../_solara/cdn/" + folder.split("/_solara/cdn/")[1], "GET"),
        ("/_solara/cdn/%2e%2e/%2e%2e/%2e%2e/pyvenv.cfg", "GET"),
        ("/_solara/cdn/requirejs@2.3.6/../../../../../../../etc/passwd", "GET"),
        (folder + "/dist/no-such-file.js", "GET"),
        ("/_solara/cdn/left-pad@1.3.0/index.js", "GET"),
        ("/_solara/cdn/vega@5/build/vega.min.js", "GET"),
        ("/_solara/cdn/requirejs@2.3.6/require.js", "DELETE"),
        ("/_solara/cdn/requirejs@2.3.6/require.js", "PUT"),
    ]
    hostile = []
    for path, method in attacks:
        status, _, seconds = request(port, path, method)
        hostile.append((path, method, status, seconds))
    real, _, _ = request(port, "/_solara/cdn/requirejs@2.3.6/require.js")
    return {"hostile": hostile, "real_asset": real, "flood": flood(port)}


def flood(port: int, n: int = 60) -> dict:
    """n requests for missing assets at once, and a real asset asked for meanwhile."""
    paths = [f"/_solara/cdn/missing-{k}@1.0.0/index.js" for k in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        pending = pool.map(lambda p: request(port, p)[0], paths)
        time.sleep(0.05)
        _, _, real_seconds = request(port, "/_solara/cdn/requirejs@2.3.6/require.js")
        statuses = list(pending)
    return {
        "statuses": statuses,
        "seconds": time.monotonic() - t0,
        "real_asset_seconds": real_seconds,
    }


def load_page(port: int, browser_path: str) -> dict:
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    failed: list[str] = []

    def on_response(response):
        if response.status >= 400:
            failed.append(f"{response.url}: {response.status}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
        page.on("response", on_response)
        page.set_default_timeout(90_000)
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.get_by_text("quarter 0 of 52")).to_be_visible(timeout=90_000)
        for k in (1, 2):
            page.get_by_role("button", name="Step").click()
            expect(page.get_by_text(f"quarter {k} of 52")).to_be_visible(timeout=60_000)
        browser.close()
    return {"page": {"requests": requests, "failed": failed, "stepped": True}}


def wait_listening(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the app did not listen within {seconds} s")


def probe(out: Path, browser_path: str) -> None:
    """Start the server under strace here, attack it, load the page; write result.json."""
    port = free_port()
    trace = ["-f", "-qq", "--seccomp-bpf", "-e", f"trace={TRACED}", "-o", out / "server.trace"]
    argv = ["strace", *map(str, trace), sys.executable, "-m", "sim", "app", "--port", str(port)]
    with open(out / "server.log", "w") as log:
        server = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: strace and the server stop together
        )
    result: dict = {"port": port, "seconds": {}}
    t0 = time.monotonic()
    try:
        wait_listening(port, server)
        result["seconds"]["start"] = time.monotonic() - t0
        for phase in (page_with_hostile_headers, hostile_requests, load_page):
            t0 = time.monotonic()
            try:  # record a failure and go on, so that every check reports
                result.update(phase(port, browser_path))
            except Exception as exc:
                result[f"{phase.__name__}_error"] = f"{type(exc).__name__}: {exc}"
            result["seconds"][phase.__name__] = time.monotonic() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    probe(Path(sys.argv[2]), sys.argv[3])
