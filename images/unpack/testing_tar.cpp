#include "images/unpack/testing_tar.h"

#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>

namespace kcr::images::testing {

void TarWriter::Header(const std::string& path, char type, int64_t size, int mode, const std::string& link, int uid,
                       int gid) {
  char h[512] = {};
  std::string name = path;
  if (name.size() > 100) {  // GNU long name
    Header("././@LongLink", 'L', static_cast<int64_t>(name.size() + 1), 0, "");
    out_ += name;
    out_.push_back('\0');
    Pad();
    name = name.substr(0, 99);
  }
  std::memcpy(h, name.data(), name.size());
  std::snprintf(h + 100, 8, "%07o", mode);
  std::snprintf(h + 108, 8, "%07o", uid);
  std::snprintf(h + 116, 8, "%07o", gid);
  std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(h + 136, 12, "%011o", 1700000000);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar\0" "00", 8);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  last_header_ = out_.size();
  out_.append(h, 512);
}

void TarWriter::Pad() { out_.append((512 - out_.size() % 512) % 512, '\0'); }

TarWriter& TarWriter::File(const std::string& p, const std::string& d, int mode, int uid, int gid) {
  Header(p, '0', static_cast<int64_t>(d.size()), mode, "", uid, gid);
  out_ += d;
  Pad();
  return *this;
}
TarWriter& TarWriter::Dir(const std::string& p, int mode) {
  Header(p, '5', 0, mode, "");
  return *this;
}
TarWriter& TarWriter::Symlink(const std::string& p, const std::string& t) {
  Header(p, '2', 0, 0777, t);
  return *this;
}
TarWriter& TarWriter::Hardlink(const std::string& p, const std::string& t) {
  Header(p, '1', 0, 0644, t);
  return *this;
}
TarWriter& TarWriter::Fifo(const std::string& p) {
  Header(p, '6', 0, 0644, "");
  return *this;
}
TarWriter& TarWriter::Pax(const std::map<std::string, std::string>& recs) { return PaxOf('x', recs); }
TarWriter& TarWriter::GlobalPax(const std::map<std::string, std::string>& recs) { return PaxOf('g', recs); }
TarWriter& TarWriter::PaxOf(char type, const std::map<std::string, std::string>& recs) {
  std::string body;
  for (const auto& [k, v] : recs) {
    std::string rec = " " + k + "=" + v + "\n";
    size_t len = rec.size() + 1;
    while (std::to_string(len).size() + rec.size() != len) len++;
    body += std::to_string(len) + rec;
  }
  Header("PaxHeader", type, static_cast<int64_t>(body.size()), 0644, "");
  out_ += body;
  Pad();
  return *this;
}
TarWriter& TarWriter::Raw(const std::string& p, char type, int64_t declared, const std::string& data) {
  Header(p, type, declared, 0644, "");
  out_ += data;
  return *this;
}
TarWriter& TarWriter::BreakChecksum() {
  out_[last_header_ + 148] = '7';
  out_[last_header_ + 149] = '7';
  return *this;
}
std::string TarWriter::Finish() {
  Pad();
  out_.append(1024, '\0');
  return out_;
}

std::string Gzip(const std::string& data) {
  z_stream z = {};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
  return out;
}

}  // namespace kcr::images::testing
