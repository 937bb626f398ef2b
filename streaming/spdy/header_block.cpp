#include "streaming/spdy/header_block.h"

#include <absl/strings/ascii.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "streaming/spdy/frame.h"

namespace kcr::streaming::spdy {

namespace {

// Section 2.6.10.1 lists the dictionary as bytes; it is these words, each
// after its 32-bit big-endian length, followed by one run of text. Built
// from the list rather than pasted as 1423 bytes so a reader can check it.
constexpr std::array<std::string_view, 65> kDictionaryWords = {
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
    "set-cookie", "keep-alive", "origin"};

constexpr std::string_view kDictionaryTail =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

// Our compressor's window and memory: 2 KiB window, small hash tables
// (about 16 KiB per session instead of zlib's default 256 KiB). The peer
// inflates with any window up to 32 KiB; only the dictionary's last 2 KiB
// (all of it) is referenced.
constexpr int kDeflateWindowBits = 11;
constexpr int kDeflateMemLevel = 4;
constexpr size_t kInflateStep = 4096;

}  // namespace

std::string_view HeaderDictionary() {
  static const std::string dict = [] {
    std::string d;
    for (std::string_view w : kDictionaryWords) {
      wire::AppendU32(&d, static_cast<uint32_t>(w.size()));
      d.append(w);
    }
    d.append(kDictionaryTail);
    return d;
  }();
  return dict;
}

absl::StatusOr<std::string> EncodeBlock(const Headers& headers) {
  std::string out;
  wire::AppendU32(&out, static_cast<uint32_t>(headers.size()));
  std::vector<std::string> names;
  names.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    if (name.empty()) return absl::InvalidArgumentError("SPDY header with an empty name");
    if (name.size() > UINT32_MAX || value.size() > UINT32_MAX)
      return absl::InvalidArgumentError("SPDY header " + name.substr(0, 64) + " too long");
    std::string lower = absl::AsciiStrToLower(name);
    if (std::find(names.begin(), names.end(), lower) != names.end())
      return absl::InvalidArgumentError("SPDY header " + lower + " given twice (join values with NUL)");
    wire::AppendU32(&out, static_cast<uint32_t>(lower.size()));
    out.append(lower);
    wire::AppendU32(&out, static_cast<uint32_t>(value.size()));
    out.append(value);
    names.push_back(std::move(lower));
  }
  return out;
}

absl::StatusOr<Headers> DecodeBlock(std::string_view block, size_t max_pairs) {
  auto take_u32 = [&block](uint32_t* v) {
    if (block.size() < 4) return false;
    *v = wire::ReadU32(block.data());
    block.remove_prefix(4);
    return true;
  };
  auto take_string = [&](std::string* s) {
    uint32_t n = 0;
    if (!take_u32(&n) || n > block.size()) return false;
    s->assign(block.substr(0, n));
    block.remove_prefix(n);
    return true;
  };
  uint32_t count = 0;
  if (!take_u32(&count)) return absl::InvalidArgumentError("SPDY header block shorter than its pair count");
  if (count > max_pairs)
    return absl::InvalidArgumentError("SPDY header block of " + std::to_string(count) + " pairs (limit " +
                                      std::to_string(max_pairs) + ")");
  // Each pair takes at least 8 bytes: a count the block cannot hold is
  // refused before the vector is sized from it.
  if (count > block.size() / 8)
    return absl::InvalidArgumentError("SPDY header block truncated (" + std::to_string(count) + " pairs declared)");
  Headers headers;
  headers.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    std::string name, value;
    if (!take_string(&name) || !take_string(&value))
      return absl::InvalidArgumentError("SPDY header block truncated in pair " + std::to_string(i));
    if (name.empty()) return absl::InvalidArgumentError("SPDY header with an empty name");
    absl::AsciiStrToLower(&name);
    for (const auto& h : headers)
      if (h.first == name) return absl::InvalidArgumentError("SPDY header " + name.substr(0, 64) + " repeated");
    headers.emplace_back(std::move(name), std::move(value));
  }
  if (!block.empty())
    return absl::InvalidArgumentError("SPDY header block has " + std::to_string(block.size()) +
                                      " bytes after its last pair");
  return headers;
}

HeaderDeflater::HeaderDeflater() {
  ok_ = deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kDeflateWindowBits, kDeflateMemLevel,
                     Z_DEFAULT_STRATEGY) == Z_OK;
  if (ok_) {
    std::string_view d = HeaderDictionary();
    ok_ = deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())) == Z_OK;
  }
}

HeaderDeflater::~HeaderDeflater() { deflateEnd(&z_); }

absl::StatusOr<std::string> HeaderDeflater::Compress(std::string_view block) {
  if (!ok_) return absl::InternalError("SPDY header compressor unusable (zlib initialisation or an earlier error)");
  std::string out;
  // deflateBound covers one whole-input deflate; a sync flush adds at most
  // a few bytes more (the stream header on the first block included).
  out.resize(deflateBound(&z_, static_cast<uLong>(block.size())) + 16);
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z_.avail_in = static_cast<uInt>(block.size());
  size_t produced = 0;
  for (;;) {
    z_.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z_.avail_out = static_cast<uInt>(out.size() - produced);
    int rc = deflate(&z_, Z_SYNC_FLUSH);
    produced = out.size() - z_.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ok_ = false;
      return absl::InternalError("SPDY header compression failed (zlib " + std::to_string(rc) + ")");
    }
    // Done once all input is taken and zlib left output space unused
    // (a full buffer may hide more pending output).
    if (z_.avail_in == 0 && z_.avail_out != 0) break;
    out.resize(out.size() * 2);
  }
  out.resize(produced);
  return out;
}

HeaderInflater::HeaderInflater(size_t max_output) : max_output_(max_output) { ok_ = inflateInit(&z_) == Z_OK; }

HeaderInflater::~HeaderInflater() { inflateEnd(&z_); }

absl::StatusOr<std::string> HeaderInflater::Inflate(std::string_view compressed) {
  auto fail = [this](std::string why) {
    ok_ = false;
    return absl::InvalidArgumentError("SPDY header block: " + why);
  };
  if (!ok_) return absl::FailedPreconditionError("SPDY header decompressor unusable after an earlier error");
  std::string out;
  if (compressed.empty()) return out;
  if (ended_) return fail("data after the end of the peer's zlib stream");
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z_.avail_in = static_cast<uInt>(compressed.size());
  char buf[kInflateStep];
  for (;;) {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof buf;
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      std::string_view d = HeaderDictionary();
      if (inflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())) != Z_OK)
        return fail("the peer's zlib stream wants a dictionary other than SPDY/3's");
      continue;
    }
    size_t produced = sizeof buf - z_.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
      return fail(std::string("corrupt zlib data (") + (z_.msg ? z_.msg : "no message") + ")");
    if (out.size() + produced > max_output_)
      return fail("decompresses past the " + std::to_string(max_output_) + "-byte limit");
    out.append(buf, produced);
    if (rc == Z_STREAM_END) {
      ended_ = true;
      if (z_.avail_in != 0) return fail("data after the end of the peer's zlib stream");
      break;
    }
    // Z_BUF_ERROR: no progress possible, i.e. input used up and nothing
    // pending. With output space left over, inflate had nothing more.
    if (rc == Z_BUF_ERROR || (z_.avail_in == 0 && z_.avail_out != 0)) break;
  }
  return out;
}

}  // namespace kcr::streaming::spdy
