"""``outdated`` and ``rebuild``: what moved since a compose, and composing again only
what did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ocicompose
from conftest import Images, directory, file, layer, write_layout


def move_base(images: Images) -> None:
    """Gives the base tag a new image, as a registry's base gets a fix."""
    write_layout(
        images.root / "base",
        "1.0",
        [layer([directory("/bin"), file("/bin/sh", b"#!fixed shell\n", 0o755), directory("/etc"), file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")])],
    )


def test_outdated_compares_with_a_result_or_a_report_file(images: Images, tmp_path: Path) -> None:
    spec = images.spec(f"oci:{tmp_path / 'out'}")
    result = ocicompose.compose(spec)
    assert ocicompose.outdated(spec, against=result) == []
    report = tmp_path / "report.json"
    report.write_text(result.to_json())
    assert ocicompose.outdated(spec, against=report) == []
    assert ocicompose.outdated(spec, against=str(report)) == []

    move_base(images)
    changes = ocicompose.outdated(spec, against=result)
    assert len(changes) == 1
    change = changes[0]
    assert change["role"] == "base" and change["reference"] == images.base
    assert change["recorded"] == result.report["inputs"][0]["manifest_digest"]
    assert change["current"] is not None and change["current"] != change["recorded"]
    assert ocicompose.outdated(spec, against=report) == changes


def test_outdated_refuses_what_is_not_a_report(images: Images, tmp_path: Path) -> None:
    spec = images.spec(f"oci:{tmp_path / 'out'}")
    not_a_report = tmp_path / "x.json"
    not_a_report.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="is not a compose report"):
        ocicompose.outdated(spec, against=not_a_report)
    with pytest.raises(ocicompose.IoError, match="missing.json"):
        ocicompose.outdated(spec, against=tmp_path / "missing.json")
    with pytest.raises(TypeError, match="against must be a ComposeResult"):
        ocicompose.outdated(spec, against=42)  # type: ignore[arg-type]


def test_rebuild_composes_only_what_changed_and_reports_failures_per_spec(images: Images, tmp_path: Path) -> None:
    specs = []
    for name, tools in [("plain", False), ("tools", True)]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(images.spec(f"oci:{tmp_path / ('out-' + name)}", tools=tools)))
        specs.append(path)
    reports = tmp_path / "reports"

    first = ocicompose.rebuild(specs, reports=reports, jobs=1)
    assert [r["status"] for r in first] == ["rebuilt", "rebuilt"]
    assert all(r["reasons"] == ["no report yet"] for r in first)
    written = json.loads((reports / "plain.report.json").read_text())
    assert first[0]["manifest_digest"] == written["manifest_digest"]
    assert first[0]["line"] == f"{specs[0]} rebuilt {written['manifest_digest']}"
    assert first[0]["previous_report"] is None and first[0]["error"] is None

    again = ocicompose.rebuild(specs, reports=reports)
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]

    move_base(images)
    dry = ocicompose.rebuild(specs, reports=reports, dry_run=True)
    assert [r["status"] for r in dry] == ["would_rebuild", "would_rebuild"]
    assert dry[0]["reasons"][0].startswith(f"base {images.base}: sha256:")
    assert sorted(p.name for p in reports.iterdir()) == ["plain.report.json", "tools.report.json"], "a dry run writes nothing"

    # One spec now fails; the other is still rebuilt, and its old report kept.
    specs[1].write_text(json.dumps({**images.spec(f"oci:{tmp_path / 'out-tools'}"), "base": f"oci:{tmp_path / 'nowhere'}:1"}))
    third = ocicompose.rebuild(specs, reports=reports)
    assert third[0]["status"] == "rebuilt"
    assert Path(third[0]["previous_report"]).name.startswith("plain.report.2")
    assert json.loads(Path(third[0]["previous_report"]).read_text())["manifest_digest"] == written["manifest_digest"]
    assert third[1]["status"] == "failed"
    assert isinstance(third[1]["error"], ocicompose.NotFoundError)
    assert third[1]["line"].startswith(f"{specs[1]} failed: ")
    assert (reports / "tools.report.json").exists(), "a failure keeps the last report"


def test_rebuild_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="jobs must be 1 or more"):
        ocicompose.rebuild([], jobs=0)
    assert ocicompose.rebuild([]) == []
