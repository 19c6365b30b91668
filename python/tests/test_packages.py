"""OS packages from Python: the ``packages`` keyword, a ``.deb`` and an unsigned
``file:`` repository built here with tarfile and hashlib (independently of the Rust
builders), and ``PackageError`` for what cannot be installed."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

import ocicompose
from conftest import MTIME, directory, file, gzip_bytes, layer, write_layout

STATUS = (
    b"Package: base-files\nStatus: install ok installed\nArchitecture: all\nVersion: 12.4\n"
    b"Maintainer: T <t@example.invalid>\nDescription: base\n"
)


def _tar_gz(members: dict[str, tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = tarfile.TarInfo("./")
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, MTIME
        tar.addfile(root)
        for name, (data, mode) in members.items():
            for parent in Path(name).parents:
                if str(parent) not in (".", "") and f"./{parent}/" not in tar.getnames():
                    d = tarfile.TarInfo(f"./{parent}/")
                    d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, MTIME
                    tar.addfile(d)
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode, info.mtime = len(data), mode, MTIME
            tar.addfile(info, io.BytesIO(data))
    return gzip_bytes(out.getvalue())


def _deb(control: str, files: dict[str, tuple[bytes, int]]) -> bytes:
    """A .deb as dpkg-deb writes one: an ar archive of debian-binary, control.tar.gz and
    data.tar.gz."""
    md5 = "".join(f"{hashlib.md5(d).hexdigest()}  {p}\n" for p, (d, _) in files.items())
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _tar_gz({"control": (control.encode(), 0o644), "md5sums": (md5.encode(), 0o644)})),
        ("data.tar.gz", _tar_gz(files)),
    ]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name + '/':<16}{MTIME:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def _repository(root: Path, debs: dict[str, bytes]) -> None:
    pool = root / "pool" / "main"
    index_dir = root / "dists" / "test" / "main" / "binary-amd64"
    pool.mkdir(parents=True)
    index_dir.mkdir(parents=True)
    stanzas = []
    for name, (control, data) in debs.items():
        (pool / name).write_bytes(data)
        stanzas.append(f"{control.rstrip()}\nFilename: pool/main/{name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")
    packages = "\n".join(stanzas).encode()
    (index_dir / "Packages").write_bytes(packages)
    release = f"Suite: test\nCodename: test\nArchitectures: amd64\nComponents: main\nSHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-amd64/Packages\n"
    (root / "dists" / "test" / "Release").write_text(release)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, Path]:
    base = write_layout(
        tmp_path / "base",
        "1",
        [layer([directory("/etc"), file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), directory("/var"), directory("/var/lib"), directory("/var/lib/dpkg"), directory("/var/lib/dpkg/info"), file("/var/lib/dpkg/status", STATUS)])],
    )
    greet = "Package: greet\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDepends: base-files\nDescription: greets\n"
    broken = "Package: broken\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDepends: libmissing1\nDescription: cannot be installed\n"
    _repository(
        tmp_path / "repo",
        {
            "greet_1.0-1_all.deb": (greet, _deb(greet, {"usr/bin/greet": (b"#!/bin/sh\necho hello\n", 0o755)})),
            "broken_1.0_all.deb": (broken, _deb(broken, {})),
        },
    )
    return base, tmp_path


def _packages(tmp: Path, install: list[str]) -> dict:
    return {"repositories": [{"url": f"file:{tmp / 'repo'}", "suite": "test", "components": ["main"], "trusted": True}], "install": install}


def test_packages_keyword_installs_and_registers(setup: tuple[str, Path]) -> None:
    base, tmp = setup
    result = ocicompose.compose(base=base, output=f"oci:{tmp / 'out'}", tag="pkg", attach=False, packages=_packages(tmp, ["greet"]))
    packages = result.report["packages"]
    assert [(p["name"], p["version"]) for p in packages] == [("greet", "1.0-1")]
    assert packages[0]["sha256"] == hashlib.sha256((tmp / "repo/pool/main/greet_1.0-1_all.deb").read_bytes()).hexdigest()
    assert "unsigned_repository" in {w.code for w in result.warnings}
    paths = {e.path for e in ocicompose.list_files(f"oci:{tmp / 'out'}:pkg")}
    assert {"/usr/bin/greet", "/var/lib/dpkg/info/greet.list", "/var/lib/dpkg/info/greet.md5sums"} <= paths


def test_an_unsatisfiable_dependency_raises_package_error(setup: tuple[str, Path]) -> None:
    base, tmp = setup
    with pytest.raises(ocicompose.PackageError) as info:
        ocicompose.compose(base=base, output=f"oci:{tmp / 'out'}", attach=False, packages=_packages(tmp, ["broken"]))
    assert info.value.code == "package"
    assert "broken" in str(info.value) and "libmissing1" in str(info.value)
    assert not (tmp / "out").exists()
