"""Fixtures: small OCI image layouts built here with tarfile, json and hashlib.

Building the images in Python (rather than with the Rust code under test) also checks
that the bindings read layouts written by another tool. Every builder is deterministic,
so the same fixture gives the same digests in every test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MTIME = 1_700_000_000


@dataclass
class Entry:
    """One tar entry of a fixture layer."""

    path: str
    kind: str = "file"  # file, dir, symlink
    data: bytes = b""
    mode: int = 0o644
    target: str = ""
    uid: int = 0
    gid: int = 0


def file(path: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(path, "file", data=data, mode=mode)


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(path, "dir", mode=mode)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", mode=0o777, target=target)


def tar_bytes(entries: list[Entry]) -> bytes:
    """A tar stream of `entries`, in order, with fixed mtimes and numeric owners."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path.lstrip("/") if e.path != "/" else ".")
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = MTIME
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return out.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layer:
    """A layer blob and what the manifest and config say about it."""

    blob: bytes
    diff_id: str
    media_type: str = LAYER_GZIP


def layer(entries: list[Entry]) -> Layer:
    raw = tar_bytes(entries)
    return Layer(gzip_bytes(raw), sha256(raw))


def write_blob(root: Path, data: bytes) -> str:
    digest = sha256(data)
    path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def write_layout(root: Path, tag: str, layers: list[Layer], config: Optional[dict] = None) -> str:
    """Writes an OCI image layout with one manifest tagged `tag`; returns `oci:ROOT:TAG`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": config or {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"fixture layer {i}"} for i in range(len(layers))],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": write_blob(root, config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": l.media_type, "digest": write_blob(root, l.blob), "size": len(l.blob)} for l in layers
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": write_blob(root, manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index, sort_keys=True))
    return f"oci:{root}:{tag}"


# --- the standard fixture set -------------------------------------------------------

PASSWD_BASE = b"root:x:0:0:root:/root:/bin/sh\n"
PASSWD_TOOLS = b"root:x:0:0:root:/root:/bin/sh\ntool:x:100:100::/nonexistent:/usr/sbin/nologin\n"
CA_BUNDLE = b"-----BEGIN CERTIFICATE-----\nMIIB fixture\n-----END CERTIFICATE-----\n"
JQ = b"#!/bin/sh\necho jq fixture\n"


@dataclass
class Images:
    """References of the standard fixture images, all under `root`."""

    root: Path
    base: str
    certs: str
    tools: str
    extra: dict[str, str] = field(default_factory=dict)

    def certs_artifact(self) -> dict:
        return {"image": self.certs, "include": ["/etc/ssl/certs"]}

    def tools_artifact(self) -> dict:
        return {"image": self.tools, "include": ["/usr/bin/jq", "/etc/passwd", "/usr/share"], "exclude": ["/usr/share/doc"]}

    def spec(self, output: str, *, tools: bool = True, **extra: object) -> dict:
        """A spec dict: certs (clean) and, unless `tools=False`, tools (overwrites /etc/passwd)."""
        artifacts = [self.certs_artifact()] + ([self.tools_artifact()] if tools else [])
        naming = {} if "tag" in extra else {"tag_suffix": "custom"}
        return {"base": self.base, "artifacts": artifacts, **naming, "output": output, **extra}


def build_images(root: Path) -> Images:
    base = write_layout(
        root / "base",
        "1.0",
        [
            layer(
                [
                    directory("/bin"),
                    file("/bin/sh", b"#!fixture shell\n", 0o755),
                    directory("/etc"),
                    file("/etc/passwd", PASSWD_BASE),
                    directory("/etc/ssl"),
                    directory("/etc/ssl/certs"),
                    file("/etc/ssl/certs/ca-certificates.crt", b"old bundle\n"),
                    directory("/tmp", 0o1777),
                    directory("/usr"),
                    directory("/usr/bin"),
                ]
            ),
            layer([directory("/etc"), file("/etc/hostname", b"fixture\n")]),
        ],
    )
    certs = write_layout(
        root / "certs",
        "1",
        [
            layer(
                [
                    directory("/etc"),
                    directory("/etc/ssl"),
                    directory("/etc/ssl/certs"),
                    file("/etc/ssl/certs/ca-certificates.crt", CA_BUNDLE),
                    symlink("/etc/ssl/certs/ca.pem", "ca-certificates.crt"),
                ]
            )
        ],
        config={},
    )
    tools = write_layout(
        root / "tools",
        "1",
        [
            layer(
                [
                    directory("/etc"),
                    file("/etc/passwd", PASSWD_TOOLS),
                    directory("/usr"),
                    directory("/usr/bin"),
                    file("/usr/bin/jq", JQ, 0o755),
                    directory("/usr/share"),
                    directory("/usr/share/jq"),
                    file("/usr/share/jq/README", b"jq data\n"),
                    directory("/usr/share/doc"),
                    directory("/usr/share/doc/jq"),
                    file("/usr/share/doc/jq/copyright", b"doc\n"),
                ]
            )
        ],
    )
    return Images(root=root, base=base, certs=certs, tools=tools)


@pytest.fixture
def images(tmp_path: Path) -> Images:
    """The standard base, certs and tools images in a fresh folder."""
    return build_images(tmp_path / "images")


def snapshot(path: Path) -> dict[str, str]:
    """Every file under `path` with the sha256 of its content (directories as `dir`)."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(path):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), path)] = "dir"
        for f in filenames:
            full = os.path.join(dirpath, f)
            out[os.path.relpath(full, path)] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the `ocicompose` CLI built by cargo (`OCICOMPOSE_CLI`, else target/debug)."""
    configured = os.environ.get("OCICOMPOSE_CLI")
    binary = Path(configured) if configured else ROOT / "target" / "debug" / "ocicompose"
    if not binary.is_file():
        if configured:
            pytest.fail(f"OCICOMPOSE_CLI={configured} does not exist")
        found = shutil.which("ocicompose")
        if not found:
            pytest.skip("the ocicompose CLI is not built (cargo build -p ocicompose-cli)")
        binary = Path(found)

    def run(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), *args], cwd=cwd, capture_output=True, text=True, check=False)

    return run
