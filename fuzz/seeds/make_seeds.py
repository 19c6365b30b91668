#!/usr/bin/env python3
"""Writes the committed seed corpus of each fuzz target into fuzz/seeds/<target>/.

Seeds are small valid (and a few odd) inputs that show the fuzzer the formats: tars in
each dialect (ustar, GNU long names, PAX), gzip, zstd, whiteouts, links; path rules; image
references; specs. Run it again after changing it; the output is deterministic.
"""
import gzip
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def zstd_raw(data):
    """One zstd frame of raw (stored) blocks: the format, with no zstd library needed."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0xE0)  # single segment, 8-byte content size, no checksum
    out += len(data).to_bytes(8, "little")
    blocks = [data[i:i + (128 << 10)] for i in range(0, len(data), 128 << 10)] or [b""]
    for i, block in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        out += ((len(block) << 3) | last).to_bytes(3, "little")  # block type 0: raw
        out += block
    return bytes(out)


def skippable(body):
    return (0x184D2A50).to_bytes(4, "little") + len(body).to_bytes(4, "little") + body


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tar(entries, fmt=tarfile.USTAR_FORMAT, end_blocks=True):
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=fmt)
    with t:
        for kind, name, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1704067200
            data = None
            if kind == "file":
                data = extra.encode() if isinstance(extra, str) else extra
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = extra
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = extra
            elif kind == "char":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "xattr":
                data = b"x"
                info.size = 1
                info.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02", "SCHILY.xattr.user.note": "hi"}
            t.addfile(info, io.BytesIO(data) if data is not None else None)
        entries_end = t.offset
    # tarfile pads to 10 KiB records; keep the end blocks only, or nothing after the entries.
    return buf.getvalue()[: entries_end + (1024 if end_blocks else 0)]


def layer_seeds():
    basic = [
        ("dir", "etc/", None), ("file", "etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        ("dir", "usr/", None), ("dir", "usr/bin/", None), ("file", "usr/bin/dash", "#!sh"),
        ("symlink", "usr/bin/sh", "dash"), ("symlink", "bin", "usr/bin"),
        ("hardlink", "usr/bin/dash2", "usr/bin/dash"),
    ]
    write("layer", "basic.tar", tar(basic))
    write("layer", "basic.tar.gz", gzip.compress(tar(basic), mtime=0))
    # Two frames around a skippable one, as zstd:chunked layers are.
    half = len(tar(basic)) // 2
    write("layer", "basic.tar.zst", zstd_raw(tar(basic)[:half]) + skippable(b"toc") + zstd_raw(tar(basic)[half:]))
    write("layer", "no_end_blocks.tar", tar(basic, end_blocks=False))
    write("layer", "whiteouts.tar", tar([
        ("dir", "etc/", None), ("file", "etc/.wh.passwd", ""), ("dir", "var/", None),
        ("file", "var/.wh..wh..opq", ""), ("file", "var/new", "n"), ("file", ".wh.tmp", ""),
    ]))
    write("layer", "links.tar", tar([
        ("symlink", "lib", "/etc"), ("file", "lib/passwd", "x"), ("symlink", "loop", "loop"),
        ("symlink", "a", "b"), ("symlink", "b", "a/.."), ("hardlink", "self", "self"),
        ("file", "t", "target"), ("hardlink", "h", "/t"), ("symlink", "up", "../../.."),
    ]))
    # The layer fuzzer's finds. First: a hardlink to the root, whose target's key is "".
    write("layer", "hardlink_root.tar", tar([("hardlink", "lib", "/")]))
    # Its second: a hardlink target through a whiteout-named directory.
    write("layer", "hardlink_whiteout_dir.tar", tar([("file", "f", "x"), ("hardlink", "l", "d/.wh.x/f")]))
    write("layer", "devices.tar", tar([("char", "dev/null", None), ("fifo", "run/pipe", None), ("dir", "./", None)]))
    long = "d/" + "x" * 150 + "/file"
    write("layer", "gnu_long.tar", tar([("file", long, "long"), ("symlink", "s", "t/" + "y" * 150)], tarfile.GNU_FORMAT))
    write("layer", "pax.tar", tar([("file", long, "long"), ("xattr", "usr/bin/ping", None), ("hardlink", "l" * 120, long)], tarfile.PAX_FORMAT))


def text_seeds():
    rules = [
        "/usr/bin/jq\n+/usr/bin/jq",
        "./usr//lib/x/\n+/usr/lib/**\n-**/*.pyc",
        "etc/ssl/certs/a.pem\n+etc/ssl/certs/*.pem\n-/etc/ssl/certs/b*",
        "a/../b\n+**",
        "/\n+/opt",
        "usr/share/doc/x\n+/usr\n-/usr/share/doc\n-[\n+{a,b}",
    ]
    for i, r in enumerate(rules):
        write("path_rules", f"rule{i}", r)
    refs = [
        "oci:images/base:bookworm", "oci:images/base", "oci:/abs/dir@sha256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "oci-archive:base.tar:1.0", "docker-archive:save.tar:library/busybox:latest", "docker-archive:save.tar",
        "dir:context", "docker://busybox", "oci:", "oci:a:b:c",
    ]
    for i, r in enumerate(refs):
        write("reference", f"ref{i}", r)
    specs = [
        '{"base": "oci:images/base:bookworm", "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/*.crt"]}], "tag_suffix": "custom", "output": "oci:out"}',
        '{"base": "oci:b", "output": "oci:o", "limits": {"max_layer_bytes": 1024, "max_layer_entries": 10}, "strict": true}',
        '{"base": "oci:b", "output": "oci:o", "files": [{"path": "/app/x", "content": "hi", "mode": "0755"}], '
        '"users": [{"name": "app", "uid": 1000, "gid": 1000}], "groups": [{"name": "g", "gid": 5, "members": ["app"]}], '
        '"config": {"env": {"PATH": "${PATH}:/app"}, "entrypoint": ["/app/x"], "user": "app"}, "require": [{"path": "/app/x", "executable": true}], '
        '"remove": ["/usr/share/doc/**"], "platforms": ["linux/amd64", "linux/arm64/v8"], "tags": ["a", "b"], "annotations": {"k": "v"}}',
        '{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "dir:ctx", "include": ["/**"], "exclude": ["/.git"], "resolve_base_symlinks": true}]}',
        '{"base": "oci:b", "output": "oci:o", "exlude": []}',
        '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
    ]
    for i, s in enumerate(specs):
        write("spec", f"spec{i}.json", s)


if __name__ == "__main__":
    layer_seeds()
    text_seeds()
