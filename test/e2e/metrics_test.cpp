// The /metrics endpoint of a real kcrd: counters move by exactly what the
// CRI calls did, the scrape passes promtool's lint, a real Prometheus
// scrapes it, and hostile scrapers (bogus Accept, a client holding its
// connection silent, 100 at once) never stop kcrd serving CRI.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

extern char** environ;

namespace kcr::e2e {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct HttpAnswer {
  int status = 0;
  std::string headers, body;
};

// One HTTP/1.1 request on its own connection (Connection: close), read to
// the end; `extra` are more header lines ("Accept: x\r\n").
HttpAnswer HttpGet(int port, const std::string& path, const std::string& extra = "") {
  HttpAnswer a;
  int fd = ConnectTcp(port);
  if (fd < 0) return a;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return a;
  }
  std::string all;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return a;
  a.status = std::stoi(all.substr(9, 3));
  a.headers = all.substr(0, end + 2);  // each header line ends in \r\n
  a.body = all.substr(end + 4);
  if (a.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    std::string body;
    size_t at = 0;
    while (at < a.body.size()) {
      size_t nl = a.body.find("\r\n", at);
      size_t n = std::stoul(a.body.substr(at, nl - at), nullptr, 16);
      if (n == 0) break;
      body += a.body.substr(nl + 2, n);
      at = nl + 2 + n + 2;
    }
    a.body = body;
  }
  return a;
}

// "name{labels} value" -> value, from text format 0.0.4.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

std::string Series(const std::string& name, const std::string& labels = "") {
  return labels.empty() ? name : name + "{" + labels + "}";
}

std::string Req(const std::string& method, const std::string& code) {
  return Series("kcr_cri_requests_total", "code=\"" + code + "\",method=\"" + method + "\"");
}

class MetricsEndpointTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    port_ = FreePort();
    Start("\n[metrics]\naddress = \"127.0.0.1:" + std::to_string(port_) + "\"\n");
  }
  void TearDown() override {
    if (prometheus_ > 0) {
      ::kill(prometheus_, SIGTERM);
      int st;
      ::waitpid(prometheus_, &st, 0);
    }
    KcrdFixture::TearDown();
  }

  std::map<std::string, double> Scrape() {
    HttpAnswer a = HttpGet(port_, "/metrics");
    EXPECT_EQ(a.status, 200) << a.headers;
    return Samples(a.body);
  }

  bool VersionAnswers() {
    ::runtime::v1::VersionRequest req;
    ::runtime::v1::VersionResponse resp;
    return Runtime().Version(Ctx(10).get(), req, &resp).ok();
  }

  int port_ = 0;
  pid_t prometheus_ = -1;
};

TEST_F(MetricsEndpointTest, ServesTextFormatOnTheConfiguredAddressOnly) {
  HttpAnswer a = HttpGet(port_, "/metrics");
  ASSERT_EQ(a.status, 200);
  // Text format 0.0.4, saying so.
  EXPECT_NE(a.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << a.headers;
  EXPECT_EQ(a.body.find("# EOF"), std::string::npos);
  EXPECT_NE(a.body.find("# TYPE kcr_cri_requests_total counter"), std::string::npos);
  EXPECT_NE(a.body.find("kcr_build_info{"), std::string::npos);
  EXPECT_NE(a.body.find("process_resident_memory_bytes "), std::string::npos);
  // Bound to 127.0.0.1 only: the same port on another local address is closed.
  std::string listening = fs::ReadFile("/proc/net/tcp").value_or("");
  char hex[16];
  snprintf(hex, sizeof hex, ":%04X ", port_);
  int listeners = 0;
  std::istringstream in(listening);
  for (std::string line; std::getline(in, line);)
    if (line.find(hex) != std::string::npos && line.find(" 0A ") != std::string::npos) {
      ++listeners;
      EXPECT_NE(line.find("0100007F" + std::string(hex)), std::string::npos) << line;
    }
  EXPECT_EQ(listeners, 1);
}

TEST_F(MetricsEndpointTest, ServesOpenMetricsWhenTheScraperPrefersIt) {
  // Prometheus 2.42's Accept header.
  HttpAnswer a = HttpGet(port_, "/metrics",
                         "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                         "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n");
  ASSERT_EQ(a.status, 200);
  EXPECT_NE(a.headers.find("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"),
            std::string::npos)
      << a.headers;
  EXPECT_NE(a.body.find("# TYPE kcr_cri_requests counter\n"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"),
            std::string::npos)
      << a.body;
  ASSERT_GE(a.body.size(), 6u);
  EXPECT_EQ(a.body.substr(a.body.size() - 6), "# EOF\n");
  // Text when it prefers text.
  HttpAnswer t = HttpGet(port_, "/metrics", "Accept: application/openmetrics-text;q=0.2,text/plain;q=0.9\r\n");
  EXPECT_NE(t.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << t.headers;
}

// kcr_build_info names the commit of the tree kcrd was built from (taken at
// build time, not when CMake configured).
TEST_F(MetricsEndpointTest, BuildInfoNamesTheCommitKcrdWasBuiltFrom) {
  CmdResult head = e2e::Run({"/usr/bin/git", "-C", KCR_SOURCE_DIR, "rev-parse", "HEAD"});
  if (access("/usr/bin/git", X_OK) != 0) GTEST_SKIP() << "git missing";
  if (head.exit_code != 0) GTEST_SKIP() << "the source tree is no git checkout: " << head.out;
  std::string commit = head.out.substr(0, head.out.find_first_of("\r\n"));
  ASSERT_EQ(commit.size(), 40u) << head.out;
  HttpAnswer a = HttpGet(port_, "/metrics");
  ASSERT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("git_commit=\"" + commit + "\""), std::string::npos)
      << "HEAD is " << commit << "; build info: " << a.body.substr(a.body.find("kcr_build_info{"), 200);
}

TEST_F(MetricsEndpointTest, CountersMoveByExactlyWhatTheCallsDid) {
  auto before = Scrape();
  ASSERT_TRUE(Pull("busybox").ok());
  ::runtime::v1::ImageStatusRequest sreq;
  sreq.mutable_image()->set_image("busybox");
  ::runtime::v1::ImageStatusResponse sresp;
  ASSERT_TRUE(Images().ImageStatus(Ctx().get(), sreq, &sresp).ok());
  grpc::Status missing = Pull("kcr-test/no-such-image:1");
  ASSERT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND) << missing.error_message();
  auto pod = RunPod(PodConfig("metrics"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto during = Scrape();
  ASSERT_TRUE(RemovePod(*pod).ok());
  auto after = Scrape();

  auto delta = [&](const std::string& s) { return after[s] - before[s]; };
  EXPECT_EQ(delta(Req("PullImage", "OK")), 1);
  EXPECT_EQ(delta(Req("PullImage", "NotFound")), 1);
  EXPECT_EQ(delta(Req("RunPodSandbox", "OK")), 1);
  EXPECT_EQ(delta(Req("RemovePodSandbox", "OK")), 1);
  EXPECT_EQ(delta(Req("ImageStatus", "OK")), 1);
  EXPECT_EQ(delta(Series("kcr_cri_request_duration_seconds_count", "method=\"RunPodSandbox\"")), 1);
  EXPECT_EQ(delta(Series("kcr_image_pulls_total", "result=\"success\"")), 1);
  EXPECT_EQ(delta(Series("kcr_image_pulls_total", "result=\"failure\"")), 1);
  EXPECT_EQ(delta(Series("kcr_image_pull_failures_total", "reason=\"not_found\"")), 1);
  EXPECT_EQ(delta(Series("kcr_image_pull_failures_total", "reason=\"other\"")), 0);
  EXPECT_EQ(delta("kcr_image_pull_duration_seconds_count"), 2);
  // A fresh root: the pull downloaded the config and every layer once.
  EXPECT_EQ(delta("kcr_image_pull_bytes_total"), static_cast<double>(sresp.image().size()));
  EXPECT_EQ(after["kcr_image_pulls_in_flight"], 0);
  EXPECT_EQ(after["kcr_image_pull_in_flight_bytes"], 0);
  // The pod counted while it lived, and not after.
  EXPECT_EQ(during[Series("kcr_pods", "state=\"ready\"")], 1);
  EXPECT_EQ(during["kcr_monitors_running"], 1);
  EXPECT_EQ(after[Series("kcr_pods", "state=\"ready\"")], 0);
  EXPECT_EQ(after["kcr_monitors_running"], 0);
  // The built-in network's bridge plugin: one ADD, and a DEL at removal.
  EXPECT_EQ(delta(Series("kcr_cni_operation_duration_seconds_count", "operation=\"ADD\",plugin=\"bridge\"")), 1);
  EXPECT_GE(delta(Series("kcr_cni_operation_duration_seconds_count", "operation=\"DEL\",plugin=\"bridge\"")), 1);
  EXPECT_EQ(delta(Series("kcr_cni_operation_failures_total", "operation=\"ADD\",plugin=\"bridge\"")), 0);
  EXPECT_EQ(after["kcr_monitors_lost_total"], 0);
}

TEST_F(MetricsEndpointTest, PromtoolLintsALiveScrapeClean) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool missing: install Debian's prometheus";
  ASSERT_TRUE(Pull("busybox").ok());
  Pull("kcr-test/no-such-image:1");  // failures and their reasons in the scrape too
  auto pod = RunPod(PodConfig("lint"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  HttpAnswer a = HttpGet(port_, "/metrics");
  ASSERT_EQ(a.status, 200);
  std::string file = dir_ + "/scrape.txt";
  ASSERT_TRUE(fs::WriteFileAtomic(file, a.body).ok());
  CmdResult r = e2e::Run({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "") << "promtool lint warnings:\n" << r.out;
  EXPECT_TRUE(RemovePod(*pod).ok());
}

// A real Prometheus (Debian's 2.42) scrapes kcrd: it asks for OpenMetrics
// first, so this also checks kcrd's OpenMetrics output parses; the
// counters it stored moved by exactly what the CRI calls did.
TEST_F(MetricsEndpointTest, RealPrometheusScrapesKcrd) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus missing: install Debian's prometheus";
  int web = FreePort();
  std::string cfg = dir_ + "/prometheus.yml";
  ASSERT_TRUE(fs::WriteFileAtomic(cfg, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                       "scrape_configs:\n  - job_name: kcr\n    static_configs:\n"
                                       "      - targets: ['127.0.0.1:" +
                                           std::to_string(port_) + "']\n")
                  .ok());
  std::string log = dir_ + "/prometheus.log";
  std::vector<std::string> argv = {"/usr/bin/prometheus",
                                   "--config.file=" + cfg,
                                   "--storage.tsdb.path=" + dir_ + "/tsdb",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(web)};
  std::vector<char*> args;
  for (auto& s : argv) args.push_back(s.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  ASSERT_EQ(posix_spawn(&prometheus_, args[0], &fa, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  // Prometheus's instant query: the value of the one series `q` selects,
  // or nullopt when it selects none (yet).
  auto query = [&](const std::string& q) -> std::optional<double> {
    std::string enc;
    for (char c : q) {
      if (isalnum(static_cast<unsigned char>(c)) || c == '_') {
        enc += c;
      } else {
        char h[4];
        snprintf(h, sizeof h, "%%%02X", static_cast<unsigned char>(c));
        enc += h;
      }
    }
    auto j = nlohmann::json::parse(HttpGet(web, "/api/v1/query?query=" + enc).body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success" || j["data"]["result"].size() != 1) return std::nullopt;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  };
  // Polls until `q` has value `want` (Prometheus scrapes every second).
  auto wait_for = [&](const std::string& q, double want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::optional<double> v;
    while (std::chrono::steady_clock::now() < deadline) {
      v = query(q);
      if (v == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ADD_FAILURE() << q << " is " << (v ? std::to_string(*v) : "absent") << ", want " << want << "\n"
                  << fs::ReadFile(log).value_or("");
    return false;
  };
  ASSERT_TRUE(wait_for("up{job=\"kcr\"}", 1));
  // The series these calls move, as Prometheus stored them before.
  auto req = [](const std::string& method, const std::string& code) {
    return "kcr_cri_requests_total{job=\"kcr\",method=\"" + method + "\",code=\"" + code + "\"}";
  };
  const std::map<std::string, double> want = {
      {req("PullImage", "OK"), 1},
      {req("PullImage", "NotFound"), 1},
      {req("RunPodSandbox", "OK"), 2},
      {req("StopPodSandbox", "OK"), 1},
      {req("RemovePodSandbox", "OK"), 2},
      {"kcr_cri_request_duration_seconds_count{job=\"kcr\",method=\"RunPodSandbox\"}", 2},
      {"kcr_image_pulls_total{job=\"kcr\",result=\"success\"}", 1},
      {"kcr_image_pulls_total{job=\"kcr\",result=\"failure\"}", 1},
      {"kcr_image_pull_failures_total{job=\"kcr\",reason=\"not_found\"}", 1},
      {"kcr_image_pull_failures_total{job=\"kcr\",reason=\"other\"}", 0},
      {"kcr_image_pull_duration_seconds_count{job=\"kcr\"}", 2},
      {"kcr_cni_operation_duration_seconds_count{job=\"kcr\",operation=\"ADD\",plugin=\"bridge\"}", 2},
      {"kcr_cni_operation_failures_total{job=\"kcr\",operation=\"ADD\",plugin=\"bridge\"}", 0},
      {"kcr_monitors_lost_total{job=\"kcr\"}", 0},
  };
  std::map<std::string, double> before;
  for (const auto& [q, _] : want) before[q] = query(q).value_or(0);
  const std::string bytes = "kcr_image_pull_bytes_total{job=\"kcr\"}";
  before[bytes] = query(bytes).value_or(0);

  ASSERT_TRUE(Pull("busybox").ok());
  ::runtime::v1::ImageStatusRequest sreq;
  sreq.mutable_image()->set_image("busybox");
  ::runtime::v1::ImageStatusResponse sresp;
  ASSERT_TRUE(Images().ImageStatus(Ctx().get(), sreq, &sresp).ok());
  ASSERT_EQ(Pull("kcr-test/no-such-image:1").error_code(), grpc::StatusCode::NOT_FOUND);
  auto a = RunPod(PodConfig("scraped-a"));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = RunPod(PodConfig("scraped-b"));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(wait_for("kcr_pods{job=\"kcr\",state=\"ready\"}", 2));
  ::runtime::v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(*a);
  ::runtime::v1::StopPodSandboxResponse stopped;
  ASSERT_TRUE(Runtime().StopPodSandbox(Ctx().get(), stop, &stopped).ok());
  ASSERT_TRUE(RemovePod(*a).ok());
  ASSERT_TRUE(RemovePod(*b).ok());

  // The last call's count reached Prometheus: so did every earlier one's.
  ASSERT_TRUE(wait_for(req("RemovePodSandbox", "OK"), before[req("RemovePodSandbox", "OK")] + 2));
  for (const auto& [q, delta] : want) EXPECT_EQ(query(q).value_or(0) - before[q], delta) << q;
  // A fresh root: the pull downloaded the config and every layer once.
  EXPECT_EQ(query(bytes).value_or(0) - before[bytes], static_cast<double>(sresp.image().size()));
  EXPECT_EQ(query("kcr_pods{job=\"kcr\",state=\"ready\"}"), 0);
  EXPECT_EQ(query("kcr_image_pulls_in_flight{job=\"kcr\"}"), 0);
  EXPECT_EQ(query("up{job=\"kcr\"}"), 1);
  // Prometheus parsed OpenMetrics: its canonical bucket bounds ("1.0"; text
  // format 0.0.4 from prometheus-cpp says "1").
  EXPECT_EQ(query("kcr_cri_request_duration_seconds_bucket{job=\"kcr\",method=\"RunPodSandbox\",le=\"300.0\"}"), 2);
}

TEST_F(MetricsEndpointTest, HostileScrapersNeverStopCri) {
  // A bogus Accept header still gets the text format.
  HttpAnswer bogus = HttpGet(port_, "/metrics", "Accept: application/x-bogus;q=oops, */*;;;\r\n");
  EXPECT_EQ(bogus.status, 200);
  EXPECT_NE(bogus.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << bogus.headers;
  HttpAnswer bogus_om = HttpGet(port_, "/metrics", "Accept: application/openmetrics-text;q=oops;;\r\n");
  EXPECT_EQ(bogus_om.status, 200);
  EXPECT_NE(bogus_om.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << bogus_om.headers;
  EXPECT_NE(bogus.body.find("kcr_build_info"), std::string::npos);
  HttpAnswer nothing = HttpGet(port_, "/nothing-here");
  EXPECT_EQ(nothing.status, 404);

  // A client holds a connection with half a request.
  int slow = ConnectTcp(port_);
  ASSERT_GE(slow, 0);
  const char half[] = "GET /metrics HTTP/1.1\r\nHost: 127";
  ASSERT_EQ(::send(slow, half, sizeof half - 1, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof half - 1));
  EXPECT_TRUE(VersionAnswers());
  EXPECT_EQ(HttpGet(port_, "/metrics").status, 200);  // the other worker serves meanwhile

  // 100 scrapes at once while CRI calls go on.
  std::atomic<int> ok{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 100; ++i)
    scrapers.emplace_back([&] {
      if (HttpGet(port_, "/metrics").status == 200) ++ok;
    });
  int versions = 0;
  std::thread cri([&] {
    while (!done) {
      if (!VersionAnswers()) return;
      ++versions;
    }
  });
  for (auto& t : scrapers) t.join();
  done = true;
  cri.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_GE(versions, 1);
  EXPECT_TRUE(VersionAnswers());
  ::close(slow);
  // The scrapes were counted nowhere in CRI: kcrd's gRPC answered throughout.
  auto s = Scrape();
  EXPECT_GE(s[Req("Version", "OK")], versions);
}

// The JSON log's shape, and SIGHUP re-reading [log] without a restart.
TEST_F(MetricsEndpointTest, SighupChangesTheLogLevel) {
  std::string metrics = "\n[metrics]\naddress = \"127.0.0.1:" + std::to_string(port_) + "\"\n";
  Stop();
  Start("\n[log]\nlevel = \"info\"\nformat = \"json\"\n" + metrics);
  auto request_lines = [&] {
    int n = 0;
    std::istringstream in(fs::ReadFile(log_).value_or(""));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;  // the first kcrd's text lines
      EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
      if (j.value("msg", "") == "CRI request" && j.value("method", "") == "Version") {
        EXPECT_EQ(j.value("level", ""), "debug") << line;
        EXPECT_EQ(j.value("code", ""), "OK") << line;
        EXPECT_TRUE(j.contains("duration_ms")) << line;
        ++n;
      }
    }
    return n;
  };
  ASSERT_TRUE(VersionAnswers());
  EXPECT_EQ(request_lines(), 0);
  WriteConfig("\n[log]\nlevel = \"debug\"\nformat = \"json\"\n" + metrics);
  ASSERT_EQ(::kill(KcrdPid(), SIGHUP), 0);
  // kcrd says when it has re-read the file.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::ReadFile(log_).value_or("").find("SIGHUP: log level debug") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(VersionAnswers());
  EXPECT_EQ(request_lines(), 1) << fs::ReadFile(log_).value_or("");
  // The pod's ID is in the request's line.
  auto pod = RunPod(PodConfig("logged"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  std::string log = fs::ReadFile(log_).value_or("");
  EXPECT_NE(log.find("\"method\":\"RunPodSandbox\",\"pod_id\":\"" + *pod + "\""), std::string::npos) << log;
  EXPECT_TRUE(RemovePod(*pod).ok());
}

// A failed CRI call is logged once (by the interceptor, not again by the
// handler), with its method, the object it names, its code, its message
// and its duration.
TEST_F(MetricsEndpointTest, AFailedCallIsOneLogLineWithItsObjectCodeAndDuration) {
  Stop();
  Start("\n[log]\nlevel = \"debug\"\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:" +
        std::to_string(port_) + "\"\n");
  const std::string id = "0123456789abcdef-no-such-container";
  ::runtime::v1::CheckpointContainerRequest req;
  req.set_container_id(id);
  req.set_location(dir_ + "/checkpoint.tar");
  ::runtime::v1::CheckpointContainerResponse resp;
  grpc::Status st = Runtime().CheckpointContainer(Ctx().get(), req, &resp);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  // The interceptor logs after the status is sent; Version's line follows it.
  ASSERT_TRUE(VersionAnswers());
  std::vector<nlohmann::json> lines;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool version_logged = false;
  while (!version_logged && std::chrono::steady_clock::now() < deadline) {
    lines.clear();
    std::istringstream in(fs::ReadFile(log_).value_or(""));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.value("method", "") == "Version") version_logged = true;
      if (line.find(id) != std::string::npos) lines.push_back(j);
    }
    if (!version_logged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(lines.size(), 1u) << fs::ReadFile(log_).value_or("");
  const nlohmann::json& j = lines[0];
  EXPECT_EQ(j.value("msg", ""), "CRI request failed") << j;
  EXPECT_EQ(j.value("method", ""), "CheckpointContainer") << j;
  EXPECT_EQ(j.value("container_id", ""), id) << j;
  EXPECT_EQ(j.value("code", ""), "NotFound") << j;
  EXPECT_NE(j.value("error", "").find(id), std::string::npos) << j;
  EXPECT_TRUE(j.contains("duration_ms")) << j;
  EXPECT_TRUE(j.contains("ts") && j.contains("level")) << j;
}

}  // namespace
}  // namespace kcr::e2e
