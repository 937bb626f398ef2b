#include "images/unpack/stream.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <vector>

#include "common/fd.h"

namespace kcr::images {

StatusOr<Compression> CompressionOf(const std::string& mt) {
  if (mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") || mt.ends_with(".gzip")) return Compression::kGzip;
  if (mt.ends_with("+zstd")) return Compression::kZstd;
  if (mt.ends_with(".tar") || mt.ends_with("layer.v1.tar")) return Compression::kNone;
  return absl::InvalidArgumentError("unsupported layer media type \"" + mt + "\"");
}

Compression SniffCompression(const unsigned char* h, size_t n) {
  if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b) return Compression::kGzip;
  if (n >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd) return Compression::kZstd;
  return Compression::kNone;
}

namespace {

class FileSource final : public ByteSource {
 public:
  FileSource(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  StatusOr<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_.get(), buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return ErrnoError("read " + path_);
    }
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string d) : d_(std::move(d)) {}
  StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, d_.size() - off_);
    std::memcpy(buf, d_.data() + off_, k);
    off_ += k;
    return k;
  }

 private:
  std::string d_;
  size_t off_ = 0;
};

constexpr size_t kInBuf = 128 << 10;

class GzipSource final : public ByteSource {
 public:
  explicit GzipSource(std::unique_ptr<ByteSource> in) : in_(std::move(in)), buf_(kInBuf) {
    std::memset(&z_, 0, sizeof z_);
    inflateInit2(&z_, 15 + 32);
  }
  ~GzipSource() override { inflateEnd(&z_); }
  StatusOr<size_t> Read(char* out, size_t n) override {
    if (done_) return size_t{0};
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out == n) {
      if (z_.avail_in == 0) {
        KCR_ASSIGN_OR_RETURN(size_t got, in_->Read(buf_.data(), buf_.size()));
        if (got == 0) {
          if (!member_ended_) return absl::DataLossError("gzip stream is truncated");
          done_ = true;
          return size_t{0};
        }
        z_.next_in = reinterpret_cast<Bytef*>(buf_.data());
        z_.avail_in = static_cast<uInt>(got);
      }
      if (member_ended_) {  // another gzip member follows (multi-member file)
        inflateReset(&z_);
        member_ended_ = false;
      }
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
        continue;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return absl::DataLossError(std::string("gzip: ") + (z_.msg ? z_.msg : "corrupt stream"));
    }
    return n - z_.avail_out;
  }

 private:
  std::unique_ptr<ByteSource> in_;
  std::vector<char> buf_;
  z_stream z_;
  bool member_ended_ = false;
  bool done_ = false;
};

class ZstdSource final : public ByteSource {
 public:
  explicit ZstdSource(std::unique_ptr<ByteSource> in)
      : in_(std::move(in)), buf_(ZSTD_DStreamInSize()), ds_(ZSTD_createDStream()) {
    ZSTD_initDStream(ds_);
    // Bound the window a hostile frame can make us allocate (128 MiB).
    ZSTD_DCtx_setParameter(ds_, ZSTD_d_windowLogMax, 27);
  }
  ~ZstdSource() override { ZSTD_freeDStream(ds_); }
  StatusOr<size_t> Read(char* out, size_t n) override {
    ZSTD_outBuffer ob{out, n, 0};
    while (ob.pos == 0) {
      if (in_pos_ == in_size_) {
        KCR_ASSIGN_OR_RETURN(size_t got, in_->Read(buf_.data(), buf_.size()));
        if (got == 0) {
          if (last_ret_ != 0) return absl::DataLossError("zstd stream is truncated");
          return size_t{0};
        }
        in_size_ = got;
        in_pos_ = 0;
      }
      ZSTD_inBuffer ib{buf_.data(), in_size_, in_pos_};
      size_t rc = ZSTD_decompressStream(ds_, &ob, &ib);
      in_pos_ = ib.pos;
      if (ZSTD_isError(rc)) return absl::DataLossError(std::string("zstd: ") + ZSTD_getErrorName(rc));
      last_ret_ = rc;
    }
    return ob.pos;
  }

 private:
  std::unique_ptr<ByteSource> in_;
  std::vector<char> buf_;
  size_t in_size_ = 0, in_pos_ = 0;
  size_t last_ret_ = 0;
  ZSTD_DStream* ds_;
};

}  // namespace

StatusOr<std::unique_ptr<ByteSource>> OpenFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + path);
  return std::unique_ptr<ByteSource>(new FileSource(std::move(fd), path));
}

std::unique_ptr<ByteSource> FromString(std::string data) { return std::make_unique<StringSource>(std::move(data)); }

std::unique_ptr<ByteSource> Decompress(std::unique_ptr<ByteSource> in, Compression c) {
  switch (c) {
    case Compression::kGzip: return std::make_unique<GzipSource>(std::move(in));
    case Compression::kZstd: return std::make_unique<ZstdSource>(std::move(in));
    default: return in;
  }
}

StatusOr<size_t> LimitedSource::Read(char* buf, size_t n) {
  if (total_ >= next_check_) {
    KCR_RETURN_IF_ERROR(cancel_.Check("unpack"));
    next_check_ = total_ + (int64_t{1} << 20);
  }
  KCR_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
  total_ += static_cast<int64_t>(got);
  if (total_ > max_)
    return absl::FailedPreconditionError("uncompressed content exceeds " + std::to_string(max_) + " bytes (" +
                                         limit_ + ")");
  return got;
}

StatusOr<size_t> HashingSource::Read(char* buf, size_t n) {
  KCR_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
  hash_.Update(buf, got);
  return got;
}

}  // namespace kcr::images
