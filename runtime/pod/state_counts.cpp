#include "runtime/pod/state_counts.h"

#include <mutex>

namespace kcr::runtime {

namespace {
std::map<std::string, int64_t> CountByState(Database& db, const char* sql) {
  std::lock_guard<std::recursive_mutex> l(db.mu());
  std::map<std::string, int64_t> out;
  auto st = db.Prepare(sql);
  if (!st.ok()) return out;
  while (true) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    out[st->Text(0)] += st->Int(1);
  }
  return out;
}
}  // namespace

// store.cpp keeps each record as JSON in `body`, its state under "state".
std::map<std::string, int64_t> CountSandboxesByState(Database& db) {
  return CountByState(db, "SELECT json_extract(body, '$.state'), COUNT(*) FROM pod_sandboxes GROUP BY 1");
}

std::map<std::string, int64_t> CountContainersByState(Database& db) {
  return CountByState(db, "SELECT json_extract(body, '$.state'), COUNT(*) FROM pod_containers GROUP BY 1");
}

}  // namespace kcr::runtime
