#pragma once
// Log output formats and structured fields (common/log.h is the logging
// entry point; this adds what the daemon configures and what its request
// log uses). Three formats: "text" (a timestamp, the level and the
// message), "json" (one object per line: ts, level, msg, then any fields)
// and "logfmt" (ts=... level=... msg="..." key=value ...). Fields given
// with LogFields become JSON keys or logfmt pairs, and " key=value" after
// the message in text.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/log.h"

namespace kcr {

// Sets the output format of every logger: "text", "json" or "logfmt".
// InvalidArgument on others.
Status SetLogFormat(const std::string& format);

using LogField = std::pair<std::string_view, std::string_view>;

// Logs `msg` at `level` with structured fields (empty values are left out).
// Cheap when the level is off: nothing is formatted.
void LogFields(spdlog::level::level_enum level, std::string_view msg, const std::vector<LogField>& fields);
void LogFields(spdlog::level::level_enum level, std::string_view msg, std::initializer_list<LogField> fields);
}  // namespace kcr
