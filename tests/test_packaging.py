"""The installers: build the PyInstaller bundle, the .deb and the tarball once per session with
packaging/build.py (into a temporary folder), then run what was built with no Python environment
(PATH=/usr/bin:/bin, no PYTHONPATH/VIRTUAL_ENV, HOME and data in tmp, Qt offscreen): the bundle's
`--self-test`, its server and its GUI, the .deb unpacked with `dpkg -x`, and the tarball's
contents. PyInstaller is installed with pip when missing, so this never skips on Linux.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mirror.paths import mirror_file
from ui.sample_stream import SAMPLE_PATH
from wire.stream_client import StreamClient

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "packaging" / "build.py"
APP = "streamdesk"
# The build (PyInstaller, strip, xz) takes about 80 s on 2 cores; the budget covers a slow runner.
BUILD_TIMEOUT_S = 360
RUN_TIMEOUT_S = 90
_LISTENING = re.compile(r"listening on (http://\S+)")

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 120),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds the Linux packages"),
]


def _pyproject() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _ensure_pyinstaller() -> None:
    """Install the `package` extra (PyInstaller) into this interpreter's environment if needed."""
    if importlib.util.find_spec("PyInstaller") is not None:
        return
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    requirements = project["optional-dependencies"]["package"]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *requirements],
        check=True,
        timeout=300,
    )


@dataclass(frozen=True)
class Built:
    bundle: Path
    deb: Path
    tarball: Path
    version: str


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    _ensure_pyinstaller()
    out = tmp_path_factory.mktemp("packaging")
    command = [sys.executable, str(BUILD_SCRIPT), "--dist", str(out / "dist")]
    result = subprocess.run(
        [*command, "--work", str(out / "work")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout[-4000:]}{result.stderr[-8000:]}"
    shutil.rmtree(out / "work")  # PyInstaller's intermediate files, as large as the bundle
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    version = str(project["version"])
    debs = list((out / "dist").glob(f"{APP}_{version}_*.deb"))
    tarballs = list((out / "dist").glob(f"{APP}-{version}-linux-*.tar.gz"))
    assert len(debs) == 1 and len(tarballs) == 1, sorted((out / "dist").iterdir())
    return Built(out / "dist" / APP, debs[0], tarballs[0], version)


def clean_env(home: Path) -> dict[str, str]:
    """An environment with no Python in it: the binary must bring everything it needs."""
    runtime = home / "runtime"
    for folder in (home, home / "tmp", runtime):
        folder.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }


def run_binary(binary: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args],
        cwd=home,
        env=clean_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


@dataclass
class Running:
    """A long-running bundle process whose output is drained into `lines` by a thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = RUN_TIMEOUT_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := pattern.search(line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern.pattern!r} in the output:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not exit on SIGTERM:\n{self.output}") from None


StartBinary = Callable[..., Running]


@pytest.fixture
def start_binary(tmp_path: Path) -> Iterator[StartBinary]:
    started: list[Running] = []

    def start(binary: Path, *args: str) -> Running:
        home = tmp_path / "home"
        process = subprocess.Popen(
            [str(binary), *args],
            cwd=tmp_path,
            env=clean_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = Running(process)
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=lambda: running.lines.extend(stream), daemon=True).start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def _assert_self_test_passes(binary: Path, home: Path) -> None:
    result = run_binary(binary, home, "--data-dir", str(home / "streamdesk"), "--self-test")
    assert result.returncode == 0, f"--self-test failed:\n{result.stdout}{result.stderr}"


def test_bundle_self_test_runs_without_python(built: Built, tmp_path: Path) -> None:
    _assert_self_test_passes(built.bundle / APP, tmp_path / "home")


def test_bundle_help_lists_the_verbs(built: Built, tmp_path: Path) -> None:
    result = run_binary(built.bundle / APP, tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for verb in ("serve", "mirror", "tail", "append", "query", "--self-test"):
        assert verb in result.stdout


async def test_bundled_server_serves_http_and_websocket(
    built: Built, tmp_path: Path, start_binary: StartBinary
) -> None:
    server = start_binary(
        built.bundle / APP, "serve", "--port", "0", "--data-dir", str(tmp_path / "data")
    )
    url = server.wait_for(_LISTENING)[1]
    delivered: list[dict[str, Any]] = []
    got_event = asyncio.Event()

    def on_batch(batch: dict[str, Any]) -> None:
        delivered.extend(batch["events"])
        if any(event["type"] == "test/packaged" for event in delivered):
            got_event.set()

    async with StreamClient(url, "/packaging") as client:
        subscription = await client.subscribe(on_batch, replay_after_offset=0)
        committed = await client.append({"type": "test/packaged", "payload": {"ok": True}})
        async with asyncio.timeout(RUN_TIMEOUT_S):
            await got_event.wait()  # delivered over the WebSocket subscription
        await subscription.unsubscribe()
        stored = await client.get_event(offset=committed["offset"])
    assert stored is not None and stored["type"] == "test/packaged"
    assert stored["payload"] == {"ok": True}
    assert server.stop() == 0, server.output


def test_bundle_gui_opens_a_window_offscreen(
    built: Built, tmp_path: Path, start_binary: StartBinary
) -> None:
    data_dir = tmp_path / "data"
    gui = start_binary(built.bundle / APP, "--data-dir", str(data_dir))
    url = gui.wait_for(_LISTENING)[1]
    # The first start opens the sample stream on the embedded server, which creates its mirror.
    mirror = mirror_file(data_dir, url, "default", SAMPLE_PATH)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not mirror.exists() and gui.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mirror.exists(), f"no window opened {mirror}:\n{gui.output}"
    assert gui.stop() == 0, gui.output
    # A module the analysis missed shows up only when its code path runs.
    assert "No module named" not in gui.output, gui.output


def test_bundle_is_lean(built: Built) -> None:
    names = {path.name for path in built.bundle.rglob("*")}
    unwanted = re.compile(
        r"Qt6?(WebEngine|Qml|Quick|3D|Multimedia|Pdf|Network|Sql|Test|Designer)|"
        r"^(tkinter|_tkinter|libtk|libtcl|pygments|PyQt)"
    )
    assert sorted(n for n in names if unwanted.search(n)) == []
    for needed in ("libQt6Core.so.6", "libQt6Gui.so.6", "libQt6Widgets.so.6", "libqxcb.so"):
        assert needed in names
    assert "libqoffscreen.so" in names


def test_deb_installs_to_opt_and_runs(built: Built, tmp_path: Path) -> None:
    info = subprocess.run(
        ["dpkg-deb", "--field", str(built.deb), "Package", "Version", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: streamdesk" in info
    assert f"Version: {built.version}" in info
    assert re.search(r"Depends: .*libc6 \(>= 2\.\d+\).*libxcb-icccm4", info), info

    root = tmp_path / "root"
    subprocess.run(["dpkg", "-x", str(built.deb), str(root)], check=True)
    binary = root / "opt" / APP / APP
    assert binary.stat().st_mode & stat.S_IXOTH
    link = root / "usr" / "bin" / APP
    assert link.is_symlink() and link.resolve() == binary.resolve()
    desktop = (root / "usr" / "share" / "applications" / f"{APP}.desktop").read_text()
    assert "Exec=streamdesk\n" in desktop and "Icon=streamdesk\n" in desktop
    icons = root / "usr" / "share" / "icons" / "hicolor"
    assert (icons / "256x256" / "apps" / f"{APP}.png").read_bytes()[:4] == b"\x89PNG"
    assert (icons / "scalable" / "apps" / f"{APP}.svg").read_text().lstrip().startswith("<?xml")
    # Run through /usr/bin/streamdesk, as the desktop entry does.
    _assert_self_test_passes(link, tmp_path / "home")


def test_tarball_holds_the_bundle(built: Built) -> None:
    with tarfile.open(built.tarball) as archive:
        members = {member.name: member for member in archive.getmembers()}
    expected = {APP} | {f"{APP}/{p.relative_to(built.bundle)}" for p in built.bundle.rglob("*")}
    assert set(members) == expected
    main = members[f"{APP}/{APP}"]
    assert main.isfile() and main.mode & stat.S_IXUSR
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    links = [m for m in members.values() if m.issym()]
    assert links and all(not os.path.isabs(m.linkname) for m in links)


def _load_build_module() -> Any:
    spec = importlib.util.spec_from_file_location("streamdesk_packaging_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_elf_links_are_read_from_a_real_binary() -> None:
    build = _load_build_module()
    links = build.parse_elf_links(Path("/bin/ls").read_bytes())
    assert "libc.so.6" in links.needed
    assert links.glibc is not None and links.glibc >= (2, 2)
    assert build.parse_elf_links(BUILD_SCRIPT.read_bytes()) is None


def test_depends_names_packages_and_refuses_unknown_libraries() -> None:
    build = _load_build_module()
    depends = build.debian_depends({"libc.so.6", "libxcb.so.1", "libGL.so.1"}, (2, 31))
    assert depends == "libc6 (>= 2.31), libgl1, libxcb1"
    with pytest.raises(build.BuildError, match=r"libfancy\.so\.3"):
        build.debian_depends({"libc.so.6", "libfancy.so.3"}, (2, 31))
