#include "common/log_format.h"

#include <atomic>
#include <chrono>
#include <ctime>

#include "spdlog/pattern_formatter.h"

namespace kcr {

namespace {

enum class Format { kText, kJson, kLogfmt };
std::atomic<Format> g_format{Format::kText};

// The fields of the record being logged on this thread (LogFields sets it
// around its spdlog call; spdlog's default sinks format synchronously, in
// the caller's thread).
thread_local const std::vector<LogField>* t_fields = nullptr;

void Append(spdlog::memory_buf_t& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void AppendJsonString(spdlog::memory_buf_t& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': Append(out, "\\\""); break;
      case '\\': Append(out, "\\\\"); break;
      case '\n': Append(out, "\\n"); break;
      case '\r': Append(out, "\\r"); break;
      case '\t': Append(out, "\\t"); break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// logfmt: bare when the value has no space, quote, '=' or control
// character, else a quoted string with JSON's escapes.
void AppendLogfmtValue(spdlog::memory_buf_t& out, std::string_view s) {
  bool bare = !s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) bare = false;
  if (bare) {
    Append(out, s);
  } else {
    AppendJsonString(out, s);
  }
}

void AppendTime(spdlog::memory_buf_t& out, spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

std::string_view LevelName(spdlog::level::level_enum l) {
  auto v = spdlog::level::to_string_view(l);
  return std::string_view(v.data(), v.size());
}

class StructuredFormatter final : public spdlog::formatter {
 public:
  explicit StructuredFormatter(Format f) : f_(f) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    if (f_ == Format::kJson) {
      Append(out, "{\"ts\":\"");
      AppendTime(out, msg.time);
      Append(out, "\",\"level\":\"");
      Append(out, LevelName(msg.level));
      Append(out, "\",\"msg\":");
      AppendJsonString(out, text);
      if (t_fields)
        for (const auto& [k, v] : *t_fields) {
          if (v.empty()) continue;
          out.push_back(',');
          AppendJsonString(out, k);
          out.push_back(':');
          AppendJsonString(out, v);
        }
      Append(out, "}\n");
    } else {
      Append(out, "ts=");
      AppendTime(out, msg.time);
      Append(out, " level=");
      Append(out, LevelName(msg.level));
      Append(out, " msg=");
      AppendJsonString(out, text);  // always quoted, as logfmt writers do for msg
      if (t_fields)
        for (const auto& [k, v] : *t_fields) {
          if (v.empty()) continue;
          out.push_back(' ');
          Append(out, k);
          out.push_back('=');
          AppendLogfmtValue(out, v);
        }
      out.push_back('\n');
    }
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<StructuredFormatter>(f_); }

 private:
  Format f_;
};

void Install(Format f) {
  if (f == Format::kText) {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_formatter(std::make_unique<StructuredFormatter>(f));
  }
}

}  // namespace

Status SetLogLevel(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return absl::InvalidArgumentError("unknown log level \"" + level + "\" (trace|debug|info|warn|error)");
  spdlog::set_level(lvl);
  Install(g_format.load());
  return absl::OkStatus();
}

Status SetLogFormat(const std::string& format) {
  Format f;
  if (format == "text") {
    f = Format::kText;
  } else if (format == "json") {
    f = Format::kJson;
  } else if (format == "logfmt") {
    f = Format::kLogfmt;
  } else {
    return absl::InvalidArgumentError("unknown log format \"" + format + "\" (text|json|logfmt)");
  }
  g_format.store(f);
  Install(f);
  return absl::OkStatus();
}

void LogFields(spdlog::level::level_enum level, std::string_view msg, const std::vector<LogField>& fields) {
  if (!spdlog::should_log(level)) return;
  if (g_format.load(std::memory_order_relaxed) == Format::kText) {
    std::string line(msg);
    for (const auto& [k, v] : fields) {
      if (v.empty()) continue;
      line.append(" ").append(k).append("=").append(v);
    }
    spdlog::log(level, "{}", line);
    return;
  }
  t_fields = &fields;
  spdlog::log(level, "{}", msg);
  t_fields = nullptr;
}

void LogFields(spdlog::level::level_enum level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  LogFields(level, msg, std::vector<LogField>(fields));
}

}  // namespace kcr
