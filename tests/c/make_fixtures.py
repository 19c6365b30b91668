#!/usr/bin/env python3
"""Makes broken copies of an OCI image layout, one per error the C tests provoke.

    make_fixtures.py SOURCE_LAYOUT DEST

writes DEST/digest-mismatch, DEST/invalid-image, DEST/invalid-layer and
DEST/unsafe-path. Each is the source layout with one defect; wherever a blob is
replaced, the digests above it (config, manifest, index) are recomputed, so the
defect is the only thing wrong and the library must name exactly that.
"""

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path


def blob_path(layout: Path, digest: str) -> Path:
    algo, hex_ = digest.split(":", 1)
    return layout / "blobs" / algo / hex_


def write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


def canonical(doc) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def only_manifest(layout: Path) -> tuple[dict, dict]:
    index = json.loads((layout / "index.json").read_text())
    if len(index["manifests"]) != 1:
        sys.exit(f"{layout}: want a layout with one manifest")
    return index, index["manifests"][0]


def replace_layer(layout: Path, position: int, blob: bytes, diff_id: str | None) -> None:
    """Puts `blob` in place of layer `position` (negative counts from the top) and
    rewrites config, manifest and index so that every other digest is right."""
    index, descriptor = only_manifest(layout)
    manifest = json.loads(blob_path(layout, descriptor["digest"]).read_bytes())
    config = json.loads(blob_path(layout, manifest["config"]["digest"]).read_bytes())

    digest, size = write_blob(layout, blob)
    manifest["layers"][position]["digest"] = digest
    manifest["layers"][position]["size"] = size
    if diff_id is not None:
        config["rootfs"]["diff_ids"][position] = diff_id
    manifest["config"]["digest"], manifest["config"]["size"] = write_blob(layout, canonical(config))
    descriptor["digest"], descriptor["size"] = write_blob(layout, canonical(manifest))
    (layout / "index.json").write_bytes(canonical(index))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, dest = Path(sys.argv[1]), Path(sys.argv[2])
    dest.mkdir(parents=True, exist_ok=True)

    def fresh(name: str) -> Path:
        target = dest / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
        return target

    # A manifest blob whose bytes no longer match its digest: still valid JSON, so only
    # the digest check can catch it (a layer would fail in gzip before its digest).
    layout = fresh("digest-mismatch")
    _, descriptor = only_manifest(layout)
    manifest = blob_path(layout, descriptor["digest"])
    manifest.write_bytes(manifest.read_bytes() + b"\n")

    # An index.json that is not JSON.
    layout = fresh("invalid-image")
    (layout / "index.json").write_text("{ this is not JSON\n")

    # A layer that claims gzip but whose stream is garbage; its digest is right.
    layout = fresh("invalid-layer")
    replace_layer(layout, 0, b"\x1f\x8b\x08\x00" + b"not a deflate stream" * 8, None)

    # A well-formed layer with an entry that climbs out of the root.
    layout = fresh("unsafe-path")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = b"escaped\n"
        info = tarfile.TarInfo("../escaped")
        info.size = len(payload)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    replace_layer(layout, -1, gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest())


if __name__ == "__main__":
    main()
