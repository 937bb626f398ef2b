#!/usr/bin/env python3
"""Builds, offline, the images critest (cri-tools v1.37) pulls, and pushes
them to the local registry under the paths kcrd's critest configuration
mirrors (registry.k8s.io, k8s.gcr.io and gcr.io -> 127.0.0.1:5000).
See ../shared/design/TEST-NOTES.md for why each one looks the way it does.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oci_image import Layer, Registry, busybox_rootfs, image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REG = Registry("127.0.0.1:5000")
E2E = "e2e-test-images/"
CRI = "k8s-staging-cri-tools/"
CACHE = "/var/cache/kcr-test-images"


def dynamic_busybox():
    """Debian's dynamic busybox with the glibc files it needs: its ash looks
    commands up on $PATH (busybox-static runs applets in-process, which
    defeats masked paths)."""
    os.makedirs(CACHE, exist_ok=True)
    deb = glob.glob(os.path.join(CACHE, "busybox_*.deb"))
    if not deb:
        if subprocess.run(["apt-get", "download", "busybox"], cwd=CACHE, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)  # no package lists yet
            subprocess.run(["apt-get", "download", "busybox"], cwd=CACHE, check=True, stdout=subprocess.DEVNULL)
        deb = glob.glob(os.path.join(CACHE, "busybox_*.deb"))
    out = tempfile.mkdtemp()
    subprocess.run(["dpkg-deb", "-x", deb[0], out], check=True)
    return os.path.join(out, "bin/busybox"), out


def e2e_busybox():
    bb, tmp = dynamic_busybox()
    layer = busybox_rootfs(Layer(), busybox=bb)
    libs = subprocess.run(["ldd", bb], stdout=subprocess.PIPE, text=True, check=True).stdout
    for line in libs.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/") and os.path.exists(path):
            real = os.path.realpath(path)
            with open(real, "rb") as f:
                layer.file(path.lstrip("/"), f.read(), mode=0o755)
    for tool in ("ipcs", "pgrep"):
        with open(os.path.join(HERE, "critest-images", tool)) as f:
            layer.file("usr/bin/" + tool, f.read(), mode=0o755)
    shutil.rmtree(tmp)
    return layer.build()


def static_program(name, src_dir="critest-images"):
    """hack/SRC_DIR/NAME.c built static (cached by mtime)."""
    out = os.path.join(CACHE, name)
    src = os.path.join(HERE, src_dir, name + ".c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["gcc", "-static", "-O2", "-o", out, src], check=True)
    with open(out, "rb") as f:
        return f.read()


def main():
    os.makedirs(CACHE, exist_ok=True)
    busybox = e2e_busybox()
    image(REG, E2E + "busybox", ["1.29-2"], [busybox])
    nginx = Layer().file("usr/sbin/nginx", static_program("fake_nginx"), mode=0o755).dir("var/run")
    nginx_layer = nginx.build()
    entry = {"Entrypoint": ["/usr/sbin/nginx", "-g", "daemon off;"], "Cmd": None, "ExposedPorts": {"80/tcp": {}}}
    image(REG, E2E + "nginx", ["1.14-2"], [busybox, nginx_layer], entry)
    host = dict(entry, Env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                             "WEB_ADDR=127.0.0.1", "WEB_PORT=12003"])
    image(REG, CRI + "hostnet-nginx-amd64", ["latest"], [busybox, nginx_layer], host)
    image(REG, E2E + "httpd", ["2.4.39-4"], [busybox, Layer().file("var/www/index.html", "It works!\n").build()],
          {"Entrypoint": ["/bin/sh", "-c",
                          "echo \"[core:notice] AH00094: Command line: 'httpd -D FOREGROUND'\" >&2; "
                          "exec httpd -f -p 80 -h /var/www"], "Cmd": None})
    image(REG, E2E + "nonewprivs", ["1.3"],
          [busybox, Layer().file("usr/local/bin/nonewprivs", static_program("nonewprivs"), mode=0o4755).build()],
          {"Entrypoint": ["/usr/local/bin/nonewprivs"], "Cmd": None})
    plain = busybox_rootfs(Layer()).build()
    image(REG, CRI + "test-image-latest", ["latest"], [plain, Layer().file("which", "latest\n").build()])
    for i in (1, 2, 3):
        image(REG, CRI + f"test-image-{i}", ["latest"], [plain, Layer().file("which", f"{i}\n").build()])
    image(REG, CRI + "test-image-tags", ["1", "2", "3"], [plain, Layer().file("which", "tags\n").build()])
    image(REG, CRI + "test-image-tag", ["test", "all"], [plain, Layer().file("which", "tag\n").build()])
    for repo, user in (("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
                       ("test-image-user-uid-group", "1003:1004"),
                       ("test-image-user-username-group", "www-data:1004")):
        image(REG, CRI + repo, ["latest"], [plain], {"User": user})
    grp = busybox_rootfs(Layer(), extra_users=[("default-user", 1000, 1000, "/home/default-user", "/bin/sh")])
    grp.file("etc/group", "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\ndefault-user:x:1000:\n"
                          "group-defined-in-image:x:50000:default-user\n")
    image(REG, CRI + "test-image-predefined-group", ["latest"], [grp.build()], {"User": "1000"})
    print("critest images: pushed")


if __name__ == "__main__":
    main()
