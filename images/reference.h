#pragma once
// Docker/OCI image references: parsing and normalisation as the docker CLI,
// containerd and kubelet do ("busybox" is "docker.io/library/busybox:latest").
#include <string>

#include "common/status.h"

namespace kcr::images {

struct Reference {
  std::string domain;  // "docker.io", "registry.k8s.io", "127.0.0.1:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "latest" when neither tag nor digest was given
  std::string digest;  // "sha256:<64 hex>" or empty

  std::string Name() const { return domain + "/" + path; }
  // "docker.io/library/busybox:1.36" (empty when there is no tag).
  std::string TagRef() const { return tag.empty() ? "" : Name() + ":" + tag; }
  // "docker.io/library/busybox@sha256:..." (empty without a digest).
  std::string DigestRef() const { return digest.empty() ? "" : Name() + "@" + digest; }
  // The most specific form: name:tag@digest, name@digest or name:tag.
  std::string String() const;
};

// Parses and normalises `ref`. InvalidArgument naming the problem for
// uppercase repositories, bad tags, malformed digests, empty input.
StatusOr<Reference> ParseReference(const std::string& ref);

// True for "sha256:<64 lowercase hex>".
bool IsDigest(const std::string& s);

}  // namespace kcr::images
