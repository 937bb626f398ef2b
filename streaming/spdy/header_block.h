// SPDY/3 name/value header blocks (spec section 2.6.10): the uncompressed
// layout, and the zlib stream with the spec's dictionary that carries them.
// Each direction of a session is ONE zlib stream across all its header
// blocks (every block ends with a sync flush), so a session has one
// HeaderDeflater and one HeaderInflater, and a block that fails to
// decompress leaves the session unable to read any later one.
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <zlib.h>

#include <string>
#include <string_view>

#include "streaming/spdy/session.h"

namespace kcr::streaming::spdy {

// The dictionary of section 2.6.10.1 (1423 bytes, adler32 0xe3c6a7c2).
std::string_view HeaderDictionary();

// The uncompressed block: a 32-bit pair count, then each name and value
// with a 32-bit length. Names are lower-cased; an empty or repeated name
// is InvalidArgument (Go's spdystream drops the connection on a repeated
// one).
absl::StatusOr<std::string> EncodeBlock(const Headers& headers);

// Parses an uncompressed block. Every length is checked against what is
// left before anything is allocated; more than `max_pairs` pairs, a
// truncated or overlong block, an empty or repeated name is
// InvalidArgument. Names are lower-cased.
absl::StatusOr<Headers> DecodeBlock(std::string_view block, size_t max_pairs);

class HeaderDeflater {
 public:
  HeaderDeflater();
  ~HeaderDeflater();
  HeaderDeflater(const HeaderDeflater&) = delete;
  HeaderDeflater& operator=(const HeaderDeflater&) = delete;

  // Compresses one uncompressed block, ending in a sync flush so the peer
  // decodes it without waiting for more.
  absl::StatusOr<std::string> Compress(std::string_view block);

 private:
  z_stream z_{};
  bool ok_ = false;
};

class HeaderInflater {
 public:
  // `max_output`: bytes one block may decompress to (Limits::max_header_block).
  explicit HeaderInflater(size_t max_output);
  ~HeaderInflater();
  HeaderInflater(const HeaderInflater&) = delete;
  HeaderInflater& operator=(const HeaderInflater&) = delete;

  // Decompresses the compressed bytes of one frame, in bounded steps: an
  // output past max_output stops at once (a zip bomb costs at most
  // max_output plus one step), as does a corrupt stream. Either error is
  // final: the stream's state is lost.
  absl::StatusOr<std::string> Inflate(std::string_view compressed);

 private:
  z_stream z_{};
  size_t max_output_;
  bool ok_ = false;
  bool ended_ = false;
};

}  // namespace kcr::streaming::spdy
