"""Compose artifact OCI images onto a base image, without a container daemon.

``compose`` takes a base image and artifact images (a CA bundle, a tool, a runtime),
picks paths from each artifact with include/exclude globs, and writes a new image: the
base's layers untouched plus one new layer. It warns, with typed ``Warning`` objects,
whenever a file the image needs at run time (the loader, libc, ``/bin/sh``,
``/etc/passwd``, the entrypoint) gets overwritten. The result is byte-reproducible: the
same spec gives the same manifest digest as the ``ocicompose`` CLI.

Example::

    import ocicompose

    result = ocicompose.compose(
        base="oci:images/base:bookworm",
        artifacts=[ocicompose.Artifact("oci:images/certs:1", include=["/etc/ssl/certs/**"])],
        tag_suffix="custom",
        output="oci:out",
    )
    print(result.manifest_digest)
    for warning in result.warnings:
        print(warning)

Every error is an ``ocicompose.Error``; its subclasses match the core's error kinds
(``SpecError``, ``NotFoundError``, ``RefusedError``, ...) and ``e.code`` names the kind.
``ERROR_CODES``, ``WARNING_CODES`` (each code with its level), ``WARNING_LEVELS`` and
``STAGES`` list the core's names. ``outdated`` tells whether a spec's inputs moved since
a compose, and ``rebuild`` composes again only the specs whose inputs or spec changed.
"""

from ._ocicompose import (
    Artifact,
    CancelledError,
    ComposeResult,
    DigestMismatchError,
    ERROR_CODES,
    Error,
    FileEntry,
    ImageReferenceError,
    InvalidImageError,
    InvalidLayerError,
    IoError,
    Layer,
    LimitExceededError,
    AuthError,
    PackageError,
    NotFoundError,
    RegistryError,
    RefusedError,
    RequirementFailedError,
    STAGES,
    SpecError,
    UnsafePathError,
    UnsupportedError,
    WARNING_CODES,
    WARNING_LEVELS,
    __version__,
    compose,
    inspect,
    list_files,
    outdated,
    rebuild,
)
from ._ocicompose import Warning as Warning  # explicit re-export: not in __all__, see below

# `Warning` is public (``ocicompose.Warning``) but not in ``__all__``: a star import
# must not shadow Python's builtin ``Warning``.
__all__ = [
    "Artifact",
    "CancelledError",
    "ComposeResult",
    "DigestMismatchError",
    "ERROR_CODES",
    "Error",
    "FileEntry",
    "ImageReferenceError",
    "InvalidImageError",
    "InvalidLayerError",
    "IoError",
    "Layer",
    "LimitExceededError",
    "AuthError",
    "PackageError",
    "NotFoundError",
    "RegistryError",
    "RefusedError",
    "RequirementFailedError",
    "STAGES",
    "SpecError",
    "UnsafePathError",
    "UnsupportedError",
    "WARNING_CODES",
    "WARNING_LEVELS",
    "__version__",
    "compose",
    "inspect",
    "list_files",
    "outdated",
    "rebuild",
]
