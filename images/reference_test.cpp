#include "images/reference.h"

#include <gtest/gtest.h>

namespace kcr::images {

struct Case {
  const char* in;
  const char* want;  // String(), or nullptr for invalid
};

TEST(Reference, Normalisation) {
  const std::string d = "sha256:" + std::string(64, 'a');
  Case cases[] = {
      {"busybox", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io/library/busybox:1.36"},
      {"library/busybox", "docker.io/library/busybox:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest"},
      {"index.docker.io/library/busybox:1", "docker.io/library/busybox:1"},
      {"user/app:v1", "docker.io/user/app:v1"},
      {"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"},
      {"127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000/a/b/c:tag"},
      {"localhost/app", "localhost/app:latest"},
      {"localhost:5000/app", "localhost:5000/app:latest"},
      {"gcr.io/k8s-staging-cri-tools/test-image-tags:1", "gcr.io/k8s-staging-cri-tools/test-image-tags:1"},
      {"a__b/c-d.e_f", "docker.io/a__b/c-d.e_f:latest"},
      {"Busybox", nullptr},
      {"docker.io/Library/busybox", nullptr},
      {"busybox:", nullptr},
      {"busybox:-bad", nullptr},
      {":tag", nullptr},
      {"", nullptr},
      {"a//b", nullptr},
      {"busybox@sha256:abc", nullptr},
      {"busybox@md5:abc", nullptr},
      {"host:port/app", nullptr},
      {"-a/b", nullptr},
  };
  for (const auto& c : cases) {
    auto r = ParseReference(c.in);
    if (c.want == nullptr) {
      EXPECT_FALSE(r.ok()) << c.in << " -> " << (r.ok() ? r->String() : "");
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      }
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status();
      EXPECT_EQ(r->String(), c.want) << c.in;
    }
  }
}

TEST(Reference, Digests) {
  const std::string d = "sha256:" + std::string(64, 'a');
  auto r = ParseReference("busybox@" + d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->DigestRef(), "docker.io/library/busybox@" + d);
  EXPECT_EQ(r->TagRef(), "");
  r = ParseReference("127.0.0.1:5000/busybox:1@" + d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "1");
  EXPECT_EQ(r->digest, d);
  EXPECT_EQ(r->domain, "127.0.0.1:5000");
  EXPECT_TRUE(IsDigest(d));
  EXPECT_FALSE(IsDigest("sha256:" + std::string(64, 'A')));
}

}  // namespace kcr::images
