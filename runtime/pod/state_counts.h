#pragma once
// Pod and container counts by state, straight from the pod tables (whose
// layout runtime/pod/store.cpp owns), without decoding records: cheap
// enough for every metrics scrape.
#include <cstdint>
#include <map>
#include <string>

#include "common/sqlite.h"

namespace kcr::runtime {

// State name -> records: sandboxes "ready", "notready"; containers
// "created", "running", "exited", "unknown". States with no record are
// absent; a database error gives an empty map.
std::map<std::string, int64_t> CountSandboxesByState(Database& db);
std::map<std::string, int64_t> CountContainersByState(Database& db);

}  // namespace kcr::runtime
