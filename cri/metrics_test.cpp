// The metrics' names and label shapes, the pull and request accounting,
// and the process collector against /proc.
#include "cri/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "cri/metrics_collectors.h"
#include "runtime/pod/store.h"

namespace kcr::cri {
namespace {

std::string Text(const prometheus::Collectable& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

// "name{labels} value" lines -> value.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

Metrics NewMetrics() { return Metrics(BuildInfo{"1.2.3", "abcdef", "v0.37.0", "cgroupfs"}); }

TEST(MetricsTest, EveryFamilyNameFollowsPrometheusConventions) {
  Metrics m = NewMetrics();
  m.ForMethod("/runtime.v1.RuntimeService/Version").Record(0, 0.001);
  m.CniCall("bridge", "ADD", 0.1, true);
  std::string text = Text(*m.registry());
  std::regex type_line("# TYPE ([a-z_:][a-z0-9_:]*) (counter|gauge|histogram)");
  int families = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
    ++families;
    std::string name = (*it)[1], type = (*it)[2];
    EXPECT_TRUE(name.starts_with("kcr_")) << name;
    EXPECT_EQ(name.ends_with("_total"), type == "counter") << name;
    if (type == "histogram") {
      EXPECT_TRUE(name.ends_with("_seconds")) << name;
    }
  }
  EXPECT_GE(families, 11) << text;
  EXPECT_NE(text.find("kcr_build_info{cgroup_driver=\"cgroupfs\",cri_api_version=\"v0.37.0\",git_commit=\"abcdef\","
                      "version=\"1.2.3\"} 1"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, RequestsCountByMethodAndCodeWithoutIds) {
  Metrics m = NewMetrics();
  Metrics::Method& run = m.ForMethod("/runtime.v1.RuntimeService/RunPodSandbox");
  EXPECT_EQ(run.name(), "RunPodSandbox");
  run.Record(0, 0.2);
  run.Record(0, 0.3);
  run.Record(5, 0.01);
  m.ForMethod("/runtime.v1.ImageService/PullImage").Record(16, 1);
  m.ForMethod("/no.such.Service/Method").Record(12, 0);
  m.ForMethod("/runtime.v1.RuntimeService/Version").Record(99, 0);  // out of range: Unknown
  auto s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"OK\",method=\"RunPodSandbox\"}"], 2);
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"NotFound\",method=\"RunPodSandbox\"}"], 1);
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"Unauthenticated\",method=\"PullImage\"}"], 1);
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"Unimplemented\",method=\"unknown\"}"], 1);
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"Unknown\",method=\"Version\"}"], 1);
  EXPECT_EQ(s["kcr_cri_request_duration_seconds_count{method=\"RunPodSandbox\"}"], 3);
  EXPECT_DOUBLE_EQ(s["kcr_cri_request_duration_seconds_sum{method=\"RunPodSandbox\"}"], 0.51);
  EXPECT_EQ(s["kcr_cri_request_duration_seconds_bucket{method=\"RunPodSandbox\",le=\"0.25\"}"], 2);
  // Methods never called have no series.
  for (const auto& [k, v] : s) EXPECT_EQ(k.find("ListContainers"), std::string::npos) << k;
}

TEST(MetricsTest, ConcurrentFirstCallsOfAMethodShareOneSeries) {
  Metrics m = NewMetrics();
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) m.ForMethod("/runtime.v1.RuntimeService/ListContainers").Record(0, 0.0001);
    });
  for (auto& t : threads) t.join();
  auto s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_cri_requests_total{code=\"OK\",method=\"ListContainers\"}"], 8000);
  EXPECT_EQ(s["kcr_cri_request_duration_seconds_count{method=\"ListContainers\"}"], 8000);
}

TEST(MetricsTest, PullsCountResultBytesAndInFlight) {
  Metrics m = NewMetrics();
  auto a = m.StartPull();
  auto b = m.StartPull();
  a->AddBytes(1000);
  b->AddBytes(24);
  auto s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_image_pulls_in_flight"], 2);
  EXPECT_EQ(s["kcr_image_pull_in_flight_bytes"], 1024);
  a->Finish(absl::OkStatus());
  a->Finish(absl::OkStatus());  // counted once
  b->Finish(absl::NotFoundError("manifest unknown"));
  s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_image_pulls_in_flight"], 0);
  EXPECT_EQ(s["kcr_image_pull_in_flight_bytes"], 0);
  EXPECT_EQ(s["kcr_image_pull_bytes_total"], 1024);
  EXPECT_EQ(s["kcr_image_pulls_total{result=\"success\"}"], 1);
  EXPECT_EQ(s["kcr_image_pulls_total{result=\"failure\"}"], 1);
  EXPECT_EQ(s["kcr_image_pull_failures_total{reason=\"not_found\"}"], 1);
  EXPECT_EQ(s["kcr_image_pull_duration_seconds_count"], 2);
  // Every reason is there from the start, so rates never miss a series.
  for (const char* r : {"not_found", "unauthorized", "too_large", "timeout", "digest_mismatch", "cancelled", "other"})
    EXPECT_EQ(s.count(std::string("kcr_image_pull_failures_total{reason=\"") + r + "\"}"), 1u) << r;
  {
    auto c = m.StartPull();  // abandoned without a result
  }
  s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_image_pulls_in_flight"], 0);
  EXPECT_EQ(s["kcr_image_pull_failures_total{reason=\"other\"}"], 1);
}

TEST(MetricsTest, PullFailureReasonsAreBounded) {
  EXPECT_STREQ(Metrics::PullFailureReason(absl::NotFoundError("x")), "not_found");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::UnauthenticatedError("x")), "unauthorized");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::PermissionDeniedError("x")), "unauthorized");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::DeadlineExceededError("x")), "timeout");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::CancelledError("x")), "cancelled");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::DataLossError("blob sha256:1: digest sha256:2")), "digest_mismatch");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::FailedPreconditionError(
                   "layer sha256:1 of a declares 9 bytes, more than images.max_layer_bytes (1)")),
               "too_large");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::FailedPreconditionError("uncompressed content exceeds 5 bytes")),
               "too_large");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::FailedPreconditionError("unsupported media type")), "other");
  EXPECT_STREQ(Metrics::PullFailureReason(absl::UnavailableError("connection refused")), "other");
}

TEST(MetricsTest, CniCallsByPluginAndOperation) {
  Metrics m = NewMetrics();
  m.CniCall("bridge", "ADD", 0.02, true);
  m.CniCall("bridge", "ADD", 0.03, false);
  m.CniCall("portmap", "DEL", 0.01, true);
  auto s = Samples(Text(*m.registry()));
  EXPECT_EQ(s["kcr_cni_operation_duration_seconds_count{operation=\"ADD\",plugin=\"bridge\"}"], 2);
  EXPECT_EQ(s["kcr_cni_operation_failures_total{operation=\"ADD\",plugin=\"bridge\"}"], 1);
  EXPECT_EQ(s["kcr_cni_operation_failures_total{operation=\"DEL\",plugin=\"portmap\"}"], 0);
  m.MonitorLost();
  EXPECT_EQ(Samples(Text(*m.registry()))["kcr_monitors_lost_total"], 1);
}

// CniCall finds its series in a per-thread cache: a later Metrics (maybe at
// the same address) counts in its own registry, and another thread's first
// call counts in the same series.
TEST(MetricsTest, CniSeriesBelongToTheirMetricsOnEveryThread) {
  for (int i = 0; i < 3; ++i) {
    auto m = std::make_unique<Metrics>(BuildInfo{"1.2.3", "abcdef", "v0.37.0", "cgroupfs"});
    m->CniCall("bridge", "ADD", 0.02, false);
    std::thread([&] { m->CniCall("bridge", "ADD", 0.02, false); }).join();
    auto s = Samples(Text(*m->registry()));
    EXPECT_EQ(s["kcr_cni_operation_duration_seconds_count{operation=\"ADD\",plugin=\"bridge\"}"], 2) << i;
    EXPECT_EQ(s["kcr_cni_operation_failures_total{operation=\"ADD\",plugin=\"bridge\"}"], 2) << i;
  }
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  ProcessCollector pc;
  auto s = Samples(Text(pc));
  EXPECT_GE(s["process_threads"], 1);
  EXPECT_GT(s["process_resident_memory_bytes"], 1 << 20);
  EXPECT_GE(s["process_virtual_memory_bytes"], s["process_resident_memory_bytes"]);
  EXPECT_GE(s["process_cpu_seconds_total"], 0);
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(s["process_start_time_seconds"], now + 1);
  EXPECT_GT(s["process_start_time_seconds"], now - 3600);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  EXPECT_EQ(s["process_max_fds"], static_cast<double>(rl.rlim_cur));
  // Open descriptors: one more open file is one more fd.
  double before = s["process_open_fds"];
  int fd = ::dup(0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Samples(Text(pc))["process_open_fds"], before + 1);
  ::close(fd);
  EXPECT_EQ(Samples(Text(pc))["process_open_fds"], before);
}

TEST(ProcessCollectorTest, ParsesStatWhoseCommandHoldsParenthesesAndSpaces) {
  auto dir = std::filesystem::temp_directory_path() / ("kcr-proc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "fd");
  std::ofstream(dir / "stat") << "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 "
                                 "250 150 0 0 20 0 7 0 1000 4096000 300 18446744073709551615\n";
  std::ofstream(dir / "proc_stat") << "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
  std::ofstream(dir / "limits") << "Limit                     Soft Limit           Hard Limit           Units\n"
                                   "Max open files            4096                 524288               files\n";
  ProcessCollector pc(dir.string(), (dir / "proc_stat").string());
  auto s = Samples(Text(pc));
  double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(s["process_cpu_seconds_total"], 400 / ticks);
  EXPECT_EQ(s["process_threads"], 7);
  EXPECT_DOUBLE_EQ(s["process_start_time_seconds"], 1700000000 + 1000 / ticks);
  EXPECT_EQ(s["process_virtual_memory_bytes"], 4096000);
  EXPECT_EQ(s["process_resident_memory_bytes"], 300.0 * static_cast<double>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(s["process_max_fds"], 4096);
  std::filesystem::remove_all(dir);
}

TEST(StateCollectorTest, CountsPodsAndContainersByStateFromTheStore) {
  auto dir = std::filesystem::temp_directory_path() / ("kcr-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto db = Database::Open((dir / "kcr.db").string());
  ASSERT_TRUE(db.ok()) << db.status();
  auto store = kcr::runtime::PodStore::Open(**db);
  ASSERT_TRUE(store.ok()) << store.status();
  StateCollector sc(**db);
  auto s = Samples(Text(sc));
  EXPECT_EQ(s["kcr_pods{state=\"ready\"}"], 0);
  EXPECT_EQ(s.count("kcr_containers{state=\"running\"}"), 1u);  // present at 0
  for (int p = 0; p < 2; ++p) {
    kcr::runtime::SandboxRecord r;
    r.id = std::string(63, 'a') + std::to_string(p);
    r.name_key = "pod" + std::to_string(p);
    r.state = p == 0 ? kcr::runtime::SandboxState::kReady : kcr::runtime::SandboxState::kNotReady;
    ASSERT_TRUE((*store)->AddSandbox(r).ok());
  }
  int i = 0;
  for (auto st : {kcr::runtime::ContainerState::kRunning, kcr::runtime::ContainerState::kRunning,
                  kcr::runtime::ContainerState::kExited, kcr::runtime::ContainerState::kCreated}) {
    kcr::runtime::ContainerRecord c;
    c.id = std::string(63, 'c') + std::to_string(i);
    c.sandbox_id = std::string(63, 'a') + "0";
    c.name_key = "ctr" + std::to_string(i++);
    c.state = st;
    ASSERT_TRUE((*store)->AddContainer(c).ok());
  }
  s = Samples(Text(sc));
  EXPECT_EQ(s["kcr_pods{state=\"ready\"}"], 1);
  EXPECT_EQ(s["kcr_pods{state=\"notready\"}"], 1);
  EXPECT_EQ(s["kcr_monitors_running"], 1);
  EXPECT_EQ(s["kcr_containers{state=\"running\"}"], 2);
  EXPECT_EQ(s["kcr_containers{state=\"exited\"}"], 1);
  EXPECT_EQ(s["kcr_containers{state=\"created\"}"], 1);
  EXPECT_EQ(s["kcr_containers{state=\"unknown\"}"], 0);
  store->reset();
  db->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kcr::cri
