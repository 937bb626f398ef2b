#pragma once
// The CRI's server-streaming list RPCs (StreamContainers, StreamImages,
// ...): every item exactly once, `per_message` to a message, so no message
// nears gRPC's size limit however many items there are.
#include <grpcpp/grpcpp.h>

namespace kcr::cri {

// Calls `add(message, item)` for each of `items`; `add` returns false to
// skip an item (a filter). Stops with CANCELLED when the client has gone
// (`ctx` cancelled, or a Write refused). `Writer` is a
// grpc::ServerWriter<Response> (or anything with bool Write(const Response&)).
template <typename Response, typename Writer, typename Items, typename Add>
grpc::Status WriteChunked(grpc::ServerContext* ctx, Writer* w, Items&& items, int per_message, Add add) {
  Response message;
  int n = 0;
  for (auto&& item : items) {
    if (!add(message, item)) continue;
    if (++n == per_message) {
      if ((ctx && ctx->IsCancelled()) || !w->Write(message)) return grpc::Status::CANCELLED;
      message.Clear();
      n = 0;
    }
  }
  if (n > 0 && !w->Write(message)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

}  // namespace kcr::cri
