#!/usr/bin/env python3
"""Builds kcr's test images from Debian's busybox-static and pushes them to
the local registries started by hack/registry.sh (127.0.0.1:5000 anonymous,
127.0.0.1:5001 with basic auth). Idempotent: unchanged blobs are not pushed
again. kcrd's test config mirrors docker.io, registry.k8s.io and gcr.io to
127.0.0.1:5000, so "busybox" is served as 127.0.0.1:5000/library/busybox.
"""
import random
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from oci_image import Layer, Registry, busybox_rootfs, image, index  # noqa: E402
import multiarch_images  # noqa: E402

OPEN = Registry("127.0.0.1:5000")
AUTH = Registry("127.0.0.1:5001", "kcr", "kcr-test")


def base():
    return busybox_rootfs(Layer())


def main():
    bb = base().build()  # one layer shared by most images
    image(OPEN, "library/busybox", ["latest", "1.36"], [bb])
    web = Layer().file("var/www/index.html", "kcr test web server\n")
    image(OPEN, "kcr-test/web", ["latest"], [bb, web],
          {"Cmd": ["httpd", "-f", "-p", "80", "-h", "/var/www"], "ExposedPorts": {"80/tcp": {}}})
    for repo, user in (("user-uid", "1002"), ("user-username", "www-data"), ("user-uid-group", "1003:1004"),
                       ("user-username-group", "www-data:1004")):
        image(OPEN, "kcr-test/" + repo, ["latest"], [bb], {"User": user})
    image(OPEN, "kcr-test/tags", ["1", "2", "3"], [bb, Layer().file("tags", "one image, three tags\n")])
    for i in (1, 2):
        image(OPEN, f"kcr-test/distinct-{i}", ["latest"], [bb, Layer().file("which", f"distinct {i}\n")])
    l2 = Layer("zstd").file("data/keep", "keep\n").file("data/drop", "drop\n").file("opq/old", "old\n")
    l3 = Layer("none").whiteout("data/drop").dir("opq").file("opq/.wh..wh..opq", "").file("opq/new", "new\n")
    image(OPEN, "kcr-test/multilayer", ["latest"], [bb, l2, l3], {"WorkingDir": "/data", "Env": ["A=1"]})
    amd = image(OPEN, "kcr-test/multiarch", [], [bb, Layer().file("arch", "amd64\n")], arch="amd64",
                push_tags=False)
    arm = image(OPEN, "kcr-test/multiarch", [], [bb, Layer().file("arch", "arm64\n")], arch="arm64",
                push_tags=False)
    index(OPEN, "kcr-test/multiarch", ["latest"], [(arm[0], arm[1], "arm64", "v8"), (amd[0], amd[1], "amd64", "")])
    # Docker schema 2: a manifest list over two Docker manifests.
    damd = image(OPEN, "kcr-test/docker", [], [bb, Layer().file("arch", "amd64\n")], arch="amd64",
                 push_tags=False, docker=True)
    darm = image(OPEN, "kcr-test/docker", [], [bb, Layer().file("arch", "arm64\n")], arch="arm64",
                 push_tags=False, docker=True)
    index(OPEN, "kcr-test/docker", ["latest"], [(darm[0], darm[1], "arm64", "v8"), (damd[0], damd[1], "amd64", "")],
          docker=True)
    multiarch_images.push(OPEN)  # one image per platform (platform choice)
    rnd = random.Random(42)
    big = [Layer().file(f"big/{i}", rnd.randbytes(20 << 20)) for i in range(3)]
    image(OPEN, "kcr-test/big", ["latest"], [bb] + big)
    image(AUTH, "kcr-test/private", ["latest"], [bb, Layer().file("private", "secret\n")])
    # A hostile image: its second layer hardlinks to a file outside the rootfs.
    image(OPEN, "kcr-test/hostile", ["latest"],
          [bb, Layer().file("harmless", "fine\n").hardlink("evil", "../../../../../etc/shadow")])
    # A pause image for containerd (the benchmark peer) and critest: kcr
    # needs none. busybox sleep as PID 1; SIGKILL ends it.
    for tag in ("3.6", "3.9", "3.10"):
        image(OPEN, "pause", [tag], [bb], {"Cmd": None, "Entrypoint": ["/bin/sleep", "2147483647"]})
    print("test images: pushed")


if __name__ == "__main__":
    main()
