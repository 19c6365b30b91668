"""Every exception class: its place in the hierarchy, and a real way to provoke it."""

from __future__ import annotations

import errno
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

import ocicompose
from conftest import Images, Layer, gzip_bytes, layer, file, sha256, write_layout

# The core's ErrorKind names (the cross-language contract) and the class of each.
KINDS = {
    "spec": (ocicompose.SpecError, ValueError),
    "reference": (ocicompose.ImageReferenceError, ValueError),
    "not_found": (ocicompose.NotFoundError, FileNotFoundError),
    "digest_mismatch": (ocicompose.DigestMismatchError, None),
    "invalid_image": (ocicompose.InvalidImageError, ValueError),
    "invalid_layer": (ocicompose.InvalidLayerError, ValueError),
    "unsupported": (ocicompose.UnsupportedError, None),
    "unsafe_path": (ocicompose.UnsafePathError, None),
    "io": (ocicompose.IoError, OSError),
    "refused": (ocicompose.RefusedError, None),
    "cancelled": (ocicompose.CancelledError, None),
    "requirement_failed": (ocicompose.RequirementFailedError, None),
    "limit_exceeded": (ocicompose.LimitExceededError, None),
    "registry": (ocicompose.RegistryError, None),
    "auth": (ocicompose.AuthError, None),
    "package": (ocicompose.PackageError, None),
}


@pytest.mark.parametrize("code", sorted(KINDS))
def test_each_kind_has_a_class_with_its_code_and_builtin(code: str) -> None:
    cls, builtin = KINDS[code]
    assert issubclass(cls, ocicompose.Error)
    assert issubclass(ocicompose.Error, Exception)
    assert cls.code == code
    assert cls.__module__ == "ocicompose"
    assert cls.__doc__
    if builtin is not None:
        assert issubclass(cls, builtin)
    assert cls.__name__.endswith("Error")


def test_every_subclass_is_a_known_kind() -> None:
    assert {c.code for c in ocicompose.Error.__subclasses__()} == set(KINDS)
    assert "ReferenceError" not in dir(ocicompose), "must not shadow the builtin ReferenceError"


def test_every_core_kind_has_its_class_and_the_class_its_code() -> None:
    # ERROR_CODES comes from the core (ErrorKind::ALL, in number order); a kind added
    # there without a class, an export or an entry in KINDS fails here.
    assert ocicompose.ERROR_CODES == tuple(KINDS)
    assert len(ocicompose.ERROR_CODES) == 16
    by_code = {c.code: c for c in ocicompose.Error.__subclasses__()}
    assert len(by_code) == len(ocicompose.Error.__subclasses__()), "two classes share a code"
    for code in ocicompose.ERROR_CODES:
        cls = by_code[code]
        assert getattr(ocicompose, cls.__name__) is cls and cls.__name__ in ocicompose.__all__
        assert cls is KINDS[code][0]
        err = cls("message")
        assert err.code == code and by_code[err.code] is cls
        assert f"``{code}``" in (ocicompose.Error.__doc__ or ""), "the base class docs name every code"


def test_builtin_catch_clauses_keep_working(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ocicompose.list_files(f"oci:{tmp_path / 'missing'}")
    with pytest.raises(ValueError):
        ocicompose.compose({"base": "", "output": "oci:o"})


# --- spec errors: no image needed -----------------------------------------------------

@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/x"], "exlude": ["/y"]}]}, "artifacts[0].exlude"),
        ({"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": [1]}]}, "artifacts[0].include[0]"),
        ({"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a"}]}, "artifacts[0].include"),
        ({"base": "", "output": "oci:o"}, "base"),
        ({"base": "oci:b", "output": "oci:o", "compression_level": 11}, "compression_level"),
        ({"base": "oci:b", "output": "oci:o", "tag": "-bad"}, "tag"),
        ({"output": "oci:o"}, "spec"),
        ({"base": "oci:b", "output": "oci:o", "packages": {"install": ["curl"]}}, "packages.repositories"),
        ({"base": "oci:b", "output": "oci:o", "packages": {"install": ["bad name"], "repositories": [{"url": "file:r", "trusted": True}]}}, "packages.install[0]"),
        ({"base": "oci:b", "output": "oci:o", "packages": {"repositories": [{"url": "ftp://r"}]}}, "packages.repositories[0].url"),
    ],
)
def test_malformed_dict_spec_raises_spec_error_naming_the_field(spec: dict, field: str) -> None:
    with pytest.raises(ocicompose.SpecError) as info:
        ocicompose.compose(spec)
    assert info.value.code == "spec"
    assert info.value.field == field
    assert field.split("[")[0].split(".")[0] in str(info.value) or field == "spec"


def test_malformed_json_text_raises_spec_error() -> None:
    with pytest.raises(ocicompose.SpecError, match="line 1"):
        ocicompose.compose('{"base": "oci:b", "output": ')


def test_malformed_keyword_raises_spec_error() -> None:
    with pytest.raises(ocicompose.SpecError) as info:
        ocicompose.compose(base="oci:b", output="oci:o", artifacts=[ocicompose.Artifact("oci:a", include=[])])
    assert info.value.field == "artifacts[0].include"


def test_missing_spec_file_raises_io_error_with_errno(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ocicompose.IoError) as info:
        ocicompose.compose(missing)
    err = info.value
    assert isinstance(err, OSError)
    assert err.errno == errno.ENOENT
    assert err.filename == str(missing)
    assert err.strerror and "(os error" not in err.strerror
    assert str(missing) in str(err)


def test_argument_errors_are_type_and_value_errors(images: Images, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'artefacts'"):
        ocicompose.compose(base=images.base, artefacts=[], output="oci:o")
    with pytest.raises(TypeError, match="not both"):
        ocicompose.compose(images.spec("oci:o"), base=images.base)
    with pytest.raises(TypeError, match="needs a spec"):
        ocicompose.compose()
    with pytest.raises(TypeError):
        ocicompose.compose(42)
    with pytest.raises(TypeError, match="artifacts"):
        ocicompose.compose(base=images.base, artifacts={images.certs}, output="oci:o")
    with pytest.raises(TypeError, match="callable"):
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'o'}"), progress=3)
    with pytest.raises(ValueError, match="jobs"):
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'o'}"), jobs=0)
    with pytest.raises(TypeError):
        ocicompose.Artifact("oci:a", include=[1])


# --- errors that need an image ----------------------------------------------------------

def test_bad_reference_raises_image_reference_error(images: Images, tmp_path: Path) -> None:
    with pytest.raises(ocicompose.ImageReferenceError) as info:
        ocicompose.list_files("no-transport-here")
    assert info.value.code == "reference"
    with pytest.raises(ocicompose.ImageReferenceError):
        ocicompose.compose({**images.spec(f"oci:{tmp_path / 'o'}"), "base": "bogus:thing"})


def test_missing_layout_and_tag_raise_not_found(images: Images, tmp_path: Path) -> None:
    with pytest.raises(ocicompose.NotFoundError) as info:
        ocicompose.inspect(f"oci:{tmp_path / 'missing'}")
    assert info.value.code == "not_found"
    with pytest.raises(ocicompose.NotFoundError, match="nope"):
        ocicompose.list_files(images.base.rsplit(":", 1)[0] + ":nope")


def _config_blob(root: Path) -> Path:
    """The config blob of the single-manifest layout at `root`."""
    index = json.loads((root / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((root / "blobs" / "sha256" / manifest_digest).read_text())
    return root / "blobs" / "sha256" / manifest["config"]["digest"].split(":", 1)[1]


def test_altered_blob_raises_digest_mismatch(images: Images, tmp_path: Path) -> None:
    copy = tmp_path / "base-altered"
    shutil.copytree(images.root / "base", copy)
    blob = _config_blob(copy)
    # Still valid JSON of the same size: only the digest can tell.
    text = blob.read_text()
    assert "2024-01-01" in text
    blob.write_text(text.replace("2024-01-01", "2025-01-01", 1))
    with pytest.raises(ocicompose.DigestMismatchError) as info:
        ocicompose.inspect(f"oci:{copy}:1.0")
    assert info.value.code == "digest_mismatch"
    assert blob.name in str(info.value)


def test_malformed_index_raises_invalid_image(images: Images, tmp_path: Path) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(images.root / "certs", copy)
    (copy / "index.json").write_text("{ not json")
    with pytest.raises(ocicompose.InvalidImageError) as info:
        ocicompose.inspect(f"oci:{copy}")
    assert info.value.code == "invalid_image"


def test_layer_that_is_not_gzip_raises_invalid_layer(tmp_path: Path) -> None:
    raw = b"this is not a gzip stream at all" * 20
    ref = write_layout(tmp_path / "bad-layer", "1", [Layer(raw, sha256(raw))])
    with pytest.raises(ocicompose.InvalidLayerError) as info:
        ocicompose.list_files(ref)
    assert info.value.code == "invalid_layer"


def test_unknown_layer_media_type_raises_unsupported(tmp_path: Path) -> None:
    good = layer([file("/x", b"x")])
    ref = write_layout(tmp_path / "odd", "1", [Layer(good.blob, good.diff_id, "application/vnd.example.layer.v1.tar+bzip9")])
    with pytest.raises(ocicompose.UnsupportedError) as info:
        ocicompose.list_files(ref)
    assert info.value.code == "unsupported"


def test_entry_escaping_the_root_raises_unsafe_path(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../../etc/evil")
        data = b"evil"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    ref = write_layout(tmp_path / "evil", "1", [Layer(gzip_bytes(raw), sha256(raw))])
    with pytest.raises(ocicompose.UnsafePathError) as info:
        ocicompose.list_files(ref)
    assert info.value.code == "unsafe_path"
    assert not (tmp_path / "etc").exists()


def test_unwritable_output_raises_io_error(images: Images, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ocicompose.IoError) as info:
        ocicompose.compose(images.spec(f"oci:{blocker}/out"))
    err = info.value
    assert err.code == "io"
    assert err.errno == errno.ENOTDIR
    assert blocker.read_text() == "not a folder"


def test_refused_carries_warnings(images: Images, tmp_path: Path) -> None:
    with pytest.raises(ocicompose.RefusedError) as info:
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'o'}"), strict=True)
    assert info.value.warnings and all(isinstance(w, ocicompose.Warning) for w in info.value.warnings)


def test_progress_returning_false_raises_cancelled(images: Images, tmp_path: Path) -> None:
    with pytest.raises(ocicompose.CancelledError) as info:
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'o'}"), progress=lambda stage, done, total: False)
    assert info.value.code == "cancelled"
    assert not (tmp_path / "o" / "index.json").exists()


def test_failed_requirement_raises_with_the_failures(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ocicompose.RequirementFailedError) as info:
        ocicompose.compose(images.spec(f"oci:{out}", require=[{"path": "/usr/bin/missing-tool", "executable": True}]))
    err = info.value
    assert err.code == "requirement_failed"
    assert len(err.failures) == 1 and "/usr/bin/missing-tool" in err.failures[0]
    assert not (out / "index.json").exists()
