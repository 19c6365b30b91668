# Hand-written stubs of the Rust extension module; `python -m mypy.stubtest
# ocicompose._ocicompose` (run by tests/run.sh) checks them against the real module.
import builtins
import os
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Optional, TypedDict, Union, final

__all__ = [
    "__version__",
    "Artifact",
    "ComposeResult",
    "FileEntry",
    "Layer",
    "Warning",
    "Error",
    "SpecError",
    "ImageReferenceError",
    "NotFoundError",
    "DigestMismatchError",
    "InvalidImageError",
    "InvalidLayerError",
    "UnsupportedError",
    "UnsafePathError",
    "IoError",
    "RefusedError",
    "CancelledError",
    "RequirementFailedError",
    "LimitExceededError",
    "RegistryError",
    "AuthError",
    "PackageError",
    "ERROR_CODES",
    "WARNING_CODES",
    "WARNING_LEVELS",
    "STAGES",
    "compose",
    "list_files",
    "inspect",
    "outdated",
    "rebuild",
]

__version__: str

# The core's names, in the core's order: every Error subclass's `code`, every warning
# code with its level, the levels, and the stages progress reports.
ERROR_CODES: tuple[str, ...]
WARNING_CODES: Mapping[str, str]
WARNING_LEVELS: tuple[str, ...]
STAGES: tuple[str, ...]

# progress(stage, done, total); stage is one of STAGES. Returning False cancels.
_ProgressCallback = Callable[[str, int, int], Optional[bool]]

@final
class Artifact:
    """An artifact image and the paths taken from it."""

    def __new__(
        cls,
        image: str,
        include: Union[str, Iterable[str]],
        exclude: Union[str, Iterable[str], None] = None,
        *,
        resolve_base_symlinks: Optional[bool] = None,
    ) -> Artifact: ...
    @property
    def image(self) -> str: ...
    @property
    def include(self) -> tuple[str, ...]: ...
    @property
    def exclude(self) -> tuple[str, ...]: ...
    @property
    def resolve_base_symlinks(self) -> Optional[bool]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Warning:
    """One warning of a compose (not Python's builtin ``Warning`` category)."""

    @property
    def code(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def artifact(self) -> Optional[int]: ...
    @property
    def message(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Layer:
    """One layer of a composed image."""

    @property
    def digest(self) -> str: ...
    @property
    def diff_id(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def media_type(self) -> str: ...
    @property
    def compression(self) -> str: ...
    @property
    def new(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ComposeResult:
    """What a successful ``compose`` did."""

    @property
    def manifest_digest(self) -> str: ...
    @property
    def config_digest(self) -> str: ...
    @property
    def output(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def platforms(self) -> list[dict[str, Optional[str]]]: ...
    @property
    def warnings(self) -> list[Warning]: ...
    @property
    def layers(self) -> list[Layer]: ...
    @property
    def report(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class FileEntry:
    """One entry of an image's flattened filesystem."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def mode(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime(self) -> int: ...
    @property
    def link_target(self) -> Optional[str]: ...
    @property
    def device(self) -> Optional[tuple[int, int]]: ...
    @property
    def xattrs(self) -> dict[str, bytes]: ...
    def is_dir(self) -> bool: ...
    def is_file(self) -> bool: ...
    def is_symlink(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...

class Error(Exception):
    """Base class of every error ocicompose raises."""

    code: str

class SpecError(Error, ValueError):
    field: str

class ImageReferenceError(Error, ValueError): ...
class NotFoundError(Error, FileNotFoundError): ...
class DigestMismatchError(Error): ...
class InvalidImageError(Error, ValueError): ...
class InvalidLayerError(Error, ValueError): ...
class UnsupportedError(Error): ...
class UnsafePathError(Error): ...
class IoError(Error, OSError): ...

class RefusedError(Error):
    warnings: builtins.list[Warning]

class CancelledError(Error): ...

class RequirementFailedError(Error):
    failures: builtins.list[str]

class LimitExceededError(Error): ...

class RegistryError(Error): ...

class AuthError(Error): ...
class PackageError(Error): ...

def compose(
    spec: Union[Mapping[str, Any], str, os.PathLike[str], None] = None,
    *,
    jobs: Optional[int] = None,
    strict: Optional[bool] = None,
    progress: Optional[_ProgressCallback] = None,
    source_date_epoch: Optional[int] = None,
    base: str = ...,
    artifacts: Sequence[Union[Artifact, Mapping[str, Any]]] = ...,
    output: str = ...,
    tag: Optional[str] = ...,
    tag_suffix: Optional[str] = ...,
    runtime_paths: Sequence[str] = ...,
    platform: Optional[str] = ...,
    layer_per_artifact: bool = ...,
    compression_level: Optional[int] = ...,
    layer_compression: Optional[Literal["gzip", "zstd", "none", "auto"]] = ...,
    files: Sequence[Mapping[str, Any]] = ...,
    groups: Sequence[Mapping[str, Any]] = ...,
    users: Sequence[Mapping[str, Any]] = ...,
    config: Mapping[str, Any] = ...,
    annotations: Mapping[str, str] = ...,
    remove: Sequence[str] = ...,
    require: Sequence[Mapping[str, Any]] = ...,
    platforms: Sequence[str] = ...,
    tags: Sequence[str] = ...,
    resolve_base_symlinks: bool = ...,
    limits: Mapping[str, int] = ...,
    tls_verify: Optional[bool] = ...,
    cert_dir: Optional[str] = ...,
    attach: Optional[bool] = ...,
    sign: Optional[Mapping[str, str]] = ...,
    sbom: Optional[Sequence[Literal["spdx", "cyclonedx"]]] = ...,
    register_artifact_packages: bool = ...,
    packages: Optional[Mapping[str, Any]] = ...,
) -> ComposeResult:
    """Compose artifact images onto a base image and write the new image."""

def list_files(reference: str, platform: Optional[str] = None) -> list[FileEntry]:
    """List the flattened filesystem of an image, sorted by path."""

def inspect(reference: str, platform: Optional[str] = None) -> dict[str, Any]:
    """Summarise an image as a dict (the ``ocicompose inspect`` document)."""

class _InputChange(TypedDict):
    role: Literal["base", "artifact"]
    reference: str
    recorded: Optional[str]
    current: Optional[str]

def outdated(
    spec: Union[Mapping[str, Any], str, os.PathLike[str]],
    *,
    against: Union[ComposeResult, str, os.PathLike[str]],
) -> list[_InputChange]:
    """The inputs of a spec whose digest changed since a compose (empty: none did)."""

class _RebuildResult(TypedDict):
    spec: pathlib.Path
    report: pathlib.Path
    status: Literal["unchanged", "rebuilt", "would_rebuild", "failed"]
    manifest_digest: Optional[str]
    previous_report: Optional[pathlib.Path]
    reasons: list[str]
    error: Optional[Error]
    line: str

def rebuild(
    specs: Sequence[Union[str, os.PathLike[str]]],
    *,
    reports: Union[str, os.PathLike[str], None] = None,
    jobs: Optional[int] = None,
    strict: Optional[bool] = None,
    dry_run: bool = False,
) -> list[_RebuildResult]:
    """Compose again each spec whose inputs or spec changed since its last report."""
