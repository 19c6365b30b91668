"""The package itself: exports, version, docstrings, stubs and typing."""

from __future__ import annotations

import importlib.util
import pydoc
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import ocicompose
from conftest import ROOT

PY_SRC = Path(ocicompose.__file__).resolve().parent


def test_all_lists_the_public_api_and_every_name_exists() -> None:
    for name in ocicompose.__all__:
        assert hasattr(ocicompose, name), name
    assert {"compose", "list_files", "inspect", "Artifact", "ComposeResult", "FileEntry", "Error", "__version__"} <= set(ocicompose.__all__)
    # Public, but kept out of __all__ so `import *` never shadows the builtin.
    assert "Warning" not in ocicompose.__all__
    assert ocicompose.Warning is not Warning
    namespace: dict[str, object] = {}
    exec("from ocicompose import *", namespace)
    assert "Warning" not in namespace


def test_version_is_the_cargo_version() -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    match = re.search(r'\[workspace\.package\][^\[]*?version\s*=\s*"([^"]+)"', cargo)
    assert match, "no workspace version"
    assert ocicompose.__version__ == match.group(1)


def test_every_public_name_has_a_docstring() -> None:
    for name in [*ocicompose.__all__, "Warning"]:
        obj = getattr(ocicompose, name)
        if isinstance(obj, (str, tuple, Mapping)):
            continue
        assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name
    for cls in (ocicompose.Artifact, ocicompose.ComposeResult, ocicompose.FileEntry, ocicompose.Warning, ocicompose.Layer):
        for attr, value in vars(cls).items():
            if not attr.startswith("_") and getattr(value, "__doc__", None) is not None:
                assert value.__doc__.strip(), f"{cls.__name__}.{attr}"


def test_help_on_compose_is_useful() -> None:
    text = pydoc.render_doc(ocicompose.compose, renderer=pydoc.plaintext)
    assert "compose(spec=None, *, jobs=None, strict=None, progress=None" in text
    for word in ("progress(stage, done, total)", "RefusedError", "KeyboardInterrupt", "os.PathLike", "Artifact"):
        assert word in text, word


def test_value_objects_are_frozen_and_hashable() -> None:
    a = ocicompose.Artifact("oci:a:1", include="/etc", exclude=("/etc/x",))
    assert a.include == ("/etc",) and a.exclude == ("/etc/x",)
    assert a == ocicompose.Artifact("oci:a:1", ["/etc"], ["/etc/x"])
    assert len({a, ocicompose.Artifact("oci:a:1", ["/etc"], ["/etc/x"])}) == 1
    assert a.to_dict() == {"image": "oci:a:1", "include": ["/etc"], "exclude": ["/etc/x"]}
    assert eval(repr(a), {"Artifact": ocicompose.Artifact}) == a
    with pytest.raises(AttributeError):
        a.image = "oci:b"  # type: ignore[misc]
    assert a.resolve_base_symlinks is None and "resolve_base_symlinks" not in a.to_dict()
    b = ocicompose.Artifact("oci:a:1", "/etc", resolve_base_symlinks=True)
    assert b.to_dict()["resolve_base_symlinks"] is True and b != ocicompose.Artifact("oci:a:1", "/etc")
    assert eval(repr(b), {"Artifact": ocicompose.Artifact}) == b


def test_py_typed_and_stubs_ship_with_the_package() -> None:
    assert (PY_SRC / "py.typed").is_file()
    assert (PY_SRC / "_ocicompose.pyi").is_file()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (tests/run.sh installs it)")
def test_stubs_match_the_extension_module() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ocicompose._ocicompose"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (tests/run.sh installs it)")
def test_a_typed_script_checks_under_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "typed_use.py"
    script.write_text(
        "import ocicompose\n"
        "from pathlib import Path\n"
        "def run(out: str) -> str:\n"
        "    r = ocicompose.compose(base='oci:b:1', artifacts=[ocicompose.Artifact('oci:a:1', include=['/x'])], output=out,\n"
        "                          progress=lambda stage, done, total: None, jobs=2)\n"
        "    codes: list[str] = [w.code for w in r.warnings]\n"
        "    sizes: list[int] = [l.size for l in r.layers]\n"
        "    paths: list[str] = [e.path for e in ocicompose.list_files(out) if e.is_file()]\n"
        "    ocicompose.compose(Path('spec.json'), strict=True)\n"
        "    ocicompose.compose({'base': 'oci:b'})\n"
        "    try:\n"
        "        ocicompose.compose('spec.json')\n"
        "    except ocicompose.RefusedError as e:\n"
        "        codes += [w.path for w in e.warnings]\n"
        "    except ocicompose.Error as e:\n"
        "        codes.append(e.code)\n"
        "    return r.manifest_digest + str(ocicompose.inspect(out)['tag']) + str(codes) + str(sizes) + str(paths)\n"
    )
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(script)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def _spec_fields_from_the_core() -> set[str]:
    """The core spec's field names, as serde lists them when refusing an unknown one."""
    with pytest.raises(TypeError) as info:
        ocicompose.compose(base="oci:b", output="oci:o", no_such_field_here=1)
    message = str(info.value)
    assert "no_such_field_here" in message
    listed = message.split("expected one of", 1)[1]
    return set(re.findall(r"`([a-z_]+)`", listed))


def test_the_stub_types_every_spec_field_as_a_keyword() -> None:
    import ast

    tree = ast.parse((PY_SRC / "_ocicompose.pyi").read_text())
    compose = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compose")
    keywords = {a.arg for a in compose.args.kwonlyargs}
    options = {"jobs", "strict", "progress", "source_date_epoch"}
    fields = _spec_fields_from_the_core()
    assert "base" in fields and "artifacts" in fields
    # `strict` is an option of compose() that overrides the spec's field of that name.
    missing = (fields - {"strict"}) - (keywords - options)
    assert not missing, f"spec fields without a typed keyword in _ocicompose.pyi: {sorted(missing)}"
