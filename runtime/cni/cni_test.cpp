// Real CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni),
// a real pinned network namespace, a test bridge of our own.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>

#include "common/fs.h"
#include "runtime/cni/netns.h"
#include "runtime/cni/network.h"

namespace kcr::runtime {
namespace {

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    dir_ = kcr::fs::MakeTempDir("kcr-cni-test");
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/net.d").ok());
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/netns").ok());
    opts_.conf_dir = dir_ + "/net.d";
    opts_.cache_dir = dir_ + "/cache";
    opts_.default_conflist = DefaultConflist(kNet, kBridge, "10.199.0.0/24");
    pod_.pod_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    pod_.pod_name = "web";
    pod_.pod_namespace = "default";
    pod_.pod_uid = "uid-1";
    pod_.netns_path = dir_ + "/netns/pod";
  }
  void TearDown() override {
    UnpinNetns(pod_.netns_path).IgnoreError();
    Sh(std::string("ip link del ") + kBridge + " 2>/dev/null");
    fs::RemoveAll(std::string("/var/lib/cni/networks/") + kNet).IgnoreError();
    fs::RemoveAll(dir_).IgnoreError();
  }
  static constexpr const char* kNet = "kcr-cni-test";
  static constexpr const char* kBridge = "kcrtest0";
  std::string dir_;
  CniOptions opts_;
  PodNetwork pod_;
};

TEST(NetDev, Parses) {
  auto c = ParseNetDev(
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n"
      "  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "eth0");
  EXPECT_EQ(c[0].rx_bytes, 5000u);
  EXPECT_EQ(c[0].rx_errors, 1u);
  EXPECT_EQ(c[0].tx_bytes, 3000u);
  EXPECT_EQ(c[0].tx_dropped, 4u);
}

// A CNI 1.1 plugin of the test's own: STATUS fails while a "down" file
// exists; every call's stdin is kept for the test to read.
TEST_F(CniTest, StatusGcAndIpRangesForCni11Networks) {
  std::string bin = dir_ + "/bin";
  ASSERT_TRUE(fs::MkdirAll(bin).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(bin + "/fake11", "#!/bin/sh\n"
                                  "cat > " + dir_ + "/last-$CNI_COMMAND.json\n"
                                  "if [ \"$CNI_COMMAND\" = STATUS ] && [ -e " + dir_ + "/down ]; then\n"
                                  "  echo '{\"cniVersion\":\"1.1.0\",\"code\":50,\"msg\":\"the plugin is down\"}'; exit 1\n"
                                  "fi\n"
                                  "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"10.55.0.9/24\"}]}'\n"
                                  "exit 0\n", 0755).ok());
  opts_.bin_dirs = {bin};
  opts_.cache_dir = dir_ + "/cache";
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/10-fake.conflist",
                                  R"({"cniVersion": "1.1.0", "name": "fake", "plugins": [{"type": "fake11"}]})").ok());
  auto net = NewCniNetwork(opts_);
  EXPECT_TRUE(net->Ready().ok()) << net->Ready();
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/down", "").ok());
  Status st = net->Ready();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("the plugin is down"), absl::string_view::npos) << st;
  // GC: the plugin hears which attachments are valid; stale caches go.
  ASSERT_TRUE(fs::MkdirAll(opts_.cache_dir).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.cache_dir + "/fake-live-eth0.json", "{}").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.cache_dir + "/fake-gone-eth0.json", "{}").ok());
  PodNetwork live;
  live.pod_id = "live";
  ASSERT_TRUE(net->GarbageCollect({live}).ok());
  auto in = nlohmann::json::parse(fs::ReadFile(dir_ + "/last-GC.json").value_or("null"), nullptr, false);
  ASSERT_TRUE(in.is_object()) << in;
  EXPECT_EQ(in["cni.dev/valid-attachments"], nlohmann::json::parse(R"([{"containerID": "live", "ifname": "eth0"}])"));
  struct stat sb;
  EXPECT_EQ(::stat((opts_.cache_dir + "/fake-live-eth0.json").c_str(), &sb), 0);
  EXPECT_NE(::stat((opts_.cache_dir + "/fake-gone-eth0.json").c_str(), &sb), 0);
  // kubelet's pod CIDR reaches a plugin that asks for ipRanges.
  ASSERT_TRUE(::unlink((dir_ + "/down").c_str()) == 0);
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/10-fake.conflist",
                                  R"({"cniVersion": "1.1.0", "name": "fake", "plugins": [{"type": "fake11", "capabilities": {"ipRanges": true}}]})").ok());
  ASSERT_TRUE(net->SetPodCidr("10.55.0.0/24").ok());
  auto added = net->Setup(pod_);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->ips, std::vector<std::string>{"10.55.0.9"});
  auto add_in = nlohmann::json::parse(fs::ReadFile(dir_ + "/last-ADD.json").value_or("null"), nullptr, false);
  ASSERT_TRUE(add_in.is_object()) << add_in;
  EXPECT_EQ(add_in["runtimeConfig"]["ipRanges"], nlohmann::json::parse(R"([[{"subnet": "10.55.0.0/24"}]])"));
  ASSERT_TRUE(net->Teardown(pod_).ok());
  // An older configuration version: no STATUS (the plugin is never asked).
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/10-fake.conflist",
                                  R"({"cniVersion": "1.0.0", "name": "fake", "plugins": [{"type": "fake11"}]})").ok());
  EXPECT_TRUE(net->Ready().ok()) << net->Ready();
}

// A result cache write cut short (kcrd killed between WriteFileAtomic's
// create and rename; found by the chaos test) leaves "<cache>.tmp.<n>":
// the pod's Teardown removes it with the cache, GC removes those of pods
// that are gone. Neither lingers after its pod.
TEST_F(CniTest, CutShortCacheWritesGoWithTheirPod) {
  std::string bin = dir_ + "/bin";
  ASSERT_TRUE(fs::MkdirAll(bin).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(bin + "/fake", "#!/bin/sh\ncat >/dev/null\n"
                                  "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'\n"
                                  "exit 0\n", 0755).ok());
  opts_.bin_dirs = {bin};
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/10-fake.conflist",
                                  R"({"cniVersion": "1.0.0", "name": "fake", "plugins": [{"type": "fake"}]})").ok());
  auto net = NewCniNetwork(opts_);
  ASSERT_TRUE(net->Setup(pod_).ok());
  std::string cache = opts_.cache_dir + "/fake-" + pod_.pod_id + "-eth0.json";
  ASSERT_TRUE(fs::WriteFileAtomic(cache + ".tmp.12345", "{\"kind\": \"cniCa").ok());
  ASSERT_TRUE(net->Teardown(pod_).ok());
  EXPECT_EQ(Sh("ls -A " + opts_.cache_dir), "");

  // Start-up GC: the cut-short write of a pod that is gone goes, a live
  // pod's cache stays.
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.cache_dir + "/fake-gone-eth0.json.tmp.77", "{").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.cache_dir + "/fake-live-eth0.json", "{}").ok());
  PodNetwork live;
  live.pod_id = "live";
  ASSERT_TRUE(net->GarbageCollect({live}).ok());
  struct stat sb;
  EXPECT_EQ(::stat((opts_.cache_dir + "/fake-live-eth0.json").c_str(), &sb), 0);
  EXPECT_NE(::stat((opts_.cache_dir + "/fake-gone-eth0.json.tmp.77").c_str(), &sb), 0);
}

TEST_F(CniTest, PinnedNetnsLifecycle) {
  ASSERT_TRUE(PinNewNetns(pod_.netns_path).ok());
  EXPECT_TRUE(IsPinnedNetns(pod_.netns_path));
  EXPECT_EQ(PinNewNetns(pod_.netns_path).code(), absl::StatusCode::kAlreadyExists);
  // A new namespace: only lo, and it differs from ours.
  std::string links = Sh("nsenter --net=" + pod_.netns_path + " ip -o link");
  EXPECT_NE(links.find("lo:"), std::string::npos);
  EXPECT_EQ(links.find("eth0"), std::string::npos);
  ASSERT_TRUE(UnpinNetns(pod_.netns_path).ok());
  EXPECT_FALSE(IsPinnedNetns(pod_.netns_path));
  struct stat st;
  EXPECT_NE(::stat(pod_.netns_path.c_str(), &st), 0);
  EXPECT_TRUE(UnpinNetns(pod_.netns_path).ok());  // idempotent
}

TEST_F(CniTest, DefaultNetworkAddCheckDel) {
  auto net = NewCniNetwork(opts_);
  ASSERT_TRUE(net->Ready().ok()) << net->Ready();
  EXPECT_NE(net->Describe().find("built-in"), std::string::npos);
  ASSERT_TRUE(PinNewNetns(pod_.netns_path).ok());
  pod_.port_mappings.push_back({"tcp", 80, 18080, ""});
  auto st = net->Setup(pod_);
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_FALSE(st->ips.empty());
  EXPECT_EQ(st->ips[0].rfind("10.199.0.", 0), 0u) << st->ips[0];
  std::string addr = Sh("nsenter --net=" + pod_.netns_path + " ip -4 -o addr show eth0");
  EXPECT_NE(addr.find(st->ips[0]), std::string::npos) << addr;
  std::string lo = Sh("nsenter --net=" + pod_.netns_path + " ip -o link show lo");
  EXPECT_NE(lo.find("UP"), std::string::npos) << lo;
  // portmap programmed the hostPort.
  EXPECT_NE(Sh("iptables-save -t nat").find("18080"), std::string::npos);
  // Counters from inside the namespace: traffic to the gateway shows up.
  Sh("nsenter --net=" + pod_.netns_path + " busybox ping -c 2 -W 1 10.199.0.1 >/dev/null 2>&1");
  auto counters = ReadNetCounters(pod_.netns_path);
  ASSERT_TRUE(counters.ok()) << counters.status();
  ASSERT_EQ(counters->size(), 1u);  // eth0; loopback left out
  EXPECT_EQ((*counters)[0].name, "eth0");
  EXPECT_GT((*counters)[0].tx_packets, 1u);
  EXPECT_GT((*counters)[0].rx_bytes, 0u);
  EXPECT_EQ(ReadNetCounters(dir_ + "/no-such-netns").status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(net->Teardown(pod_).ok()) << net->Teardown(pod_);
  EXPECT_EQ(Sh("iptables-save -t nat").find("18080"), std::string::npos);
  addr = Sh("nsenter --net=" + pod_.netns_path + " ip -o link");
  EXPECT_EQ(addr.find("eth0"), std::string::npos) << addr;
  EXPECT_EQ(net->Check(pod_).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(net->Teardown(pod_).ok());  // idempotent, as kubelet expects
}

TEST_F(CniTest, PodCidrFromKubeletFeedsTheBuiltInNetwork) {
  auto net = NewCniNetwork(opts_);
  for (const char* bad : {"10.198.0.0", "10.198.0.0/33", "10.198.0/24", "banana/8", "10.198.0.0/x"})
    EXPECT_EQ(net->SetPodCidr(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  ASSERT_TRUE(net->SetPodCidr("10.198.0.0/24").ok());
  ASSERT_TRUE(PinNewNetns(pod_.netns_path).ok());
  auto st = net->Setup(pod_);
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_FALSE(st->ips.empty());
  EXPECT_EQ(st->ips[0].rfind("10.198.0.", 0), 0u) << st->ips[0];
  EXPECT_TRUE(net->Teardown(pod_).ok());
  fs::RemoveAll(std::string("/var/lib/cni/networks/") + kNet).IgnoreError();
}

// Without port mappings: Debian's portmap 1.1.1 CHECK fails on IPv6 chains
// it never created, whatever the runtime does.
TEST_F(CniTest, CheckUsesCachedResult) {
  auto net = NewCniNetwork(opts_);
  ASSERT_TRUE(PinNewNetns(pod_.netns_path).ok());
  ASSERT_TRUE(net->Setup(pod_).ok());
  EXPECT_TRUE(net->Check(pod_).ok()) << net->Check(pod_);
  ASSERT_TRUE(net->Teardown(pod_).ok());
}

TEST_F(CniTest, FirstConfigByNameAndMissingPluginNamed) {
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/20-other.conflist",
                                  R"({"cniVersion":"1.0.0","name":"second","plugins":[{"type":"loopback"}]})")
                  .ok());
  ASSERT_TRUE(fs::WriteFileAtomic(opts_.conf_dir + "/10-first.conflist",
                                  R"({"cniVersion":"1.0.0","name":"first","plugins":[{"type":"no-such-plugin"}]})")
                  .ok());
  auto net = NewCniNetwork(opts_);
  Status st = net->Ready();
  ASSERT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("no-such-plugin"), absl::string_view::npos);
  EXPECT_NE(net->Describe().find("10-first.conflist"), std::string::npos);
}

TEST_F(CniTest, NoConfigAndNoDefaultIsNotReady) {
  opts_.default_conflist.clear();
  auto net = NewCniNetwork(opts_);
  Status st = net->Ready();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find(opts_.conf_dir), absl::string_view::npos);
}

}  // namespace
}  // namespace kcr::runtime
