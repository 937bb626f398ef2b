#pragma once
// Pod traffic shaping from kubelet's annotations, for CNI's bandwidth
// capability: kubernetes.io/ingress-bandwidth and
// kubernetes.io/egress-bandwidth, Kubernetes quantities in bits per second
// ("10M", "1Gi", "500k").
#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace kcr::cri {

inline constexpr const char* kIngressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth";
inline constexpr const char* kEgressBandwidthAnnotation = "kubernetes.io/egress-bandwidth";

struct PodBandwidth {
  int64_t ingress_rate = 0, ingress_burst = 0;  // bits/s and bits; 0: no limit
  int64_t egress_rate = 0, egress_burst = 0;
};

// A Kubernetes quantity ("1.5M", "10Mi", "2e6", "100") in whole units,
// rounded up. InvalidArgument for anything else (negative included).
StatusOr<int64_t> ParseQuantity(const std::string& q);

// The limits the annotations ask for; InvalidArgument naming the annotation
// for a value that does not parse or lies outside [1 kbit/s, 1 Pbit/s] (the
// range kubelet accepts). A limit's burst is the bandwidth plugin's
// largest (2^32-1 bits), as kubelet's runtimes have always set it.
StatusOr<PodBandwidth> PodBandwidthFromAnnotations(const std::map<std::string, std::string>& annotations);

}  // namespace kcr::cri
