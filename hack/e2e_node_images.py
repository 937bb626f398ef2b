#!/usr/bin/env python3
"""Builds, offline, the images the Kubernetes node conformance suite
(e2e_node.test --ginkgo.focus='\\[NodeConformance\\]', v1.37.2) pulls, and
pushes them to the local registry under the names and tags the suite asks
for (registry.k8s.io/... -> 127.0.0.1:5000/..., as kcr's test configuration
mirrors it). Thin stand-ins for the images of the module's test/images/*:

- e2e-test-images/busybox:1.37.0-2 — critest's busybox (Debian's dynamic
  busybox with its glibc files: its sh looks commands up on $PATH, so
  masked paths mask), every applet in /bin, plus /usr/bin/nmeter
  (e2e-node-images/nmeter.c: Debian builds busybox without that applet,
  and the Containers Lifecycle specs timestamp their logs with it), and
  this Debian's bash as /bin/sh: busybox 1.35's ash drops environment
  variables whose names are no shell identifiers (`data-1`) from what its
  children get, and the envFrom specs run `sh -c env` expecting them (the
  upstream image's busybox 1.37 passes them on). The images below are
  built on this one.
- e2e-test-images/agnhost:2.66.1 and :2.55 — busybox plus /agnhost built
  from the module (hack/k8s-tools.sh agnhost) with the C library files it
  links, Debian's curl, bash and netcat-openbsd (as nc), /agnhost-2, /uploads, porter's
  localhost.crt/key, and user-defined-in-image (1000) in
  group-defined-in-image (50000), as its Dockerfile makes; ENTRYPOINT
  /agnhost, CMD pause.
- e2e-test-images/nginx:1.27.0-2 and :1.28.0-2 — busybox plus critest's
  fake nginx (serves HTTP 200 on :80, writes /var/run/nginx.pid).
- e2e-test-images/nonewprivs:1.4 — busybox plus a setuid-root
  /usr/local/bin/nnp printing "Effective uid: N"; CMD nnp.
- e2e-test-images/nonroot:1.5 — busybox with USER 1234.
- pause:3.10.2 — a static /pause that exits on SIGTERM/SIGINT.
- e2e-test-images/glibc-dns-testing:2.1.1 — the node specs that use it
  ("Hostname of Pod", "Override hostname of Pod") run only
  `sh -c 'echo $(hostname)";"$(hostname -f)";"'`: busybox plus this
  Debian's (bookworm, the upstream image's base) glibc `hostname` and an
  /etc/nsswitch.conf looking up hosts in files first, as Debian's does
  (glibc's default asks DNS first). Its coredns is not included.
Images whose upstream content cannot be rebuilt here (perl, npb, pytorch,
etcd, images pinned by digest) are not built: the specs that need them are reported by hack/node-conformance.sh.

Usage: e2e_node_images.py [AGNHOST_BINARY]  (default: hack/k8s-tools.sh agnhost)
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from critest_images import CACHE, E2E, REG, e2e_busybox, static_program  # noqa: E402
from oci_image import Layer, image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def versions():
    env = subprocess.run(["bash", "-c", f"source {HERE}/versions.sh && echo $K8S_VERSION"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    return env[0]


def agnhost_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    out = subprocess.run(["bash", os.path.join(HERE, "k8s-tools.sh"), "agnhost"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    return os.path.join(out, "agnhost")


def shared_libs(layer, *binaries):
    """Adds the shared objects BINARIES link (as ldd resolves them here),
    each once."""
    paths = set()
    for binary in binaries:
        res = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0:  # "not a dynamic executable": nothing to add
            continue
        for line in res.stdout.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if path.startswith("/") and os.path.exists(path):
                paths.add(path)
    for path in sorted(paths):
        layer.file(path.lstrip("/"), read(os.path.realpath(path)), mode=0o755)


def debian_program(package, path):
    """PATH of Debian's PACKAGE (apt-get download, cached like critest's
    busybox), unpacked in a temporary directory: (program, directory)."""
    deb = glob.glob(os.path.join(CACHE, package + "_*.deb"))
    if not deb:
        subprocess.run(["apt-get", "download", package], cwd=CACHE, check=True, stdout=subprocess.DEVNULL)
        deb = glob.glob(os.path.join(CACHE, package + "_*.deb"))
    out = tempfile.mkdtemp()
    subprocess.run(["dpkg-deb", "-x", deb[0], out], check=True)
    return os.path.join(out, path), out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def module_dir():
    """The k8s.io/kubernetes module in Go's module cache (porter's test
    certificate lives there)."""
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], stdout=subprocess.PIPE, text=True,
                                check=True).stdout.strip()
    return os.path.join(gomodcache, f"k8s.io/kubernetes@{versions()}")


def agnhost_layer(binary):
    layer = Layer()
    with open(binary, "rb") as f:
        layer.file("agnhost", f.read(), mode=0o755)
    # Of what its Dockerfile adds from Alpine: curl (the exec lifecycle
    # hooks' `curl http://...:8080/echo?msg=prestop`), bash and
    # netcat-openbsd as nc (the networking specs' `nc -w 1 -u`: busybox's
    # nc has no UDP), this Debian's, with the libraries they link.
    for tool in ("/usr/bin/curl", "/bin/bash"):
        layer.file(tool.lstrip("/"), read(tool), mode=0o755)
    nc, tmp = debian_program("netcat-openbsd", "bin/nc.openbsd")
    layer.file("usr/bin/nc", read(nc), mode=0o755)
    shared_libs(layer, binary, "/usr/bin/curl", "/bin/bash", nc)
    shutil.rmtree(tmp)
    layer.symlink("agnhost-2", "agnhost")
    layer.dir("uploads")
    porter = os.path.join(module_dir(), "test/images/agnhost/porter")
    for name in ("localhost.crt", "localhost.key"):
        with open(os.path.join(porter, name), "rb") as f:
            layer.file(name, f.read())
    # adduser/addgroup of its Dockerfile, over busybox's root, www-data, nobody.
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                             "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n")
    layer.file("etc/group", "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"
                            "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")
    layer.dir("home/user-defined-in-image")
    return layer.build()


def main():
    nmeter = Layer().file("usr/bin/nmeter", static_program("nmeter", "e2e-node-images"), mode=0o755).build()
    sh = Layer().file("bin/sh", read("/bin/bash"), mode=0o755)
    shared_libs(sh, "/bin/bash")
    busybox = [e2e_busybox(), nmeter, sh.build()]
    image(REG, E2E + "busybox", ["1.37.0-2", "1.36.1-1"], busybox, {"Cmd": ["sh"]})
    image(REG, E2E + "agnhost", ["2.66.1", "2.55"], busybox + [agnhost_layer(agnhost_binary())],
          {"Entrypoint": ["/agnhost"], "Cmd": ["pause"],
           "ExposedPorts": {f"{p}/tcp": {} for p in (80, 8080, 8081, 9376, 5000)}})
    nginx = Layer().file("usr/sbin/nginx", static_program("fake_nginx"), mode=0o755).dir("var/run").build()
    image(REG, E2E + "nginx", ["1.27.0-2", "1.28.0-2"], busybox + [nginx],
          {"Entrypoint": ["/usr/sbin/nginx", "-g", "daemon off;"], "Cmd": None, "ExposedPorts": {"80/tcp": {}}})
    nnp = Layer().file("usr/local/bin/nnp", static_program("nonewprivs"), mode=0o4755).build()
    image(REG, E2E + "nonewprivs", ["1.4"], busybox + [nnp], {"Cmd": ["nnp"]})
    image(REG, E2E + "nonroot", ["1.5"], busybox, {"User": "1234"})
    hostname = Layer().file("bin/hostname", read("/bin/hostname"), mode=0o755)
    shared_libs(hostname, "/bin/hostname")
    hostname.file("etc/nsswitch.conf", "hosts: files dns\n")
    image(REG, E2E + "glibc-dns-testing", ["2.1.1"], busybox + [hostname.build()])
    pause = Layer().file("pause", static_program("pause", "e2e-node-images"), mode=0o755).build()
    image(REG, "pause", ["3.10.2"], [pause], {"Entrypoint": ["/pause"], "Cmd": None, "Env": None})
    print("e2e_node images: pushed")


if __name__ == "__main__":
    main()
