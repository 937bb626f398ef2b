#include "cri/config.h"

#include <gtest/gtest.h>

namespace kcr::cri {

TEST(Config, DefaultTomlParsesToDefaults) {
  auto c = ParseConfig(DefaultConfigToml(), "default");
  ASSERT_TRUE(c.ok()) << c.status();
  Config d;
  EXPECT_EQ(c->root, d.root);
  EXPECT_EQ(c->cni_bin_dirs, d.cni_bin_dirs);
  EXPECT_EQ(c->max_parallel_layers, d.max_parallel_layers);
  EXPECT_TRUE(c->registry.empty());
}

TEST(Config, Streaming) {
  auto c = ParseConfig("[streaming]\naddress = \"::1\"\nport = 10010\ntoken_ttl = \"30s\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->streaming_address, "::1");
  EXPECT_EQ(c->streaming_port, 10010);
  EXPECT_EQ(c->streaming_token_ttl_ms, 30000);
  EXPECT_EQ(Config().streaming_token_ttl_ms, 60000);
  c = ParseConfig("[streaming]\ntoken_ttl = \"soon\"\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("streaming.token_ttl"), absl::string_view::npos);
  c = ParseConfig("[streaming]\ntls_cert_file = \"/c.pem\"\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tls_key_file"), absl::string_view::npos);
}

TEST(Config, LogAndMetrics) {
  Config d;
  EXPECT_EQ(d.metrics_address, "127.0.0.1:1338");
  EXPECT_EQ(d.log_format, "text");
  auto c = ParseConfig(DefaultConfigToml(), "default");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metrics_address, "127.0.0.1:1338");
  EXPECT_EQ(c->log_level, "info");
  c = ParseConfig("log_level = \"warn\"\n", "t");  // the older spelling
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->log_level, "warn");
  c = ParseConfig("log_level = \"warn\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\n[metrics]\naddress = \"\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_EQ(c->metrics_address, "");
  for (const char* bad : {"[log]\nformat = \"xml\"\n", "[log]\nlevel = \"loud\"\n",
                          "[metrics]\naddress = \"1338\"\n", "[metrics]\naddress = \"::1:1338\"\n",
                          "[metrics]\naddress = \"127.0.0.1:70000\"\n", "[metrics]\naddress = \"127.0.0.1:x\"\n"}) {
    c = ParseConfig(bad, "t");
    EXPECT_FALSE(c.ok()) << bad;
  }
  EXPECT_TRUE(CheckMetricsAddress("[::1]:1338").ok());
  EXPECT_TRUE(CheckMetricsAddress("0.0.0.0:0").ok());
}

TEST(Config, MirrorsAndTls) {
  auto c = ParseConfig(R"(
[registry.mirrors."registry.k8s.io"]
endpoints = ["http://127.0.0.1:5000", "https://m2"]
[registry.tls."m2"]
insecure_skip_verify = true
)", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->registry.at("registry.k8s.io").mirrors.size(), 2u);
  EXPECT_EQ(c->registry.at("registry.k8s.io").mirrors[0], "http://127.0.0.1:5000");
  EXPECT_TRUE(c->registry.at("m2").insecure_skip_verify);
}

TEST(Config, BadValuesNameTheKey) {
  auto c = ParseConfig("[cgroup]\ndriver = \"lxc\"\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cgroup.driver"), absl::string_view::npos);
  c = ParseConfig("root = 5\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("root"), absl::string_view::npos);
  c = ParseConfig("root = [\n", "t");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  // A float for an integer key is refused, never converted (found by
  // fuzz_config_toml under UBSan: 1.5e300 overflowed the conversion).
  c = ParseConfig("[images]\nmax_parallel_layers = 1.5e300\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("must be an integer"), absl::string_view::npos) << c.status();
}

// The limits on a pull ([images]), their defaults and their bounds.
TEST(Config, ImagePullLimits) {
  auto d = ParseConfig(DefaultConfigToml(), "default");
  ASSERT_TRUE(d.ok()) << d.status();
  Config def;
  EXPECT_EQ(d->max_layer_bytes, def.max_layer_bytes);
  EXPECT_EQ(d->max_image_bytes, def.max_image_bytes);
  EXPECT_EQ(d->blob_timeout_s, def.blob_timeout_s);
  EXPECT_EQ(d->blob_min_bytes_per_s, def.blob_min_bytes_per_s);
  EXPECT_EQ(d->blob_stall_timeout_s, def.blob_stall_timeout_s);
  auto c = ParseConfig("[images]\nmax_layer_bytes = 8388608\nmax_image_bytes = 20971520\nblob_timeout_s = 0\n"
                       "blob_min_bytes_per_s = 10\nblob_stall_timeout_s = 600\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_layer_bytes, 8388608);
  EXPECT_EQ(c->max_image_bytes, 20971520);
  EXPECT_EQ(c->blob_timeout_s, 0);
  EXPECT_EQ(c->blob_min_bytes_per_s, 10);
  EXPECT_EQ(c->blob_stall_timeout_s, 600);
  for (const char* bad : {"max_layer_bytes = 10", "max_image_bytes = -1", "blob_timeout_s = -1",
                          "blob_stall_timeout_s = 0", "blob_min_bytes_per_s = 1.5"}) {
    c = ParseConfig(std::string("[images]\n") + bad + "\n", "t");
    ASSERT_FALSE(c.ok()) << bad;
    std::string key = std::string("images.") + std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(c.status().message().find(key), absl::string_view::npos) << c.status();
  }
}

// [cdi] spec_dirs: CDI's two directories by default, absolute paths only.
TEST(Config, CdiSpecDirs) {
  auto d = ParseConfig(DefaultConfigToml(), "default");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->cdi_spec_dirs, (std::vector<std::string>{"/etc/cdi", "/var/run/cdi"}));
  auto c = ParseConfig("[cdi]\nspec_dirs = [\"/tmp/a\"]\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cdi_spec_dirs, std::vector<std::string>{"/tmp/a"});
  c = ParseConfig("[cdi]\nspec_dirs = [\"relative\"]\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cdi.spec_dirs"), absl::string_view::npos) << c.status();
}

// [image] platform: "" (the host's) by default, shown commented with the
// host's value; a platform string that cannot be one stops the load.
TEST(Config, ImagePlatform) {
  EXPECT_EQ(Config().image_platform, "");
  std::string def = DefaultConfigToml();
  EXPECT_NE(def.find("[image]\n"), std::string::npos);
  EXPECT_NE(def.find("# platform = \"linux/"), std::string::npos) << def;
  auto d = ParseConfig(def, "default");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->image_platform, "");
  auto c = ParseConfig("[image]\nplatform = \"linux/arm64/v8\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->image_platform, "linux/arm64/v8");
  for (const char* bad : {"[image]\nplatform = \"linux/amd46\"\n", "[image]\nplatform = \"\"\n",
                          "[image]\nplatform = \"linux/arm/v7/x\"\n", "[image]\nplatform = 64\n"}) {
    c = ParseConfig(bad, "t");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("image.platform"), absl::string_view::npos) << c.status();
  }
  c = ParseConfig("[images]\nplatform = \"linux/arm64\"\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("[image] platform"), absl::string_view::npos) << c.status();
}

}  // namespace kcr::cri
