#pragma once
// ContentStore: content-addressed blobs under <root>/content/blobs/sha256.
// Writes go to content/ingest/, are digest- and size-verified while
// streaming, fsynced, then renamed into place: a half-written or wrong blob
// is never visible. Thread-safe.
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/paths.h"
#include "common/status.h"
#include "images/digest.h"

namespace kcr::images {

class ContentStore {
 public:
  explicit ContentStore(const Paths& paths) : paths_(paths) {}

  // Creates the directories and deletes ingest leftovers of a killed kcrd.
  Status Init();

  bool Has(const std::string& digest) const;
  std::string PathOf(const std::string& digest) const;

  // One blob being written. Destroying it without Commit() removes the
  // partial file.
  class Writer {
   public:
    ~Writer();
    Status Write(const char* data, size_t n);
    // Verifies size and digest, fsyncs, renames into place. DataLoss naming
    // the digest on mismatch (and nothing is stored).
    Status Commit();
    int64_t written() const { return written_; }

   private:
    friend class ContentStore;
    Writer(std::string tmp, std::string final_path, std::string digest, int64_t size, UniqueFd fd)
        : tmp_(std::move(tmp)), final_(std::move(final_path)), digest_(std::move(digest)), size_(size),
          fd_(std::move(fd)) {}
    std::string tmp_, final_, digest_;
    int64_t size_;
    int64_t written_ = 0;
    UniqueFd fd_;
    Sha256 hash_;
    bool done_ = false;
  };

  // `size` < 0: unknown. InvalidArgument for a malformed digest.
  StatusOr<std::unique_ptr<Writer>> NewWriter(const std::string& digest, int64_t size);
  // Writes a small blob in one go (manifests, configs), verified.
  Status Put(const std::string& digest, const std::string& data);
  // Reads a blob of at most `max` bytes. NotFound if absent.
  StatusOr<std::string> Read(const std::string& digest, size_t max) const;
  // OK if absent.
  Status Delete(const std::string& digest);

 private:
  const Paths& paths_;
};

}  // namespace kcr::images
