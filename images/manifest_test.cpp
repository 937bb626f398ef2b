#include "images/manifest.h"

#include <gtest/gtest.h>

#include "images/digest.h"

namespace kcr::images {
namespace {

std::string D(const std::string& s) { return Sha256Digest(s); }

TEST(Manifest, IndexPlatformChoice) {
  std::string idx = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + D("arm") + R"(","size":10,
     "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + D("amd") + R"(","size":11,
     "platform":{"os":"linux","architecture":"amd64"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + D("win") + R"(","size":12,
     "platform":{"os":"windows","architecture":"amd64"}}]})";
  EXPECT_EQ(ClassifyManifest(idx, "application/vnd.oci.image.index.v1+json").value(), DocKind::kIndex);
  EXPECT_EQ(ClassifyManifest(idx, "application/json").value(), DocKind::kIndex);
  auto entries = ParseIndex(idx);
  ASSERT_TRUE(entries.ok()) << entries.status();
  auto d = ChoosePlatform(*entries, Platform{});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, D("amd"));
  auto none = ChoosePlatform(*entries, Platform{"linux", "s390x", ""});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("linux/arm64/v8"), absl::string_view::npos);
}

TEST(Manifest, ManifestAndConfig) {
  std::string m = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" + D("c") + R"(","size":5},
    "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" + D("l") + R"(","size":7}]})";
  auto pm = ParseManifest(m);
  ASSERT_TRUE(pm.ok()) << pm.status();
  EXPECT_EQ(pm->layers.size(), 1u);
  EXPECT_EQ(pm->config.size, 5);
  auto cfg = ParseConfig(R"({"architecture":"amd64","os":"linux","config":{"User":"1002:1003"},
    "rootfs":{"type":"layers","diff_ids":[")" + D("x") + R"("]}})");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->user, "1002:1003");
  EXPECT_EQ(cfg->diff_ids.size(), 1u);
}

TEST(Manifest, MalformedInputsAreErrorsNotCrashes) {
  const std::string corpus[] = {
      "", "null", "[]", "{", "{\"manifests\":5}", "{\"manifests\":[{}]}",
      "{\"manifests\":[{\"digest\":\"sha256:zz\",\"size\":1}]}",
      "{\"config\":{},\"layers\":[]}", "{\"config\":{\"digest\":\"" + D("a") + "\",\"size\":-1},\"layers\":[]}",
      "{\"config\":{\"digest\":\"" + D("a") + "\",\"size\":1},\"layers\":{}}",
      "{\"schemaVersion\":1,\"fsLayers\":[]}", std::string(5 << 20, ' '),
      "{\"rootfs\":{\"diff_ids\":[1,2]}}", "{\"rootfs\":5}",
  };
  for (const auto& c : corpus) {
    EXPECT_FALSE(ParseIndex(c).ok());
    EXPECT_FALSE(ParseManifest(c).ok());
    EXPECT_FALSE(ParseConfig(c).ok());
    (void)ClassifyManifest(c, "");
  }
  EXPECT_FALSE(ClassifyManifest("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws").ok());
  std::string many = "{\"manifests\":[";
  for (int i = 0; i < 1001; i++) many += std::string(i ? "," : "") + "{\"digest\":\"" + D("a") + "\",\"size\":1}";
  many += "]}";
  auto r = ParseIndex(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1000"), absl::string_view::npos);
}

TEST(Manifest, ChainIds) {
  auto c = ChainIds({D("a"), D("b")});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], D("a"));
  EXPECT_EQ(c[1], Sha256Digest(D("a") + " " + D("b")));
}

}  // namespace
}  // namespace kcr::images
