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
  auto d = ChoosePlatform(*entries, PlatformMatcher({"linux", "amd64", ""}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, D("amd"));
  auto none = ChoosePlatform(*entries, PlatformMatcher({"linux", "s390x", ""}));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("linux/s390x"), absl::string_view::npos);
  EXPECT_NE(none.status().message().find("linux/arm64/v8, linux/amd64, windows/amd64"), absl::string_view::npos)
      << none.status().message();
}

// An index entry per platform: {"os/arch[/variant]", digest of that name}.
std::vector<Descriptor> Index(const std::vector<std::string>& platforms) {
  std::vector<Descriptor> out;
  for (const auto& p : platforms) {
    Descriptor d;
    d.media_type = media::kOciManifest;
    d.digest = D(p);
    d.size = 1;
    std::vector<std::string> parts;
    for (size_t b = 0, e; b <= p.size(); b = e + 1) {
      e = p.find('/', b);
      if (e == std::string::npos) e = p.size();
      parts.push_back(p.substr(b, e - b));
    }
    d.platform = Platform{parts[0], parts[1], parts.size() > 2 ? parts[2] : ""};
    out.push_back(d);
  }
  return out;
}

std::string Chosen(const std::vector<Descriptor>& index, const std::string& want) {
  auto p = ParsePlatform(want);
  EXPECT_TRUE(p.ok()) << p.status();
  auto d = ChoosePlatform(index, PlatformMatcher(*p));
  if (!d.ok()) return "none";
  for (const auto& e : index)
    if (e.digest == d->digest) return FormatPlatform(*e.platform);
  return "?";
}

// Every architecture of issue 12 against an index that has them all, and
// the fallbacks where it lacks the exact one: what containerd picks.
TEST(Manifest, ChoosePlatformForEveryArchitecture) {
  auto all = Index({"windows/amd64", "linux/arm/v5", "linux/arm/v6", "linux/amd64", "linux/arm64/v8", "linux/arm/v7",
                    "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"});
  struct Case {
    std::string want, chosen;
  } cases[] = {
      {"linux/amd64", "linux/amd64"},     {"linux/x86_64", "linux/amd64"},   {"linux/arm64/v8", "linux/arm64/v8"},
      {"linux/arm64", "linux/arm64/v8"},  {"linux/aarch64", "linux/arm64/v8"}, {"linux/arm/v7", "linux/arm/v7"},
      {"linux/arm", "linux/arm/v7"},      {"linux/arm/v6", "linux/arm/v6"},  {"linux/arm/v5", "linux/arm/v5"},
      {"linux/386", "linux/386"},         {"linux/ppc64le", "linux/ppc64le"}, {"linux/s390x", "linux/s390x"},
      {"linux/riscv64", "linux/riscv64"}, {"linux/mips64le", "none"},         {"windows/amd64", "windows/amd64"},
      {"linux/arm64/v8.2", "linux/arm64/v8"},
  };
  for (const auto& c : cases) EXPECT_EQ(Chosen(all, c.want), c.chosen) << c.want;

  // No arm/v7: v6 before v5, whatever the index order.
  auto no_v7 = Index({"linux/arm/v5", "linux/amd64", "linux/arm/v6"});
  EXPECT_EQ(Chosen(no_v7, "linux/arm/v7"), "linux/arm/v6");
  EXPECT_EQ(Chosen(no_v7, "linux/arm/v6"), "linux/arm/v6");
  EXPECT_EQ(Chosen(no_v7, "linux/arm/v5"), "linux/arm/v5");
  EXPECT_EQ(Chosen(no_v7, "linux/arm64/v8"), "linux/arm/v6");  // arm64 runs 32-bit arm
  EXPECT_EQ(Chosen(Index({"linux/arm/v5"}), "linux/arm/v7"), "linux/arm/v5");
  EXPECT_EQ(Chosen(Index({"linux/arm/v7"}), "linux/arm/v6"), "none");  // never a newer variant

  // arm64 entries without a variant or spelled "8" are arm64/v8.
  EXPECT_EQ(Chosen(Index({"linux/arm/v7", "linux/arm64"}), "linux/arm64/v8"), "linux/arm64");
  EXPECT_EQ(Chosen(Index({"linux/arm/v7", "linux/arm64/8"}), "linux/arm64/v8"), "linux/arm64/8");
  EXPECT_EQ(Chosen(Index({"linux/arm64/v8.2"}), "linux/arm64/v8"), "none");

  // amd64 variants: the highest the wanted level runs, then 386.
  auto amd = Index({"linux/386", "linux/amd64/v2", "linux/amd64/v3"});
  EXPECT_EQ(Chosen(amd, "linux/amd64/v4"), "linux/amd64/v3");
  EXPECT_EQ(Chosen(amd, "linux/amd64/v2"), "linux/amd64/v2");
  EXPECT_EQ(Chosen(amd, "linux/amd64"), "linux/386");
  EXPECT_EQ(Chosen(Index({"linux/amd64/v1", "linux/386"}), "linux/amd64"), "linux/amd64/v1");

  // Ties (two entries for one platform): the first in the index.
  auto twice = Index({"linux/amd64", "linux/amd64"});
  twice[1].digest = D("second");
  EXPECT_EQ(ChoosePlatform(twice, PlatformMatcher({"linux", "amd64", ""}))->digest, D("linux/amd64"));

  // Entries that are no image manifest (a nested index, an attestation
  // with platform unknown/unknown) are passed over.
  auto odd = Index({"linux/amd64", "unknown/unknown", "linux/amd64"});
  odd[0].media_type = media::kOciIndex;
  odd[2].digest = D("real");
  EXPECT_EQ(ChoosePlatform(odd, PlatformMatcher({"linux", "amd64", ""}))->digest, D("real"));
}

TEST(Manifest, NoMatchNamesWantedFallbacksAndOffered) {
  auto idx = Index({"linux/amd64", "linux/arm64/v8", "linux/s390x"});
  auto r = ChoosePlatform(idx, PlatformMatcher({"linux", "arm", "v7"}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "no manifest for platform linux/arm/v7 (then linux/arm/v6, linux/arm/v5); the index offers: "
            "linux/amd64, linux/arm64/v8, linux/s390x");
  EXPECT_NE(ChoosePlatform({}, PlatformMatcher({"linux", "amd64", ""})).status().message().find("no platform at all"),
            absl::string_view::npos);
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
  EXPECT_EQ(cfg->architecture, "amd64");
  EXPECT_EQ(cfg->os, "linux");
  EXPECT_EQ(cfg->variant, "");
  auto arm = ParseConfig(R"({"architecture":"arm","os":"linux","variant":"v6","rootfs":{"diff_ids":[]}})");
  ASSERT_TRUE(arm.ok()) << arm.status();
  EXPECT_EQ(arm->variant, "v6");
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

// An image config's platform, as CheckPlatform holds it to the node's.
TEST(Manifest, ConfigPlatformAgainstTheNode) {
  auto cfg = ParseConfig(R"({"architecture": "arm64", "config": {"Cmd": ["/arch.txt"]}, "os": "linux",
    "rootfs": {"diff_ids": [")" + D("x") + R"("], "type": "layers"}, "variant": "v8"})");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  Platform p{cfg->os, cfg->architecture, cfg->variant};
  EXPECT_EQ(FormatPlatform(p), "linux/arm64/v8");
  EXPECT_FALSE(PlatformMatcher({"linux", "amd64", ""}).Matches(p));
  EXPECT_TRUE(PlatformMatcher({"linux", "arm64", "v8"}).Matches(p));
}

TEST(Manifest, ChainIds) {
  auto c = ChainIds({D("a"), D("b")});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], D("a"));
  EXPECT_EQ(c[1], Sha256Digest(D("a") + " " + D("b")));
}

}  // namespace
}  // namespace kcr::images
