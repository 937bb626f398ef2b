#include "cri/metrics_format.h"

#include <prometheus/text_serializer.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace kcr::cri {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// One media range of an Accept header: its type and the q and version
// parameters; ok is false for a range that does not parse (it is ignored).
struct Range {
  std::string_view type, version;
  double q = 1;
  bool ok = true;
};

Range ParseRange(std::string_view item) {
  Range r;
  size_t semi = item.find(';');
  r.type = Trim(item.substr(0, semi));
  if (r.type.empty() || r.type.find('/') == std::string_view::npos) r.ok = false;
  while (semi != std::string_view::npos) {
    item.remove_prefix(semi + 1);
    semi = item.find(';');
    std::string_view param = Trim(item.substr(0, semi));
    if (param.empty()) continue;
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      r.ok = false;
      continue;
    }
    std::string_view key = Trim(param.substr(0, eq)), value = Trim(param.substr(eq + 1));
    if (IEquals(key, "q")) {
      // RFC 9110's qvalue: 0 to 1, up to three decimals.
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), r.q);
      if (ec != std::errc() || end != value.data() + value.size() || !(r.q >= 0 && r.q <= 1)) r.ok = false;
    } else if (IEquals(key, "version")) {
      r.version = value;
    }
  }
  return r;
}

void Escape(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        if (quote) {
          out += "\\\"";
          break;
        }
        [[fallthrough]];
      default: out += c;
    }
  }
}

// OpenMetrics numbers: shortest round-trip form; +Inf, -Inf, NaN.
void Number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

// A bucket bound as OpenMetrics' canonical number: always a float ("1.0").
void Bound(std::string& out, double v) {
  size_t at = out.size();
  Number(out, v);
  std::string_view written(out.data() + at, out.size() - at);
  if (std::isfinite(v) && written.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void Sample(std::string& out, std::string_view name, std::string_view suffix,
            const std::vector<prometheus::ClientMetric::Label>& labels, std::string_view extra_name,
            std::string_view extra_value, double value, int64_t timestamp_ms) {
  out.append(name).append(suffix);
  if (!labels.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!first) out += ',';
      first = false;
      out.append(l.name).append("=\"");
      Escape(out, l.value, true);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out.append(extra_name).append("=\"").append(extra_value).append("\"");
    }
    out += '}';
  }
  out += ' ';
  Number(out, value);
  if (timestamp_ms != 0) {
    // OpenMetrics timestamps are seconds.
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<double>(timestamp_ms) / 1000.0);
    out += ' ';
    out.append(buf, end);
  }
  out += '\n';
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void OpenMetricsFamily(std::string& out, const prometheus::MetricFamily& f) {
  using prometheus::MetricType;
  std::string_view name = f.name;
  if (f.type == MetricType::Counter && EndsWith(name, "_total")) name.remove_suffix(6);
  const char* type = "unknown";
  switch (f.type) {
    case MetricType::Counter: type = "counter"; break;
    case MetricType::Gauge: type = "gauge"; break;
    case MetricType::Summary: type = "summary"; break;
    case MetricType::Histogram: type = "histogram"; break;
    case MetricType::Untyped: type = "unknown"; break;
  }
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  // A unit must be the name's suffix (Prometheus rejects it otherwise).
  if (EndsWith(name, "_seconds")) out.append("# UNIT ").append(name).append(" seconds\n");
  if (EndsWith(name, "_bytes")) out.append("# UNIT ").append(name).append(" bytes\n");
  if (!f.help.empty()) {
    out.append("# HELP ").append(name).append(" ");
    Escape(out, f.help, true);
    out += '\n';
  }
  for (const auto& m : f.metric) {
    switch (f.type) {
      case MetricType::Counter: Sample(out, name, "_total", m.label, "", "", m.counter.value, m.timestamp_ms); break;
      case MetricType::Gauge: Sample(out, name, "", m.label, "", "", m.gauge.value, m.timestamp_ms); break;
      case MetricType::Untyped: Sample(out, name, "", m.label, "", "", m.untyped.value, m.timestamp_ms); break;
      case MetricType::Summary:
        for (const auto& q : m.summary.quantile) {
          std::string qs;
          Number(qs, q.quantile);
          Sample(out, name, "", m.label, "quantile", qs, q.value, m.timestamp_ms);
        }
        Sample(out, name, "_sum", m.label, "", "", m.summary.sample_sum, m.timestamp_ms);
        Sample(out, name, "_count", m.label, "", "", static_cast<double>(m.summary.sample_count), m.timestamp_ms);
        break;
      case MetricType::Histogram: {
        bool has_inf = false;
        std::string le;
        for (const auto& b : m.histogram.bucket) {
          le.clear();
          Bound(le, b.upper_bound);
          has_inf = has_inf || std::isinf(b.upper_bound);
          Sample(out, name, "_bucket", m.label, "le", le, static_cast<double>(b.cumulative_count), m.timestamp_ms);
        }
        // OpenMetrics requires the +Inf bucket, equal to _count.
        if (!has_inf)
          Sample(out, name, "_bucket", m.label, "le", "+Inf", static_cast<double>(m.histogram.sample_count),
                 m.timestamp_ms);
        Sample(out, name, "_count", m.label, "", "", static_cast<double>(m.histogram.sample_count), m.timestamp_ms);
        Sample(out, name, "_sum", m.label, "", "", m.histogram.sample_sum, m.timestamp_ms);
        break;
      }
    }
  }
}

}  // namespace

ExpositionFormat NegotiateFormat(std::string_view accept) {
  double om = 0, text = 0;
  bool any_om = false;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    Range r = ParseRange(accept.substr(0, comma));
    accept.remove_prefix(comma == std::string_view::npos ? accept.size() : comma + 1);
    if (!r.ok) continue;
    if (IEquals(r.type, "application/openmetrics-text")) {
      if (r.version.empty() || r.version == "1.0.0" || r.version == "0.0.1") {
        any_om = true;
        om = std::max(om, r.q);
      }
    } else if (IEquals(r.type, "text/plain") || IEquals(r.type, "text/*") || IEquals(r.type, "*/*")) {
      text = std::max(text, r.q);
    }
  }
  return any_om && om > 0 && om >= text ? ExpositionFormat::kOpenMetrics100 : ExpositionFormat::kText004;
}

const char* ContentType(ExpositionFormat f) {
  return f == ExpositionFormat::kOpenMetrics100 ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                                : "text/plain; version=0.0.4; charset=utf-8";
}

std::string Serialize(ExpositionFormat f, const std::vector<prometheus::MetricFamily>& families) {
  if (f == ExpositionFormat::kText004) return prometheus::TextSerializer().Serialize(families);
  std::string out;
  out.reserve(64 * 1024);
  for (const auto& family : families) OpenMetricsFamily(out, family);
  out += "# EOF\n";
  return out;
}

}  // namespace kcr::cri
