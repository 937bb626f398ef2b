#include "common/log.h"

namespace kcr {
Status SetLogLevel(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return absl::InvalidArgumentError("unknown log level \"" + level + "\" (trace|debug|info|warn|error)");
  spdlog::set_level(lvl);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  return absl::OkStatus();
}
}  // namespace kcr
