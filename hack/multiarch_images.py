#!/usr/bin/env python3
"""Multi-platform test images for kcr's platform choice (issue 12), pushed to
the local registry (127.0.0.1:5000); hack/test_images.py runs this too.

No foreign binaries: each platform's image is one tiny layer with /arch.txt
naming its platform, its config's os/architecture/variant set to it, and the
manifest annotation org.kcr.test.platform naming it as well, so a test can
tell from ImageStatus which manifest kcr chose without running anything.

  kcr-test/platforms:latest       OCI index: windows/amd64, linux/386,
                                  linux/arm/v6, linux/arm/v7, linux/arm64/v8,
                                  linux/amd64, linux/ppc64le, linux/s390x,
                                  linux/riscv64 (fallbacks listed before the
                                  platforms that beat them)
  kcr-test/platforms-nov7:latest  OCI index without arm/v7: linux/arm/v5,
                                  linux/arm/v6, linux/amd64
  kcr-test/arm64-only:latest      one OCI manifest (no index), linux/arm64/v8
"""
import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from oci_image import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Layer, Registry, sha256  # noqa: E402

ANNOTATION = "org.kcr.test.platform"


def platform_image(reg, repo, spec, tags=()):
    """Pushes the image for `spec` ("os/arch[/variant]"); returns its index
    entry (a descriptor with platform)."""
    os_, arch, *rest = spec.split("/")
    variant = rest[0] if rest else ""
    layer = Layer().file("arch.txt", spec + "\n").build()
    cfg = {"created": "2023-11-14T22:13:20Z", "os": os_, "architecture": arch,
           "config": {"Cmd": ["/arch.txt"], "Labels": {ANNOTATION: spec}},
           "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"]]}}
    if variant:
        cfg["variant"] = variant
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": reg.push_blob(repo, cfg_bytes), "size": len(cfg_bytes)},
                "layers": [{"mediaType": layer["media"], "digest": reg.push_blob(repo, layer["blob"]),
                            "size": len(layer["blob"])}],
                "annotations": {ANNOTATION: spec}}
    body = json.dumps(manifest, sort_keys=True).encode()
    digest = sha256(body)
    for ref in list(tags) or [digest]:
        reg.push_manifest(repo, ref, body, OCI_MANIFEST)
    platform = {"os": os_, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), "platform": platform}


def platform_index(reg, repo, tag, specs):
    entries = [platform_image(reg, repo, s) for s in specs]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, sort_keys=True).encode()
    return reg.push_manifest(repo, tag, body, OCI_INDEX)


def push(reg):
    platform_index(reg, "kcr-test/platforms", "latest",
                   ["windows/amd64", "linux/386", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/amd64",
                    "linux/ppc64le", "linux/s390x", "linux/riscv64"])
    platform_index(reg, "kcr-test/platforms-nov7", "latest", ["linux/arm/v5", "linux/arm/v6", "linux/amd64"])
    platform_image(reg, "kcr-test/arm64-only", "linux/arm64/v8", tags=["latest"])


if __name__ == "__main__":
    push(Registry(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:5000"))
    print("multi-platform test images: pushed")
