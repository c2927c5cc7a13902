"""Build the Linux installers: the PyInstaller one-folder bundle, a .deb and a .tar.gz.

    python packaging/build.py [--dist DIR] [--work DIR] [--skip-deb] [--skip-tarball]

Needs PyInstaller in the running interpreter (`pip install -e '.[package]'`) and, for the .deb,
`dpkg-deb`. Writes into DIR (default `dist/`):
- `streamdesk/`: the bundle (run `streamdesk/streamdesk`);
- `streamdesk_<version>_<arch>.deb`: installs it to /opt/streamdesk, with `/usr/bin/streamdesk`,
  a desktop entry and an icon;
- `streamdesk-<version>-linux-<machine>.tar.gz`: the bundle under `streamdesk/`.
Windows and macOS builds: see packaging/README.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import re
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from string import Template

log = logging.getLogger("build")

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "streamdesk.spec"
LINUX = PACKAGING / "linux"
ICONS = PACKAGING / "icons"
APP = "streamdesk"
INSTALL_DIR = Path("opt") / APP
DEFAULT_MAINTAINER = "Streamdesk maintainers <streamdesk@example.invalid>"
DEB_COMPRESSIONS = ("xz", "zstd", "gzip")
TARBALL_GZIP_LEVEL = 6  # level 9 takes three times as long for 0.5% less

# Libraries the bundle loads from the system, by soname, and the Debian package providing each.
# PyInstaller leaves out libc, OpenGL/EGL and the core X and Wayland client libraries (they must
# match the host); the rest are ones the build machine lacked. A soname missing here stops the
# build, so a new Qt dependency cannot slip into a .deb that fails to start on a clean system.
SYSTEM_LIBRARIES: dict[str, str] = {
    "ld-linux-x86-64.so.2": "libc6",
    "ld-linux-aarch64.so.1": "libc6",
    "libc.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libm.so.6": "libc6",
    "libpthread.so.0": "libc6",
    "librt.so.1": "libc6",
    "libutil.so.1": "libc6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libxcb.so.1": "libxcb1",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}

_ELF_MAGIC = b"\x7fELF"
_SHT_DYNAMIC = 6
_DT_NEEDED = 1
_GLIBC_VERSION = re.compile(rb"GLIBC_(\d+)\.(\d+)")


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class ElfLinks:
    needed: tuple[str, ...]  # DT_NEEDED sonames
    glibc: tuple[int, int] | None  # highest GLIBC_x.y symbol version referenced


@dataclass(frozen=True)
class Artifacts:
    bundle: Path
    deb: Path | None
    tarball: Path | None


# ---- pure helpers -------------------------------------------------------------------------


def parse_elf_links(data: bytes) -> ElfLinks | None:
    """The dynamic dependencies of a 64-bit little-endian ELF image; None if `data` is not one."""
    if data[:4] != _ELF_MAGIC or data[4] != 2 or data[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # Section header fields: name, type, flags, addr, offset, size, link, info, align, entsize.
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + index * shentsize) for index in range(shnum)
    ]
    needed: list[str] = []
    glibc: tuple[int, int] | None = None
    for section in sections:
        if section[1] != _SHT_DYNAMIC:
            continue
        strtab = sections[section[6]]
        strings = data[strtab[4] : strtab[4] + strtab[5]]
        for entry in range(section[4], section[4] + section[5], 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                needed.append(strings[value : strings.index(b"\0", value)].decode())
        versions = [(int(m[1]), int(m[2])) for m in _GLIBC_VERSION.finditer(strings)]
        glibc = max(versions, default=None)
    return ElfLinks(tuple(needed), glibc)


def debian_depends(external: Iterable[str], glibc: tuple[int, int] | None) -> str:
    """The Depends field for the system libraries `external` (sonames) the bundle needs."""
    external = set(external)
    unknown = sorted(external - SYSTEM_LIBRARIES.keys())
    if unknown:
        raise BuildError(
            "the bundle needs system libraries with no known Debian package: "
            + ", ".join(unknown)
            + " (add them to SYSTEM_LIBRARIES in packaging/build.py)"
        )
    packages = {SYSTEM_LIBRARIES[soname] for soname in external} | {"libc6"}
    fields = []
    for package in sorted(packages):
        if package == "libc6" and glibc is not None:
            fields.append(f"libc6 (>= {glibc[0]}.{glibc[1]})")
        else:
            fields.append(package)
    return ", ".join(fields)


def control_text(
    template: str,
    *,
    version: str,
    architecture: str,
    maintainer: str,
    installed_size_kib: int,
    depends: str,
) -> str:
    return Template(template).substitute(
        version=version,
        architecture=architecture,
        maintainer=maintainer,
        installed_size=installed_size_kib,
        depends=depends,
    )


def deb_file_name(version: str, architecture: str) -> str:
    return f"{APP}_{version}_{architecture}.deb"


def tarball_file_name(version: str, machine: str) -> str:
    return f"{APP}-{version}-linux-{machine}.tar.gz"


# ---- build steps ----------------------------------------------------------------------------


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def debian_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(machine, machine)


def run_pyinstaller(dist: Path, work: Path, version: str) -> Path:
    if find_spec("PyInstaller") is None:
        raise BuildError(
            f"PyInstaller is not installed for {sys.executable}: pip install -e '.[package]'"
        )
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={dist}",
        f"--workpath={work}",
        str(SPEC),
    ]
    env = {**os.environ, "STREAMDESK_VERSION": version}
    log.info("PyInstaller: %s", " ".join(command))
    if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
        raise BuildError("PyInstaller failed (its output is above)")
    bundle = dist / APP
    if not (bundle / APP).is_file():
        raise BuildError(f"PyInstaller produced no {bundle / APP}")
    return bundle


def _files(folder: Path) -> Iterator[Path]:
    for directory, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(directory) / name


def system_links(bundle: Path) -> tuple[set[str], tuple[int, int] | None]:
    """Sonames the bundle's binaries link against that it does not hold, and the glibc version."""
    present: set[str] = set()
    needed: set[str] = set()
    glibc: tuple[int, int] | None = None
    for path in _files(bundle):
        present.add(path.name)
        if path.is_symlink() or path.stat().st_size < 64:
            continue
        with path.open("rb") as file:
            if file.read(4) != _ELF_MAGIC:
                continue
            links = parse_elf_links(_ELF_MAGIC + file.read())
        if links is not None:
            needed.update(links.needed)
            if links.glibc is not None:
                glibc = max(glibc or links.glibc, links.glibc)
    return needed - present, glibc


def _normalize_modes(root: Path) -> None:
    """0755 for folders and executables, 0644 for the rest, whatever the umask was."""
    for directory, dirs, names in os.walk(root):
        for name in dirs:
            (Path(directory) / name).chmod(0o755)
        for name in names:
            path = Path(directory) / name
            if path.is_symlink():
                continue
            executable = path.stat().st_mode & stat.S_IXUSR
            path.chmod(0o755 if executable else 0o644)
    root.chmod(0o755)


def build_deb(
    bundle: Path, dist: Path, work: Path, version: str, maintainer: str, compression: str
) -> Path:
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb not found (apt-get install dpkg), or pass --skip-deb")
    external, glibc = system_links(bundle)
    depends = debian_depends(external, glibc)
    architecture = debian_architecture()

    root = work / "deb-root"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(bundle, root / INSTALL_DIR, symlinks=True)
    usr_bin = root / "usr" / "bin"
    usr_bin.mkdir(parents=True)
    # Relative, so the link also works inside an unpacked tree (`dpkg -x`) before installing.
    (usr_bin / APP).symlink_to(Path("..", "..", INSTALL_DIR, APP))
    share = root / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copyfile(LINUX / f"{APP}.desktop", share / "applications" / f"{APP}.desktop")
    for size_dir, icon in (("256x256", f"{APP}.png"), ("scalable", f"{APP}.svg")):
        target = share / "icons" / "hicolor" / size_dir / "apps"
        target.mkdir(parents=True)
        shutil.copyfile(ICONS / icon, target / icon)
    _normalize_modes(root)

    installed = sum(p.lstat().st_size for p in _files(root))
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    (debian / "control").write_text(
        control_text(
            (LINUX / "control.in").read_text(encoding="utf-8"),
            version=version,
            architecture=architecture,
            maintainer=maintainer,
            installed_size_kib=math.ceil(installed / 1024),
            depends=depends,
        ),
        encoding="utf-8",
    )
    (debian / "control").chmod(0o644)

    deb = dist / deb_file_name(version, architecture)
    command = ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(deb)]
    log.info("dpkg-deb (Depends: %s)", depends)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"dpkg-deb failed: {result.stderr.strip()}")
    shutil.rmtree(root)
    return deb


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_tarball(bundle: Path, dist: Path, version: str) -> Path:
    tarball = dist / tarball_file_name(version, platform.machine().lower())
    log.info("tarball: %s", tarball.name)
    with tarfile.open(tarball, "w:gz", compresslevel=TARBALL_GZIP_LEVEL) as archive:
        archive.add(bundle, arcname=APP, filter=_root_owned)
    return tarball


def build(
    dist: Path,
    work: Path,
    *,
    deb: bool = True,
    tarball: bool = True,
    maintainer: str = DEFAULT_MAINTAINER,
    deb_compression: str = "xz",
) -> Artifacts:
    if not sys.platform.startswith("linux"):
        raise BuildError("build.py builds the Linux packages; see packaging/README.md")
    dist.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    version = project_version()
    bundle = run_pyinstaller(dist, work, version)
    return Artifacts(
        bundle=bundle,
        deb=build_deb(bundle, dist, work, version, maintainer, deb_compression) if deb else None,
        tarball=build_tarball(bundle, dist, version) if tarball else None,
    )


def _size(path: Path) -> str:
    files = _files(path) if path.is_dir() else [path]
    total = sum(p.lstat().st_size for p in files)
    return f"{total / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Streamdesk Linux bundle and packages.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller work folder")
    parser.add_argument("--skip-deb", action="store_true", help="do not build the .deb")
    parser.add_argument("--skip-tarball", action="store_true", help="do not build the .tar.gz")
    parser.add_argument("--maintainer", default=DEFAULT_MAINTAINER, help="the .deb Maintainer")
    parser.add_argument(
        "--deb-compression",
        choices=DEB_COMPRESSIONS,
        default="xz",
        help="xz (default: smallest), zstd (fastest; needs dpkg >= 1.21.18 to install), gzip",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="build: %(message)s")
    started = time.monotonic()
    try:
        artifacts = build(
            args.dist.resolve(),
            args.work.resolve(),
            deb=not args.skip_deb,
            tarball=not args.skip_tarball,
            maintainer=args.maintainer,
            deb_compression=args.deb_compression,
        )
    except BuildError as error:
        log.error("%s", error)
        return 1
    for path in (artifacts.bundle, artifacts.deb, artifacts.tarball):
        if path is not None:
            log.info("%s (%s)", path, _size(path))
    log.info("done in %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
