#include "cri/metrics_interceptor.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <chrono>
#include <vector>

#include "common/log_format.h"

namespace kcr::cri {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The objects a CRI request names, as log fields: pod_id, container_id,
// image; a RunPodSandbox or CreateContainer names its new object by
// metadata (pod, namespace / container).
struct Objects {
  std::string pod_id, container_id, image, name, ns;
};

const std::string* StringField(const Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  if (!f || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return nullptr;
  static thread_local std::string scratch;
  return &m.GetReflection()->GetStringReference(m, f, &scratch);
}

const Message* MessageField(const Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  if (!f || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return nullptr;
  if (!m.GetReflection()->HasField(m, f)) return nullptr;
  return &m.GetReflection()->GetMessage(m, f);
}

Objects ObjectsOf(const Message& req) {
  Objects o;
  if (auto* s = StringField(req, "pod_sandbox_id")) o.pod_id = *s;
  if (auto* s = StringField(req, "container_id")) o.container_id = *s;
  if (auto* img = MessageField(req, "image"))
    if (auto* s = StringField(*img, "image")) o.image = *s;
  if (auto* cfg = MessageField(req, "config")) {
    if (auto* md = MessageField(*cfg, "metadata")) {
      if (auto* s = StringField(*md, "name")) o.name = *s;
      if (auto* s = StringField(*md, "namespace")) o.ns = *s;
    }
    if (o.image.empty())
      if (auto* img = MessageField(*cfg, "image"))
        if (auto* s = StringField(*img, "image")) o.image = *s;
  }
  return o;
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics::Method& method) : method_(method), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* b) override {
    using grpc::experimental::InterceptionHookPoints;
    // The request lives as long as the call, but the IDs are copied now:
    // a streaming call's next message replaces it.
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) && !have_objects_) {
      if (void* m = b->GetRecvMessage()) {
        // Every CRI request is a generated protobuf message (single
        // inheritance from Message).
        objects_ = ObjectsOf(*static_cast<const Message*>(m));
        have_objects_ = true;
      }
    }
    // The IDs a call creates (RunPodSandbox, CreateContainer) are in its answer.
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE) && !answered_) {
      answered_ = true;
      if (const void* m = b->GetSendMessage()) {
        const Message& resp = *static_cast<const Message*>(m);
        if (auto* s = StringField(resp, "pod_sandbox_id"); s && objects_.pod_id.empty()) objects_.pod_id = *s;
        if (auto* s = StringField(resp, "container_id"); s && objects_.container_id.empty()) objects_.container_id = *s;
      }
    }
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status st = b->GetSendStatus();
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
      int code = static_cast<int>(st.error_code());
      method_.Record(code, took.count());
      Log(st, code, took.count());
    }
    b->Proceed();
  }

 private:
  void Log(const grpc::Status& st, int code, double seconds) {
    spdlog::level::level_enum level = spdlog::level::debug;
    if (!st.ok()) {
      level = st.error_code() == grpc::StatusCode::INTERNAL || st.error_code() == grpc::StatusCode::UNKNOWN ||
                      st.error_code() == grpc::StatusCode::DATA_LOSS
                  ? spdlog::level::err
                  : spdlog::level::warn;
      // Expected answers of an idle node (a status of something gone, an
      // RPC kcr does not implement) stay at debug.
      if (st.error_code() == grpc::StatusCode::NOT_FOUND || st.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        level = spdlog::level::debug;
    }
    if (!spdlog::should_log(level)) return;
    std::string ms = fmt::format("{:.3f}", seconds * 1000);
    LogFields(level, st.ok() ? "CRI request" : "CRI request failed",
              {{"method", method_.name()},
               {"pod_id", objects_.pod_id},
               {"container_id", objects_.container_id},
               {"image", objects_.image},
               {"name", objects_.name},
               {"namespace", objects_.ns},
               {"code", Metrics::CodeName(code)},
               {"duration_ms", ms},
               {"error", st.error_message()}});
  }

  Metrics::Method& method_;
  std::chrono::steady_clock::time_point start_;
  Objects objects_;
  bool have_objects_ = false;
  bool answered_ = false;
};

}  // namespace

grpc::experimental::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(metrics_.ForMethod(info->method()));
}

}  // namespace kcr::cri
