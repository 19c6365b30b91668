"""`list_files` and `inspect`: read-only views of an image."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ocicompose
from conftest import CA_BUNDLE, Images


def test_list_files_returns_sorted_typed_entries(images: Images) -> None:
    entries = ocicompose.list_files(images.certs)
    assert all(isinstance(e, ocicompose.FileEntry) for e in entries)
    paths = [e.path for e in entries]
    assert paths == sorted(paths)
    by_path = {e.path: e for e in entries}
    assert set(by_path) == {"/etc", "/etc/ssl", "/etc/ssl/certs", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca.pem"}

    bundle = by_path["/etc/ssl/certs/ca-certificates.crt"]
    assert (bundle.kind, bundle.mode, bundle.uid, bundle.gid, bundle.size) == ("file", 0o644, 0, 0, len(CA_BUNDLE))
    assert bundle.is_file() and not bundle.is_dir() and not bundle.is_symlink()
    assert bundle.link_target is None and bundle.device is None and bundle.xattrs == {}
    assert bundle.mtime == 1_700_000_000

    link = by_path["/etc/ssl/certs/ca.pem"]
    assert link.kind == "symlink" and link.is_symlink() and link.link_target == "ca-certificates.crt"
    assert by_path["/etc"].is_dir() and by_path["/etc"].kind == "dir"
    assert "ca.pem" in repr(link) and "symlink" in repr(link)
    # Entries are values.
    assert ocicompose.list_files(images.certs) == entries


def test_list_files_applies_every_layer(images: Images) -> None:
    paths = {e.path for e in ocicompose.list_files(images.base)}
    assert {"/bin/sh", "/etc/passwd", "/etc/hostname", "/tmp"} <= paths


def test_list_files_of_a_dir_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "usr" / "bin").mkdir(parents=True)
    tool = tree / "usr" / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    tool.chmod(0o750)
    os.symlink("tool", tree / "usr" / "bin" / "alias")
    by_path = {e.path: e for e in ocicompose.list_files(f"dir:{tree}")}
    assert by_path["/usr/bin/tool"].mode == 0o750
    assert by_path["/usr/bin/alias"].link_target == "tool"


def test_list_files_with_a_platform(images: Images) -> None:
    assert ocicompose.list_files(images.certs, platform="linux/amd64") == ocicompose.list_files(images.certs)
    with pytest.raises(ocicompose.Error):
        ocicompose.list_files(images.certs, platform="not a platform")


def test_inspect_returns_the_cli_document(images: Images, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"))
    ref = f"oci:{tmp_path / 'out'}:{result.tag}"
    doc = ocicompose.inspect(ref)
    assert isinstance(doc, dict)
    assert doc["manifest_digest"] == result.manifest_digest
    assert doc["config_digest"] == result.config_digest
    assert [l["digest"] for l in doc["layers"]] == [l.digest for l in result.layers]
    assert doc["config"]["cmd"] == ["/bin/sh"]
    assert doc["platform"] == "linux/amd64"
    assert doc["annotations"]["org.opencontainers.image.base.name"] == images.base

    import json

    run = cli("inspect", ref)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == doc


def test_inspect_with_a_platform(images: Images) -> None:
    assert ocicompose.inspect(images.base, platform="linux/amd64")["platform"] == "linux/amd64"
