#pragma once
// Byte streams for layer unpacking: a file, gzip (zlib) and zstd
// decompression, and a pass-through that hashes what it yields (diff IDs).
#include <memory>
#include <string>

#include "common/status.h"
#include "images/cancel.h"
#include "images/digest.h"

namespace kcr::images {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; 0 at end of stream. Errors name the stream.
  virtual StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

enum class Compression { kNone, kGzip, kZstd };

// From an OCI/Docker layer media type; magic bytes decide when the type
// says nothing about compression. InvalidArgument for unknown types.
StatusOr<Compression> CompressionOf(const std::string& media_type);
Compression SniffCompression(const unsigned char* head, size_t n);

StatusOr<std::unique_ptr<ByteSource>> OpenFile(const std::string& path);
// A memory buffer (tests, fuzzing).
std::unique_ptr<ByteSource> FromString(std::string data);
std::unique_ptr<ByteSource> Decompress(std::unique_ptr<ByteSource> in, Compression c);

// Yields `in` unchanged while hashing it; Digest() once it is drained.
class HashingSource final : public ByteSource {
 public:
  explicit HashingSource(std::unique_ptr<ByteSource> in) : in_(std::move(in)) {}
  StatusOr<size_t> Read(char* buf, size_t n) override;
  std::string Digest() { return hash_.Digest(); }

 private:
  std::unique_ptr<ByteSource> in_;
  Sha256 hash_;
};

// Yields `in` unchanged up to `max_bytes` in all; one byte more is
// FailedPrecondition "<what> exceeds N bytes (<limit>)": a decompression bomb
// stops there instead of filling the disk. Checks `cancel` every MiB.
class LimitedSource final : public ByteSource {
 public:
  LimitedSource(std::unique_ptr<ByteSource> in, int64_t max_bytes, std::string limit, const Cancel& cancel)
      : in_(std::move(in)), max_(max_bytes), limit_(std::move(limit)), cancel_(cancel) {}
  StatusOr<size_t> Read(char* buf, size_t n) override;
  int64_t total() const { return total_; }

 private:
  std::unique_ptr<ByteSource> in_;
  int64_t max_;
  std::string limit_;
  const Cancel& cancel_;
  int64_t total_ = 0;
  int64_t next_check_ = 0;
};

}  // namespace kcr::images
