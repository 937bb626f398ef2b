#include "cri/metrics_collectors.h"

#include "runtime/pod/state_counts.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace kcr::cri {

namespace {

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void AddGauge(std::vector<prometheus::MetricFamily>& out, const char* name, const char* help, double v) {
  auto f = Family(name, help, prometheus::MetricType::Gauge);
  f.metric.emplace_back().gauge.value = v;
  out.push_back(std::move(f));
}

bool ReadSmallFile(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// The fields of /proc/<pid>/stat after "(comm)", which may hold spaces and
// parentheses: the first one here is field 3 (state).
std::vector<std::string> StatFields(const std::string& stat) {
  std::vector<std::string> f;
  auto close = stat.rfind(')');
  if (close == std::string::npos) return f;
  std::istringstream in(stat.substr(close + 1));
  std::string w;
  while (in >> w) f.push_back(w);
  return f;
}

double BootTime(const std::string& proc_stat) {
  std::string s;
  if (!ReadSmallFile(proc_stat, s)) return -1;
  auto at = s.find("\nbtime ");
  if (at == std::string::npos) return -1;
  return std::strtod(s.c_str() + at + 7, nullptr);
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::string stat;
  if (ReadSmallFile(dir_ + "/stat", stat)) {
    // proc(5): field n is f[n - 3]: utime 14, stime 15, num_threads 20,
    // starttime 22, vsize 23, rss 24.
    std::vector<std::string> f = StatFields(stat);
    if (f.size() > 21) {
      auto field = [&](int n) { return std::strtod(f[n - 3].c_str(), nullptr); };
      auto cpu = Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                        prometheus::MetricType::Counter);
      cpu.metric.emplace_back().counter.value = (field(14) + field(15)) / ticks;
      out.push_back(std::move(cpu));
      AddGauge(out, "process_threads", "Number of OS threads in the process.", field(20));
      AddGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", field(23));
      AddGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", field(24) * page);
      if (double boot = BootTime(proc_stat_); boot >= 0)
        AddGauge(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                 boot + field(22) / ticks);
    }
  }
  if (DIR* d = ::opendir((dir_ + "/fd").c_str())) {
    double n = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    AddGauge(out, "process_open_fds", "Number of open file descriptors.", n - 1);  // less opendir's own
  }
  std::string limits;
  if (ReadSmallFile(dir_ + "/limits", limits)) {
    // "Max open files            1024                 1048576              files"
    auto at = limits.find("Max open files");
    if (at != std::string::npos) {
      std::istringstream in(limits.substr(at + 14));
      std::string soft;
      if (in >> soft && soft != "unlimited")
        AddGauge(out, "process_max_fds", "Maximum number of open file descriptors.", std::strtod(soft.c_str(), nullptr));
    }
  }
  return out;
}

std::vector<prometheus::MetricFamily> StateCollector::Collect() const {
  std::map<std::string, int64_t> pod_states = kcr::runtime::CountSandboxesByState(db_);
  std::map<std::string, int64_t> ctr_states = kcr::runtime::CountContainersByState(db_);
  double ready = static_cast<double>(pod_states["ready"]), not_ready = static_cast<double>(pod_states["notready"]);
  const char* names[4] = {"created", "running", "exited", "unknown"};
  double by_state[4] = {0, 0, 0, 0};
  for (const auto& [state, n] : ctr_states) {
    int i = 3;  // a state this kcrd does not know counts as unknown
    for (int k = 0; k < 3; ++k)
      if (state == names[k]) i = k;
    by_state[i] += static_cast<double>(n);
  }
  std::vector<prometheus::MetricFamily> out;
  auto pods = Family("kcr_pods", "Pod sandboxes kcr holds, by state (ready, notready).", prometheus::MetricType::Gauge);
  for (auto [state, v] : {std::pair{"ready", ready}, std::pair{"notready", not_ready}}) {
    auto& m = pods.metric.emplace_back();
    m.label = {{"state", state}};
    m.gauge.value = v;
  }
  out.push_back(std::move(pods));
  auto ctrs = Family("kcr_containers", "Containers kcr holds, by state (created, running, exited, unknown).",
                     prometheus::MetricType::Gauge);
  for (int i = 0; i < 4; ++i) {
    auto& m = ctrs.metric.emplace_back();
    m.label = {{"state", names[i]}};
    m.gauge.value = by_state[i];
  }
  out.push_back(std::move(ctrs));
  // A READY pod is one whose monitor runs and answers: kcrd makes a pod
  // NOTREADY when its monitor is lost or stopped.
  AddGauge(out, "kcr_monitors_running", "Pod monitors running: one per READY pod.", ready);
  return out;
}

}  // namespace kcr::cri
