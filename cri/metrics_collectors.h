#pragma once
// Scrape-time collectors: values read when Prometheus asks, so nothing on
// a hot path keeps them. ProcessCollector reads /proc/self with the names
// the Go and Python clients use (process_*); StateCollector counts kcr's
// pods and containers by state from its database (one GROUP BY query per
// table; no record is decoded).
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "common/sqlite.h"

namespace kcr::cri {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds, process_threads. `proc_dir` is the process's
// /proc directory (tests point it elsewhere). A value that cannot be read
// is left out of the scrape, never reported as 0.
class ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string proc_dir = "/proc/self", std::string proc_stat = "/proc/stat")
      : dir_(std::move(proc_dir)), proc_stat_(std::move(proc_stat)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string dir_, proc_stat_;
};

// kcr_pods{state}, kcr_containers{state} and kcr_monitors_running: every
// state is always present (0 when none), so a rate or an alert never sees
// a series vanish. One read of the store per scrape.
class StateCollector final : public prometheus::Collectable {
 public:
  // `db` (kcr's database, holding the pod tables) is borrowed and outlives
  // the collector.
  explicit StateCollector(Database& db) : db_(db) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Database& db_;
};

}  // namespace kcr::cri
