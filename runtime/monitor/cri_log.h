#pragma once
// CRI container log format, as kubelet reads it:
//   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n
// A line longer than the maximum is split into P(artial) records; the last
// piece of a line is F(ull). Output without a trailing newline yet is held
// until the newline arrives or the stream ends.
#include <functional>
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::monitor {

class CriLogWriter {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;
  // Opens `path` for appending (created 0640). Empty path: discard output.
  static StatusOr<CriLogWriter> Open(const std::string& path);
  CriLogWriter(CriLogWriter&&) = default;

  // Feeds bytes of `stream` ("stdout"/"stderr").
  void Write(const char* stream, const char* data, size_t n);
  // At the end of `stream`: emits output still waiting for a newline as a
  // final P record (the line never ended).
  void Flush(const char* stream);
  // Reopens the file at its path (log rotation: kubelet renamed it).
  Status Reopen();

  // For tests: the timestamp source.
  std::function<std::string()> clock;

 private:
  CriLogWriter(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  void Record(const char* stream, char tag, const std::string& content);
  std::string path_;
  UniqueFd fd_;
  std::string pending_out_, pending_err_;
};

std::string Rfc3339NanoNow();

}  // namespace kcr::monitor
