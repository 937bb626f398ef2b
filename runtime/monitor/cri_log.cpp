#include "runtime/monitor/cri_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace kcr::monitor {

std::string Rfc3339NanoNow() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

StatusOr<CriLogWriter> CriLogWriter::Open(const std::string& path) {
  UniqueFd fd;
  if (!path.empty()) {
    fd.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!fd) return ErrnoError("open container log " + path);
  }
  CriLogWriter w(path, std::move(fd));
  w.clock = Rfc3339NanoNow;
  return w;
}

void CriLogWriter::Record(const char* stream, char tag, const std::string& content) {
  if (!fd_) return;
  std::string line = clock() + " " + stream + " " + tag + " " + content + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t w = ::write(fd_.get(), line.data() + off, line.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a full disk loses log lines, never the container
    off += static_cast<size_t>(w);
  }
}

void CriLogWriter::Write(const char* stream, const char* data, size_t n) {
  std::string& pending = std::strcmp(stream, "stdout") == 0 ? pending_out_ : pending_err_;
  pending.append(data, n);
  size_t start = 0;
  for (;;) {
    size_t nl = pending.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = pending.substr(start, nl - start);
    while (line.size() > kMaxLine) {
      Record(stream, 'P', line.substr(0, kMaxLine));
      line.erase(0, kMaxLine);
    }
    Record(stream, 'F', line);
    start = nl + 1;
  }
  pending.erase(0, start);
  while (pending.size() >= kMaxLine) {
    Record(stream, 'P', pending.substr(0, kMaxLine));
    pending.erase(0, kMaxLine);
  }
}

void CriLogWriter::Flush(const char* stream) {
  std::string& pending = std::strcmp(stream, "stdout") == 0 ? pending_out_ : pending_err_;
  // Output that ends without a newline stays partial, as CRI-O writes it.
  if (!pending.empty()) Record(stream, 'P', pending);
  pending.clear();
}

Status CriLogWriter::Reopen() {
  if (path_.empty()) return absl::OkStatus();
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd) return ErrnoError("reopen container log " + path_);
  fd_ = std::move(fd);
  return absl::OkStatus();
}

}  // namespace kcr::monitor
