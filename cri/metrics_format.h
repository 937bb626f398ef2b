#pragma once
// The two exposition formats /metrics serves and how a scrape picks one.
// prometheus-cpp 1.0.1 serialises text format 0.0.4 only (its
// TextSerializer); OpenMetrics 1.0.0 is written here over the same
// collected MetricFamily values, so the families stay prometheus-cpp's.
//   https://github.com/prometheus/docs/blob/main/content/docs/instrumenting/exposition_formats.md
//   https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace kcr::cri {

enum class ExpositionFormat { kText004, kOpenMetrics100 };

// The format for a request's Accept header (empty when absent): OpenMetrics
// only when `application/openmetrics-text` (no version, or 1.0.0 or 0.0.1,
// which 1.0.0 output satisfies) is accepted with a q at least as high as
// any text/plain, text/* or */* entry; otherwise, including for any header
// that does not parse, text 0.0.4. Never fails.
ExpositionFormat NegotiateFormat(std::string_view accept);

// The Content-Type header value of each format (with its version and charset).
const char* ContentType(ExpositionFormat f);

// `families` in `f`. OpenMetrics: a counter family's name drops `_total`
// in its metadata and its samples carry it; `# UNIT` for names ending in
// _seconds or _bytes; untyped families are `unknown`; the text ends with
// `# EOF`.
std::string Serialize(ExpositionFormat f, const std::vector<prometheus::MetricFamily>& families);

}  // namespace kcr::cri
