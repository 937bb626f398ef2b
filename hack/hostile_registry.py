#!/usr/bin/env python3
"""A registry that misbehaves on purpose, for kcr's pull tests (stdlib, 127.0.0.1 only).

Each repository under hostile/ is an image (tag "1") whose manifest or
blobs attack the puller one way:

- hostile/honest: a small image that does nothing wrong;
- hostile/bomb: one gzip layer of 64 MiB of zeros (a few KiB compressed);
- hostile/bombs: four gzip layers of 6 MiB of zeros each (24 MiB together);
- hostile/bombs-half: the first two of those layers (12 MiB);
- hostile/huge-size: a layer descriptor that declares 1 TiB;
- hostile/long-body: the layer blob comes with 1 MiB more than its
  descriptor's size, Content-Length announcing all of it;
- hostile/long-body-unsized: the same without Content-Length (the body ends
  when the connection closes);
- hostile/bad-digest: the layer blob has its size but not its digest;
- hostile/trickle: the layer blob (8 MiB declared) arrives at 16 KiB/s;
- hostile/stall: an image whose only layer is the upstream busybox's (same
  digest, its own config); the layer blob sends its headers and 1 KiB, then
  nothing until the client hangs up.

Under the prefix /flip (a mirror endpoint "http://HOST/flip") every image
is served as above except that every blob has its first byte flipped: a
mirror that serves wrong content, for the puller to pass over.

GET /stats: JSON counters: blob GETs per digest, "stalling" (stalled blob
answers in progress), "hangups" (stalled answers whose client hung up).

  hostile_registry.py PORT UPSTREAM   # e.g. 0 http://127.0.0.1:5000 (0: a free port)
"""
import hashlib
import json
import os
import select
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oci_image  # noqa: E402

MiB = 1 << 20
# Upper bound of any slow answer, so a puller that never gives up does not
# keep this server's threads forever.
SLOW_ANSWER_LIMIT_S = 300

lock = threading.Lock()
stats = {"blob_requests": {}, "stalling": 0, "hangups": 0}
images = {}  # repo -> {"manifest": bytes, "blobs": {digest: (bytes, behaviour)}}
upstream = ""


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def zeros_layer(name, size):
    return oci_image.Layer("gzip").file(name, b"\0" * size).build()


def upstream_busybox():
    """Descriptors of the upstream busybox's amd64 manifest: (layer, diff_ids)."""
    accept = ", ".join([oci_image.OCI_INDEX, oci_image.DOCKER_LIST, oci_image.OCI_MANIFEST,
                        oci_image.DOCKER_MANIFEST])

    def get(path):
        req = urllib.request.Request(upstream + path, headers={"Accept": accept})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    m = get("/v2/library/busybox/manifests/latest")
    if "manifests" in m:
        d = next(e["digest"] for e in m["manifests"] if e.get("platform", {}).get("architecture") == "amd64")
        m = get("/v2/library/busybox/manifests/" + d)
    cfg = get("/v2/library/busybox/blobs/" + m["config"]["digest"])
    return m["layers"][0], cfg["rootfs"]["diff_ids"]


def build(repo):
    """(manifest bytes, {digest: (blob bytes, behaviour)}) of a hostile image."""
    kind = repo.split("/", 1)[1]
    layers = []  # (descriptor, blob bytes or None, behaviour)
    diff_ids = []
    if kind == "bomb":
        b = zeros_layer("zeros", 64 * MiB)
        layers.append(({"mediaType": b["media"], "digest": sha256(b["blob"]), "size": len(b["blob"])},
                       b["blob"], "plain"))
        diff_ids.append(b["diff_id"])
    elif kind in ("bombs", "bombs-half"):
        for i in range(4 if kind == "bombs" else 2):
            b = zeros_layer(f"zeros-{i}", 6 * MiB)
            layers.append(({"mediaType": b["media"], "digest": sha256(b["blob"]), "size": len(b["blob"])},
                           b["blob"], "plain"))
            diff_ids.append(b["diff_id"])
    elif kind == "stall":
        desc, ids = upstream_busybox()
        layers.append((desc, b"", "stall"))
        diff_ids = ids
    else:
        b = oci_image.Layer("gzip").file("hello", f"{kind}\n").build()
        blob, behaviour, size = b["blob"], "plain", len(b["blob"])
        if kind == "huge-size":
            size = 1 << 40
        elif kind == "long-body":
            behaviour = "long"
        elif kind == "long-body-unsized":
            behaviour = "long-unsized"
        elif kind == "bad-digest":
            behaviour = "flip"
        elif kind == "honest":
            pass
        elif kind == "trickle":
            blob = b"\0" * (8 * MiB)
            size = len(blob)
            behaviour = "trickle"
        else:
            return None
        layers.append(({"mediaType": b["media"], "digest": sha256(blob), "size": size}, blob, behaviour))
        diff_ids.append(b["diff_id"])
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"kcr.hostile": kind}},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci_image.OCI_MANIFEST,
        "config": {"mediaType": oci_image.OCI_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
        "layers": [d for d, _, _ in layers]}, sort_keys=True).encode()
    blobs = {sha256(cfg): (cfg, "plain", len(cfg))}
    for d, blob, behaviour in layers:
        blobs[d["digest"]] = (blob, behaviour, d["size"])
    return {"manifest": manifest, "blobs": blobs}


def image(repo):
    with lock:
        if repo not in images:
            images[repo] = build(repo)
        return images[repo]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def client_gone(self, timeout):
        """Waits up to `timeout` s; True once the client closed its end."""
        r, _, _ = select.select([self.connection], [], [], timeout)
        return bool(r) and self.connection.recv(1, 0x40) == b""  # MSG_DONTWAIT

    def do_GET(self):
        flip_all = self.path.startswith("/flip/")
        if flip_all:
            self.path = self.path[len("/flip"):]
        if self.path == "/stats":
            with lock:
                return self.reply(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})
        if self.path == "/v2/" or self.path == "/v2":
            return self.reply(200, b"{}")
        parts = self.path[len("/v2/"):].split("/")
        if not self.path.startswith("/v2/") or len(parts) != 4 or parts[0] != "hostile":
            return self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}')
        repo, what, ref = parts[0] + "/" + parts[1], parts[2], parts[3]
        img = image(repo)
        if img is None:
            return self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}')
        if what == "manifests":
            if ref not in ("1", sha256(img["manifest"])):
                return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such tag"}]}')
            return self.reply(200, img["manifest"], {"Content-Type": oci_image.OCI_MANIFEST,
                                                     "Docker-Content-Digest": sha256(img["manifest"])})
        if what != "blobs" or ref not in img["blobs"]:
            return self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no such blob"}]}')
        with lock:
            stats["blob_requests"][ref] = stats["blob_requests"].get(ref, 0) + 1
        blob, behaviour, size = img["blobs"][ref]
        if flip_all and behaviour == "plain":
            behaviour = "flip"
        if behaviour == "plain":
            return self.reply(200, blob, {"Content-Type": "application/octet-stream"})
        if behaviour == "flip":
            return self.reply(200, bytes([blob[0] ^ 1]) + blob[1:])
        if behaviour == "long":
            return self.reply(200, blob + b"\0" * MiB)
        if behaviour == "long-unsized":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(blob + b"\0" * MiB)
            except OSError:
                pass
            return
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.close_connection = True
        start = time.monotonic()
        if behaviour == "trickle":
            try:
                for off in range(0, len(blob), 4096):
                    if time.monotonic() - start > SLOW_ANSWER_LIMIT_S or self.client_gone(0.25):
                        return
                    self.wfile.write(blob[off:off + 4096])
                    self.wfile.flush()
            except OSError:
                pass
            return
        # stall: a first KiB, then silence until the client hangs up.
        with lock:
            stats["stalling"] += 1
        try:
            self.wfile.write(b"\0" * 1024)
            self.wfile.flush()
            while time.monotonic() - start < SLOW_ANSWER_LIMIT_S:
                if self.client_gone(0.2):
                    with lock:
                        stats["hangups"] += 1
                    return
        except OSError:
            with lock:
                stats["hangups"] += 1
        finally:
            with lock:
                stats["stalling"] -= 1

    do_HEAD = do_GET


def main():
    global upstream
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    # Port 0 picks a free one: the first line of output names it.
    print(f"hostile registry on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
