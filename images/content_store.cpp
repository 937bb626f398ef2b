#include "images/content_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "common/fs.h"
#include "images/reference.h"

namespace kcr::images {

Status ContentStore::Init() {
  KCR_RETURN_IF_ERROR(fs::MkdirAll(paths_.ContentBlobs(), 0700));
  KCR_RETURN_IF_ERROR(fs::RemoveAll(paths_.ContentIngest()));
  return fs::MkdirAll(paths_.ContentIngest(), 0700);
}

std::string ContentStore::PathOf(const std::string& digest) const { return paths_.Blob(DigestHex(digest)); }

bool ContentStore::Has(const std::string& digest) const {
  if (!IsDigest(digest)) return false;
  struct stat st;
  return ::stat(PathOf(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatusOr<std::unique_ptr<ContentStore::Writer>> ContentStore::NewWriter(const std::string& digest, int64_t size) {
  if (!IsDigest(digest)) return absl::InvalidArgumentError("invalid blob digest \"" + digest.substr(0, 80) + "\"");
  static std::atomic<uint64_t> seq{0};
  std::string tmp = paths_.Ingest(DigestHex(digest) + "." + std::to_string(::getpid()) + "." + std::to_string(++seq));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("create ingest file " + tmp);
  return std::unique_ptr<Writer>(new Writer(tmp, PathOf(digest), digest, size, std::move(fd)));
}

ContentStore::Writer::~Writer() {
  if (!done_) ::unlink(tmp_.c_str());
}

Status ContentStore::Writer::Write(const char* data, size_t n) {
  if (size_ >= 0 && written_ + static_cast<int64_t>(n) > size_)
    return absl::DataLossError("blob " + digest_ + " is larger than its descriptor's " + std::to_string(size_) +
                               " bytes");
  hash_.Update(data, n);
  size_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd_.get(), data + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write blob " + digest_);
    }
    off += static_cast<size_t>(w);
  }
  written_ += static_cast<int64_t>(n);
  return absl::OkStatus();
}

Status ContentStore::Writer::Commit() {
  if (size_ >= 0 && written_ != size_)
    return absl::DataLossError("blob " + digest_ + ": got " + std::to_string(written_) + " bytes, descriptor says " +
                               std::to_string(size_));
  std::string got = hash_.Digest();
  if (got != digest_) return absl::DataLossError("blob " + digest_ + ": content digest is " + got);
  if (::fsync(fd_.get()) != 0) return ErrnoError("fsync blob " + digest_);
  fd_.reset();
  if (::rename(tmp_.c_str(), final_.c_str()) != 0) return ErrnoError("store blob " + digest_);
  done_ = true;
  auto slash = final_.rfind('/');
  return fs::SyncDir(final_.substr(0, slash));
}

Status ContentStore::Put(const std::string& digest, const std::string& data) {
  if (Has(digest)) return absl::OkStatus();
  KCR_ASSIGN_OR_RETURN(auto w, NewWriter(digest, static_cast<int64_t>(data.size())));
  KCR_RETURN_IF_ERROR(w->Write(data.data(), data.size()));
  return w->Commit();
}

StatusOr<std::string> ContentStore::Read(const std::string& digest, size_t max) const {
  if (!IsDigest(digest)) return absl::InvalidArgumentError("invalid blob digest");
  return fs::ReadFile(PathOf(digest), max);
}

Status ContentStore::Delete(const std::string& digest) {
  if (!IsDigest(digest)) return absl::OkStatus();
  if (::unlink(PathOf(digest).c_str()) != 0 && errno != ENOENT) return ErrnoError("delete blob " + digest);
  return absl::OkStatus();
}

}  // namespace kcr::images
