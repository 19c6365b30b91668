"""`compose`: every way to give the spec, the result object, strict mode, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ocicompose
from conftest import CA_BUNDLE, JQ, PASSWD_TOOLS, Images


def digest_of_layout(root: Path, tag: str) -> str:
    index = json.loads((root / "index.json").read_text())
    matches = [m["digest"] for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(matches) == 1, index
    return matches[0]


def test_compose_from_a_dict_writes_the_image_and_returns_typed_results(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ocicompose.compose(images.spec(f"oci:{out}"))

    assert isinstance(result, ocicompose.ComposeResult)
    assert result.manifest_digest.startswith("sha256:") and len(result.manifest_digest) == 71
    assert result.config_digest.startswith("sha256:")
    assert result.tag == "1.0_custom"
    assert result.tags == ["1.0_custom"]
    assert result.output == f"oci:{out}"
    assert result.platforms == [
        {"platform": result.platforms[0]["platform"], "manifest_digest": result.manifest_digest, "config_digest": result.config_digest}
    ]
    # The layout on disk names the manifest the result reports, under the result's tag.
    assert digest_of_layout(out, "1.0_custom") == result.manifest_digest

    layers = result.layers
    assert [l.new for l in layers] == [False, False, True]
    assert all(isinstance(l, ocicompose.Layer) and l.size > 0 for l in layers)
    assert layers[-1].media_type == "application/vnd.oci.image.layer.v1.tar+gzip"

    warnings = result.warnings
    assert all(isinstance(w, ocicompose.Warning) for w in warnings)
    assert all(w.level == ocicompose.WARNING_CODES[w.code] for w in warnings), warnings
    passwd = [w for w in warnings if w.code == "runtime_path_overwritten" and w.path == "/etc/passwd"]
    assert len(passwd) == 1, warnings
    assert passwd[0].artifact == 1
    assert passwd[0].level == "warning"
    assert "/etc/passwd" in passwd[0].message
    assert str(passwd[0]).startswith("warning: runtime_path_overwritten: /etc/passwd (artifact 1): ")

    report = result.report
    assert report["manifest_digest"] == result.manifest_digest
    assert [w["code"] for w in report["warnings"]] == [w.code for w in warnings]
    entry_paths = {e["path"] for e in report["entries"]}
    assert {"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca.pem", "/usr/bin/jq", "/etc/passwd", "/usr/share/jq/README"} <= entry_paths
    assert not any(p.startswith("/usr/share/doc") for p in entry_paths), "exclude was ignored"
    assert json.loads(result.to_json()) == report


# Every warning code of the core with its level (README's table).
WARNING_CODES = {
    "runtime_path_overwritten": "warning",
    "symlink_shadowed": "warning",
    "type_changed": "warning",
    "permissions_changed": "warning",
    "empty_selection": "warning",
    "artifact_overwritten": "info",
    "runtime_path_removed": "warning",
    "resolved_through_symlink": "info",
    "unknown_user": "warning",
    "root_user": "warning",
    "entrypoint_missing": "warning",
    "mutable_reference": "info",
    "unsigned_repository": "warning",
    "maintainer_script_skipped": "warning",
    "ld_cache_stale": "warning",
}


def test_warning_codes_and_levels_are_the_cores() -> None:
    # ocicompose.WARNING_CODES comes from the core (WarningCode::ALL and its levels); a
    # code added there fails here until it is known.
    assert dict(ocicompose.WARNING_CODES) == WARNING_CODES
    assert list(ocicompose.WARNING_CODES) == list(WARNING_CODES), "the core's order"
    assert ocicompose.WARNING_LEVELS == ("info", "warning")
    assert set(ocicompose.WARNING_CODES.values()) <= set(ocicompose.WARNING_LEVELS)
    with pytest.raises(TypeError):
        ocicompose.WARNING_CODES["new_code"] = "info"  # type: ignore[index]


def test_the_composed_files_are_in_the_image(images: Images, tmp_path: Path) -> None:
    result = ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"))
    files = {e.path: e for e in ocicompose.list_files(f"oci:{tmp_path / 'out'}:{result.tag}")}
    assert files["/etc/ssl/certs/ca-certificates.crt"].size == len(CA_BUNDLE)
    assert files["/etc/ssl/certs/ca.pem"].link_target == "ca-certificates.crt"
    assert files["/usr/bin/jq"].mode == 0o755 and files["/usr/bin/jq"].size == len(JQ)
    assert files["/etc/passwd"].size == len(PASSWD_TOOLS)
    assert "/etc/hostname" in files and "/bin/sh" in files, "base content is kept"
    assert files["/tmp"].mode == 0o1777
    assert "/usr/share/doc" not in files


def test_keyword_form_equals_dict_form(images: Images, tmp_path: Path) -> None:
    spec = images.spec(f"oci:{tmp_path / 'a'}")
    from_dict = ocicompose.compose(spec)
    from_keywords = ocicompose.compose(
        base=images.base,
        artifacts=[
            ocicompose.Artifact(images.certs, include=["/etc/ssl/certs"]),
            ocicompose.Artifact(images.tools, include=["/usr/bin/jq", "/etc/passwd", "/usr/share"], exclude="/usr/share/doc"),
        ],
        tag_suffix="custom",
        output=f"oci:{tmp_path / 'b'}",
    )
    # Artifacts given as dicts in the keyword form are the same too.
    from_keyword_dicts = ocicompose.compose(**{**spec, "output": f"oci:{tmp_path / 'c'}"})
    assert from_dict.manifest_digest == from_keywords.manifest_digest == from_keyword_dicts.manifest_digest
    assert from_dict.warnings == from_keywords.warnings
    # The outputs differ, and so do the specs' digests and the provenance attached
    # (it records the spec, output included).
    strip = lambda r: {k: v for k, v in r.report.items() if k not in ("output", "stats", "spec_digest", "attachments")}  # noqa: E731
    assert strip(from_dict) == strip(from_keywords)


def test_every_spec_field_is_a_keyword(images: Images, tmp_path: Path) -> None:
    result = ocicompose.compose(
        base=images.base,
        artifacts=[images.certs_artifact(), images.tools_artifact()],
        output=f"oci:{tmp_path / 'out'}",
        tag="given",
        tag_suffix=None,
        runtime_paths=["/etc/ssl/**"],
        platform="linux/amd64",
        layer_per_artifact=True,
        compression_level=9,
    )
    assert result.tag == "given"
    assert [l.new for l in result.layers] == [False, False, True, True], "layer_per_artifact writes two layers"
    codes = {(w.code, w.path) for w in result.warnings}
    assert ("runtime_path_overwritten", "/etc/ssl/certs/ca-certificates.crt") in codes, "runtime_paths was ignored"


def test_layer_compression_none_writes_a_plain_tar_layer(images: Images, tmp_path: Path) -> None:
    plain = ocicompose.compose(
        base=images.base,
        artifacts=[images.tools_artifact()],
        output=f"oci:{tmp_path / 'plain'}",
        layer_compression="none",
    )
    gz = ocicompose.compose(base=images.base, artifacts=[images.tools_artifact()], output=f"oci:{tmp_path / 'gz'}")
    new_plain, new_gz = plain.layers[-1], gz.layers[-1]
    assert new_plain.new and new_plain.media_type == "application/vnd.oci.image.layer.v1.tar"
    assert new_gz.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert (new_plain.compression, new_gz.compression) == ("none", "gzip")
    assert new_plain.digest == new_plain.diff_id == new_gz.diff_id, "the same tar, stored as it is"
    with pytest.raises(ocicompose.SpecError, match="layer_compression"):
        ocicompose.compose(base=images.base, artifacts=[images.tools_artifact()], output=f"oci:{tmp_path / 'x'}", layer_compression="brotli")


def test_layer_compression_zstd_writes_the_same_tar_as_gzip(images: Images, tmp_path: Path) -> None:
    zst = ocicompose.compose(base=images.base, artifacts=[images.tools_artifact()], output=f"oci:{tmp_path / 'zst'}", layer_compression="zstd")
    gz = ocicompose.compose(base=images.base, artifacts=[images.tools_artifact()], output=f"oci:{tmp_path / 'gz'}")
    new_zst, new_gz = zst.layers[-1], gz.layers[-1]
    assert new_zst.new and new_zst.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert new_zst.compression == "zstd" and zst.layers[0].compression == "gzip"
    assert zst.report["layers"][-1]["compression"] == "zstd"
    assert new_zst.diff_id == new_gz.diff_id and new_zst.digest != new_gz.digest


def test_json_text_and_files_are_the_same_spec(images: Images, tmp_path: Path) -> None:
    from_dict = ocicompose.compose(images.spec(f"oci:{tmp_path / 'a'}"))
    from_text = ocicompose.compose(json.dumps(images.spec(f"oci:{tmp_path / 'b'}")))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(images.spec(f"oci:{tmp_path / 'c'}")))
    from_path = ocicompose.compose(spec_file)
    from_str_path = ocicompose.compose(str(spec_file), jobs=1)
    assert from_dict.manifest_digest == from_text.manifest_digest == from_path.manifest_digest == from_str_path.manifest_digest


def test_relative_references_resolve_against_the_spec_file(images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = {
        "base": "oci:../images/base:1.0",
        "artifacts": [{"image": "oci:../images/certs:1", "include": ["/etc/ssl/certs"]}],
        "tag": "rel",
        "output": "oci:out",
    }
    (specs / "spec.json").write_text(json.dumps(spec))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = ocicompose.compose(specs / "spec.json")
    assert (specs / "out" / "index.json").is_file(), "output is next to the spec file"
    assert not (elsewhere / "out").exists()
    assert digest_of_layout(specs / "out", "rel") == result.manifest_digest


def test_dict_references_resolve_against_the_current_directory(images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(images.root)
    result = ocicompose.compose(
        {"base": "oci:base:1.0", "artifacts": [{"image": "oci:certs:1", "include": ["/etc/ssl"]}], "tag": "cwd", "output": "oci:out"}
    )
    assert digest_of_layout(images.root / "out", "cwd") == result.manifest_digest


def test_same_digest_for_any_jobs_and_every_run(images: Images, tmp_path: Path) -> None:
    digests = {ocicompose.compose(images.spec(f"oci:{tmp_path / f'out{j}'}"), jobs=j).manifest_digest for j in (1, 2, 4)}
    assert len(digests) == 1


def test_source_date_epoch_sets_created(images: Images, tmp_path: Path) -> None:
    a = ocicompose.compose(images.spec(f"oci:{tmp_path / 'a'}"), source_date_epoch=1_000_000_000)
    b = ocicompose.compose(images.spec(f"oci:{tmp_path / 'b'}"), source_date_epoch=1_000_000_000)
    c = ocicompose.compose(images.spec(f"oci:{tmp_path / 'c'}"), source_date_epoch=1_500_000_000)
    assert a.manifest_digest == b.manifest_digest
    assert a.config_digest != c.config_digest
    assert ocicompose.inspect(f"oci:{tmp_path / 'a'}:{a.tag}")["created"].startswith("2001-09-09")


def test_strict_refuses_with_the_warnings_and_writes_nothing(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ocicompose.RefusedError) as info:
        ocicompose.compose(images.spec(f"oci:{out}"), strict=True)
    err = info.value
    assert err.code == "refused"
    assert isinstance(err, ocicompose.Error)
    assert any(isinstance(w, ocicompose.Warning) and w.code == "runtime_path_overwritten" and w.path == "/etc/passwd" for w in err.warnings)
    assert "/etc/passwd" in str(err)
    assert not (out / "index.json").exists()

    # The spec's own `strict` refuses too, and `strict=False` overrides it.
    with pytest.raises(ocicompose.RefusedError):
        ocicompose.compose(images.spec(f"oci:{out}", strict=True))
    assert ocicompose.compose(images.spec(f"oci:{out}", strict=True), strict=False).warnings
    # A clean spec passes under strict.
    clean = ocicompose.compose(images.spec(f"oci:{tmp_path / 'clean'}", tools=False), strict=True)
    assert [w for w in clean.warnings if w.level == "warning"] == []


def test_compose_adds_to_an_existing_layout(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = ocicompose.compose(images.spec(f"oci:{out}", tag="one"))
    second = ocicompose.compose(images.spec(f"oci:{out}", tools=False, tag="two"))
    assert digest_of_layout(out, "one") == first.manifest_digest
    assert digest_of_layout(out, "two") == second.manifest_digest


def test_same_manifest_digest_as_the_cli(images: Images, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(images.spec("oci:out")))
    run = cli("compose", str(spec_file), "--report", str(tmp_path / "report.json"))
    assert run.returncode == 0, run.stderr
    cli_digest = run.stdout.strip()
    assert cli_digest.startswith("sha256:"), run.stdout
    cli_report = json.loads((tmp_path / "report.json").read_text())

    # Same spec file, same output folder: removed first so the layouts start alike.
    shutil.rmtree(tmp_path / "out")
    result = ocicompose.compose(spec_file)
    assert result.manifest_digest == cli_digest
    assert result.config_digest == cli_report["config_digest"]
    assert [l["digest"] for l in result.report["layers"]] == [l["digest"] for l in cli_report["layers"]]
    assert [(w.code, w.path, w.artifact) for w in result.warnings] == [(w["code"], w["path"], w["artifact"]) for w in cli_report["warnings"]]
    # And the CLI reads the image Python wrote.
    ls = cli("ls", f"oci:{tmp_path / 'out'}:{result.tag}")
    assert ls.returncode == 0, ls.stderr
    assert "/usr/bin/jq" in ls.stdout


def test_same_digest_as_the_cli_on_its_demo(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    demo = tmp_path / "demo"
    run = cli("demo", "--dir", str(demo))
    assert run.returncode == 0, run.stderr
    spec = demo / "spec.json"
    cli_run = cli("compose", str(spec), "--output", f"oci:{tmp_path / 'cli-out'}")
    assert cli_run.returncode == 0, cli_run.stderr
    spec_dict = json.loads(spec.read_text())
    monkeypatch.chdir(demo)  # the demo spec's references are relative to its folder
    result = ocicompose.compose({**spec_dict, "output": f"oci:{tmp_path / 'py-out'}"})
    assert result.manifest_digest == cli_run.stdout.strip()
    assert {w.code for w in result.warnings} >= {"runtime_path_overwritten"}


def test_customisation_fields_are_keywords_too(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ocicompose.compose(
        base=images.base,
        artifacts=[ocicompose.Artifact(images.certs, include="/etc/ssl/certs")],
        output=f"oci:{out}",
        tag="custom",
        tags=["latest"],
        files=[{"path": "/etc/motd", "content": "composed from Python\n"}],
        config={"env": {"GREETING": "hello"}, "labels": {"org.example.by": "python"}},
        annotations={"org.example.note": "from keywords"},
        remove=["/etc/hostname"],
        require=[{"path": "/etc/ssl/certs/ca-certificates.crt", "type": "file"}],
    )
    assert result.tags == ["custom", "latest"]
    files = {e.path: e for e in ocicompose.list_files(f"oci:{out}:latest")}
    assert files["/etc/motd"].size == len("composed from Python\n")
    assert "/etc/hostname" not in files
    doc = ocicompose.inspect(f"oci:{out}:custom")
    assert "GREETING=hello" in doc["config"]["env"]
    assert doc["config"]["labels"]["org.example.by"] == "python"
    assert doc["annotations"]["org.example.note"] == "from keywords"
    assert doc["manifest_digest"] == result.manifest_digest
