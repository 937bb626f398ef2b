#!/usr/bin/env python3
"""Builds OCI images offline and pushes them to a registry (OCI distribution API).

Stdlib only. Used by hack/test-images.sh for kcr's tests and benchmarks.
Layers are deterministic (sorted entries, fixed mtimes, uid/gid 0 unless
set), so rebuilding an image gives the same digests and pushes are skipped.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.error
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MTIME = 1700000000


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layer:
    """An uncompressed tar built from entries, then compressed."""

    def __init__(self, compression="gzip"):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.compression = compression
        self.dirs = set()

    def _parents(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dir(d)

    def _info(self, path, kind, mode, uid=0, gid=0):
        self._parents(path)
        ti = tarfile.TarInfo(path.strip("/"))
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.mtime = MTIME
        return ti

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        if path in self.dirs:
            return self
        self.dirs.add(path)
        self._parents(path)
        self.tar.addfile(self._info(path, tarfile.DIRTYPE, mode))
        return self

    def file(self, path, data, mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, path, target):
        ti = self._info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, path, target):
        ti = self._info(path, tarfile.LNKTYPE, 0o755)
        ti.linkname = target.strip("/")
        self.tar.addfile(ti)
        return self

    def whiteout(self, path):
        d, _, name = path.strip("/").rpartition("/")
        return self.file((d + "/" if d else "") + ".wh." + name, b"")

    def build(self):
        self.tar.close()
        raw = self.buf.getvalue()
        if self.compression == "gzip":
            blob = gzip.compress(raw, compresslevel=1, mtime=0)
            media = LAYER_TAR + "+gzip"
        elif self.compression == "zstd":
            blob = subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE, check=True).stdout
            media = LAYER_TAR + "+zstd"
        else:
            blob, media = raw, LAYER_TAR
        return {"blob": blob, "media": media, "diff_id": sha256(raw)}


def busybox_rootfs(layer, busybox="/bin/busybox", extra_users=()):
    """A busybox userland: the binary, every applet as a symlink, passwd/group."""
    with open(busybox, "rb") as f:
        layer.file("bin/busybox", f.read(), mode=0o755)
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, check=True, text=True).stdout.split()
    # Hard links, as in the busybox images critest expects: masking one
    # applet path (a bind mount) must not mask /bin/busybox itself.
    for a in sorted(set(applets)):
        if a != "busybox":
            layer.hardlink("bin/" + a, "bin/busybox")
    users = [("root", 0, 0, "/root", "/bin/sh"), ("www-data", 33, 33, "/var/www", "/bin/false"),
             ("nobody", 65534, 65534, "/nonexistent", "/bin/false")] + list(extra_users)
    layer.file("etc/passwd", "".join(f"{n}:x:{u}:{g}:{n}:{h}:{s}\n" for n, u, g, h, s in users))
    groups = {g: n for n, u, g, h, s in users}
    layer.file("etc/group", "".join(f"{n}:x:{g}:\n" for g, n in sorted(groups.items())))
    for d in ("tmp", "root", "var/www", "proc", "sys", "dev", "etc", "usr/bin", "var/run"):
        layer.dir(d, 0o1777 if d == "tmp" else 0o755)
    return layer


class Registry:
    def __init__(self, addr, user=None, password=None):
        self.base = "http://" + addr
        self.auth = None
        if user:
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _req(self, method, url, data=None, headers=None):
        req = urllib.request.Request(url if url.startswith("http") else self.base + url, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def has_blob(self, repo, digest):
        code, _, _ = self._req("HEAD", f"/v2/{repo}/blobs/{digest}")
        return code == 200

    def push_blob(self, repo, data):
        digest = sha256(data)
        if self.has_blob(repo, digest):
            return digest
        code, hdr, body = self._req("POST", f"/v2/{repo}/blobs/uploads/")
        if code != 202:
            raise RuntimeError(f"start upload to {repo}: HTTP {code} {body[:200]!r}")
        loc = hdr["Location"]
        if not loc.startswith("http"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        code, _, body = self._req("PUT", f"{loc}{sep}digest={digest}", data=data,
                                  headers={"Content-Type": "application/octet-stream"})
        if code != 201:
            raise RuntimeError(f"upload {digest} to {repo}: HTTP {code} {body[:200]!r}")
        return digest

    def push_manifest(self, repo, ref, body, media):
        code, _, resp = self._req("PUT", f"/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media})
        if code != 201:
            raise RuntimeError(f"push manifest {repo}:{ref}: HTTP {code} {resp[:300]!r}")
        return sha256(body)


def image(registry, repo, tags, layers, config=None, arch="amd64", push_tags=True, docker=False):
    """Pushes an image (OCI, or Docker schema 2 with gzip layers when
    `docker`); returns (manifest digest, manifest size)."""
    built = [l.build() if isinstance(l, Layer) else l for l in layers]
    cfg = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [b["diff_id"] for b in built]},
    }
    cfg["config"].update(config or {})
    cfg["config"] = {k: v for k, v in cfg["config"].items() if v is not None}
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    if docker and any(b["media"] != LAYER_TAR + "+gzip" for b in built):
        raise ValueError("Docker schema 2 images here have gzip layers only")
    media = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": registry.push_blob(repo, cfg_bytes), "size": len(cfg_bytes)},
        "layers": [{"mediaType": DOCKER_LAYER_GZIP if docker else b["media"],
                    "digest": registry.push_blob(repo, b["blob"]), "size": len(b["blob"])}
                   for b in built],
    }
    body = json.dumps(manifest, sort_keys=True).encode()
    digest = sha256(body)
    refs = tags if push_tags else [digest]
    for t in refs or [digest]:
        registry.push_manifest(repo, t, body, media)
    return digest, len(body)


def index(registry, repo, tags, entries, docker=False):
    """Pushes an OCI index (or a Docker manifest list when `docker`) of
    (manifest digest, size, arch, variant) entries."""
    media = DOCKER_LIST if docker else OCI_INDEX
    idx = {
        "schemaVersion": 2,
        "mediaType": media,
        "manifests": [dict({"mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST, "digest": d, "size": s,
                            "platform": dict({"os": "linux", "architecture": a}, **({"variant": v} if v else {}))})
                       for d, s, a, v in entries],
    }
    body = json.dumps(idx, sort_keys=True).encode()
    for t in tags:
        registry.push_manifest(repo, t, body, media)
    return sha256(body)
