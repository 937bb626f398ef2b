#pragma once
// Errors are values: absl::Status / absl::StatusOr<T> carried up to the cri/
// edge, where they become a gRPC status once. Messages name the object and
// the cause.
//
// Debian's abseil is built without std::string_view aliasing:
// absl::string_view and std::string_view are distinct types. Build messages
// with std::string, never pass a std::string_view to absl::StrCat.
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kcr {

using absl::Status;
using absl::StatusOr;

// An errno-carrying error: "what: strerror(err)", with a code chosen from err.
inline Status ErrnoError(std::string_view what, int err = errno) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EEXIST: return absl::AlreadyExistsError(msg);
    case EACCES: case EPERM: return absl::PermissionDeniedError(msg);
    case EINVAL: return absl::InvalidArgumentError(msg);
    case EAGAIN: return absl::UnavailableError(msg);  // try again later
    case ENOSPC: case EDQUOT: case EMFILE: case ENFILE:
      return absl::ResourceExhaustedError(msg);
    default: return absl::InternalError(msg);
  }
}

// Prefixes a status message with context, keeping its code.
inline Status Annotate(const Status& s, std::string_view context) {
  if (s.ok()) return s;
  return Status(s.code(), std::string(context) + ": " + std::string(s.message()));
}

}  // namespace kcr

#define KCR_CONCAT_INNER(a, b) a##b
#define KCR_CONCAT(a, b) KCR_CONCAT_INNER(a, b)

// KCR_RETURN_IF_ERROR(expr): return the status if it is not OK.
#define KCR_RETURN_IF_ERROR(expr)                  \
  do {                                             \
    ::absl::Status _kcr_st = (expr);               \
    if (!_kcr_st.ok()) return _kcr_st;             \
  } while (0)

// KCR_ASSIGN_OR_RETURN(lhs, expr): lhs = value of a StatusOr or return its error.
#define KCR_ASSIGN_OR_RETURN(lhs, expr) \
  KCR_ASSIGN_OR_RETURN_IMPL(KCR_CONCAT(_kcr_or_, __LINE__), lhs, expr)
#define KCR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
