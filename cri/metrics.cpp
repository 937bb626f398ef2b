#include "cri/metrics.h"

#include <google/protobuf/descriptor.h>

#include <tuple>

#include "api/api.pb.h"

namespace kcr::cri {

namespace {

// CRI calls range from microseconds (Version, List*) to minutes (a slow
// StopContainer, ExecSync with a long timeout).
const prometheus::Histogram::BucketBoundaries kRpcBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,   0.5,   1,      2.5,   5,    10,    30,    60,
                                                             120,    300};
const prometheus::Histogram::BucketBoundaries kPullBuckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
const prometheus::Histogram::BucketBoundaries kCniBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

constexpr const char* kReasons[] = {"not_found", "unauthorized",    "too_large", "timeout",
                                    "digest_mismatch", "cancelled", "other"};

bool Contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

}  // namespace

const char* Metrics::CodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",       "Canceled",    "Unknown",      "InvalidArgument",   "DeadlineExceeded", "NotFound",
      "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
      "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"};
  return code >= 0 && code < 17 ? kNames[code] : "Unknown";
}

Metrics::Metrics(const BuildInfo& build) : registry_(std::make_shared<prometheus::Registry>()) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1);
  auto& r = *registry_;
  requests_ = &prometheus::BuildCounter()
                   .Name("kcr_cri_requests_total")
                   .Help("CRI requests answered, by method and gRPC status code.")
                   .Register(r);
  request_duration_ =
      &prometheus::BuildHistogram()
           .Name("kcr_cri_request_duration_seconds")
           .Help("Time to answer a CRI request, by method. RunPodSandbox is pod start; CreateContainer, "
                 "StartContainer, StopContainer and ExecSync are the container operations' latencies.")
           .Register(r);
  // Every method of both CRI services, from the compiled-in descriptors.
  // (Reached through a message's descriptor, which also links the
  // generated file in.)
  const google::protobuf::FileDescriptor* api = ::runtime::v1::VersionRequest::descriptor()->file();
  for (int s = 0; s < api->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* sd = api->service(s);
    for (int i = 0; i < sd->method_count(); ++i) {
      const std::string& name = sd->method(i)->name();
      methods_.emplace("/" + sd->full_name() + "/" + name, std::unique_ptr<Method>(new Method(*this, name)));
    }
  }
  unknown_method_.reset(new Method(*this, "unknown"));

  pull_failures_ = &prometheus::BuildCounter()
                        .Name("kcr_image_pull_failures_total")
                        .Help("Failed image pulls by reason: not_found, unauthorized, too_large, timeout, "
                              "digest_mismatch, cancelled, other.")
                        .Register(r);
  for (const char* reason : kReasons) pull_failure_by_reason_[reason] = &pull_failures_->Add({{"reason", reason}});
  auto& pulls = prometheus::BuildCounter()
                    .Name("kcr_image_pulls_total")
                    .Help("Image pulls finished, by result (success or failure).")
                    .Register(r);
  pulls_ok_ = &pulls.Add({{"result", "success"}});
  pulls_failed_ = &pulls.Add({{"result", "failure"}});
  pull_bytes_ = &prometheus::BuildCounter()
                     .Name("kcr_image_pull_bytes_total")
                     .Help("Blob bytes downloaded from registries by image pulls (retries count again).")
                     .Register(r)
                     .Add({});
  pull_duration_ = &prometheus::BuildHistogram()
                        .Name("kcr_image_pull_duration_seconds")
                        .Help("Time a PullImage took, successful or not.")
                        .Register(r)
                        .Add({}, kPullBuckets);
  pulls_in_flight_ = &prometheus::BuildGauge()
                          .Name("kcr_image_pulls_in_flight")
                          .Help("Image pulls in progress.")
                          .Register(r)
                          .Add({});
  pull_in_flight_bytes_ = &prometheus::BuildGauge()
                               .Name("kcr_image_pull_in_flight_bytes")
                               .Help("Blob bytes the pulls in progress have downloaded so far.")
                               .Register(r)
                               .Add({});

  cni_duration_ = &prometheus::BuildHistogram()
                       .Name("kcr_cni_operation_duration_seconds")
                       .Help("Time a CNI plugin call took, by plugin type and operation (ADD, DEL, ...).")
                       .Register(r);
  cni_failures_ = &prometheus::BuildCounter()
                       .Name("kcr_cni_operation_failures_total")
                       .Help("CNI plugin calls that failed, by plugin type and operation.")
                       .Register(r);

  monitors_lost_ = &prometheus::BuildCounter()
                        .Name("kcr_monitors_lost_total")
                        .Help("Pod monitors that died or stopped answering (their pods became NOTREADY). kcr "
                              "never restarts a monitor: a lost one is counted here once.")
                        .Register(r)
                        .Add({});

  prometheus::BuildGauge()
      .Name("kcr_build_info")
      .Help("kcrd's build: version, git commit, CRI API version, and the cgroup driver in use.")
      .Register(r)
      .Add({{"version", build.version},
            {"git_commit", build.git_commit},
            {"cri_api_version", build.cri_api_version},
            {"cgroup_driver", build.cgroup_driver}})
      .Set(1);
}

Metrics::Method& Metrics::ForMethod(std::string_view full_method) {
  auto it = methods_.find(full_method);
  return it == methods_.end() ? *unknown_method_ : *it->second;
}

void Metrics::Method::Record(int code, double seconds) {
  if (code < 0 || code >= 17) code = 2;  // Unknown
  // Two first calls may both Add: Family::Add returns the existing series
  // for labels it holds, so both store the same pointer.
  prometheus::Counter* c = by_code_[code].load(std::memory_order_acquire);
  if (!c) {
    c = &m_.requests_->Add({{"method", name_}, {"code", CodeName(code)}});
    by_code_[code].store(c, std::memory_order_release);
  }
  prometheus::Histogram* h = duration_.load(std::memory_order_acquire);
  if (!h) {
    h = &m_.request_duration_->Add({{"method", name_}}, kRpcBuckets);
    duration_.store(h, std::memory_order_release);
  }
  c->Increment();
  h->Observe(seconds);
}

Metrics::Pull::Pull(Metrics& m) : m_(m), start_(std::chrono::steady_clock::now()) {
  m_.pulls_in_flight_->Increment();
}

void Metrics::Pull::AddBytes(size_t n) {
  bytes_.fetch_add(n, std::memory_order_relaxed);
  m_.pull_bytes_->Increment(static_cast<double>(n));
  m_.pull_in_flight_bytes_->Increment(static_cast<double>(n));
}

void Metrics::Pull::Finish(const Status& result) {
  if (finished_.exchange(true)) return;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
  m_.pull_duration_->Observe(took.count());
  if (result.ok()) {
    m_.pulls_ok_->Increment();
  } else {
    m_.pulls_failed_->Increment();
    m_.pull_failure_by_reason_.find(PullFailureReason(result))->second->Increment();
  }
  m_.pulls_in_flight_->Decrement();
  m_.pull_in_flight_bytes_->Decrement(static_cast<double>(bytes_.load()));
}

Metrics::Pull::~Pull() { Finish(absl::UnknownError("pull ended without a result")); }

std::unique_ptr<Metrics::Pull> Metrics::StartPull() { return std::unique_ptr<Pull>(new Pull(*this)); }

const char* Metrics::PullFailureReason(const Status& s) {
  std::string_view msg(s.message().data(), s.message().size());
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return "not_found";
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return "unauthorized";
    case absl::StatusCode::kDeadlineExceeded: return "timeout";
    case absl::StatusCode::kCancelled: return "cancelled";
    case absl::StatusCode::kDataLoss:
      // A blob announced larger than its descriptor is a size problem; any
      // other data loss is content that does not match its digest.
      return Contains(msg, "more than") || Contains(msg, "larger than") ? "too_large" : "digest_mismatch";
    case absl::StatusCode::kFailedPrecondition:
      // images/ names the limit it enforced (images.max_layer_bytes, ...).
      if (Contains(msg, "max_layer_bytes") || Contains(msg, "max_image_bytes") || Contains(msg, "larger than") ||
          Contains(msg, "exceeds"))
        return "too_large";
      return "other";
    default: return "other";
  }
}

void Metrics::CniCall(const std::string& plugin, const std::string& operation, double seconds, bool ok) {
  // Family::Add takes the family's mutex, shared by every pod start and
  // stop: each thread finds its series in its own cache instead, keyed by
  // this Metrics' id (never an address a later Metrics could reuse). The
  // cache is bounded by the configuration's plugins times the operations.
  struct Series {
    prometheus::Histogram* duration;
    prometheus::Counter* failures;
  };
  thread_local std::map<std::tuple<uint64_t, std::string, std::string>, Series, std::less<>> cache;
  auto key = std::make_tuple(id_, plugin, operation);
  auto it = cache.find(key);
  if (it == cache.end()) {
    prometheus::Labels labels{{"plugin", plugin}, {"operation", operation}};
    it = cache.emplace(std::move(key), Series{&cni_duration_->Add(labels, kCniBuckets), &cni_failures_->Add(labels)})
             .first;
  }
  it->second.duration->Observe(seconds);
  if (!ok) it->second.failures->Increment();
}

}  // namespace kcr::cri
