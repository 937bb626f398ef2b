#include "cri/bandwidth.h"

#include <cctype>
#include <cmath>

namespace kcr::cri {

StatusOr<int64_t> ParseQuantity(const std::string& q) {
  auto bad = [&] { return absl::InvalidArgumentError("\"" + q + "\" is not a quantity"); };
  size_t i = 0;
  if (i < q.size() && q[i] == '+') i++;
  size_t digits_start = i;
  while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.')) i++;
  std::string number = q.substr(digits_start, i - digits_start);
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return bad();
  std::string suffix = q.substr(i);
  long double mult = 1;
  static const std::map<std::string, long double> kSuffixes = {
      {"", 1},          {"m", 1e-3L},       {"k", 1e3L},         {"M", 1e6L},         {"G", 1e9L},
      {"T", 1e12L},     {"P", 1e15L},       {"E", 1e18L},        {"Ki", 1024.0L},     {"Mi", 1048576.0L},
      {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L}, {"Pi", 1125899906842624.0L}, {"Ei", 1152921504606846976.0L}};
  if (auto it = kSuffixes.find(suffix); it != kSuffixes.end()) {
    mult = it->second;
  } else if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t j = 1;
    if (suffix[j] == '+' || suffix[j] == '-') j++;
    if (j >= suffix.size()) return bad();
    for (size_t k = j; k < suffix.size(); k++)
      if (!std::isdigit(static_cast<unsigned char>(suffix[k]))) return bad();
    int exp = std::stoi(suffix.substr(1));
    if (exp > 18 || exp < -3) return bad();
    mult = std::pow(10.0L, exp);
  } else {
    return bad();
  }
  long double v = std::stold(number) * mult;
  if (v > 9.2e18L) return absl::InvalidArgumentError("\"" + q + "\" is too large");
  return static_cast<int64_t>(std::ceil(v));
}

StatusOr<PodBandwidth> PodBandwidthFromAnnotations(const std::map<std::string, std::string>& annotations) {
  PodBandwidth b;
  constexpr int64_t kMin = 1000, kMax = 1000000000000000;  // 1 kbit/s .. 1 Pbit/s
  constexpr int64_t kBurst = 4294967295;                    // 2^32-1 bits
  struct Limit {
    const char* name;
    int64_t *rate, *burst;
  };
  for (const Limit& l : {Limit{kIngressBandwidthAnnotation, &b.ingress_rate, &b.ingress_burst},
                         Limit{kEgressBandwidthAnnotation, &b.egress_rate, &b.egress_burst}}) {
    const char* name = l.name;
    auto it = annotations.find(name);
    if (it == annotations.end()) continue;
    auto v = ParseQuantity(it->second);
    if (!v.ok()) return Annotate(v.status(), std::string("annotation ") + name);
    if (*v < kMin || *v > kMax)
      return absl::InvalidArgumentError(std::string("annotation ") + name + ": " + it->second +
                                        " bit/s is outside 1k..1P");
    *l.rate = *v;
    *l.burst = kBurst;
  }
  return b;
}

}  // namespace kcr::cri
