#include "images/unpack/tar_reader.h"

#include <cstring>

namespace kcr::images {

namespace {

constexpr size_t kBlock = 512;

Status Corrupt(const std::string& why) { return absl::InvalidArgumentError("malformed tar: " + why); }

// Octal, or GNU base-256 when the top bit of the first byte is set.
StatusOr<int64_t> Number(const char* p, size_t n, const char* field) {
  const unsigned char* u = reinterpret_cast<const unsigned char*>(p);
  if (u[0] & 0x80) {
    if (u[0] != 0x80) return Corrupt(std::string("negative or huge base-256 ") + field);
    uint64_t v = 0;
    for (size_t i = 1; i < n; i++) {
      if (v >> 55) return Corrupt(std::string("base-256 ") + field + " overflows");
      v = (v << 8) | u[i];
    }
    return static_cast<int64_t>(v);
  }
  int64_t v = 0;
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\0')) i++;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v >> 58) return Corrupt(std::string("octal ") + field + " overflows");
    v = v * 8 + (p[i] - '0');
  }
  for (; i < n; i++)
    if (p[i] != ' ' && p[i] != '\0') return Corrupt(std::string("bad octal ") + field);
  return v;
}

std::string Field(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

bool AllZero(const char* b) {
  for (size_t i = 0; i < kBlock; i++)
    if (b[i]) return false;
  return true;
}

// PAX records: "<len> <key>=<value>\n".
Status ParsePax(const std::string& data, std::map<std::string, std::string>* out) {
  size_t pos = 0, records = 0;
  while (pos < data.size()) {
    size_t sp = data.find(' ', pos);
    if (sp == std::string::npos || sp - pos > 8) return Corrupt("bad PAX record length");
    size_t len = 0;
    for (size_t i = pos; i < sp; i++) {
      if (data[i] < '0' || data[i] > '9') return Corrupt("bad PAX record length");
      len = len * 10 + static_cast<size_t>(data[i] - '0');
    }
    if (len <= sp - pos + 1 || pos + len > data.size() || data[pos + len - 1] != '\n')
      return Corrupt("bad PAX record");
    std::string rec = data.substr(sp + 1, pos + len - 1 - (sp + 1));
    size_t eq = rec.find('=');
    if (eq == std::string::npos) return Corrupt("PAX record without '='");
    if (++records > kMaxPaxRecords)
      return Corrupt("PAX header has more than " + std::to_string(kMaxPaxRecords) + " records (the limit)");
    (*out)[rec.substr(0, eq)] = rec.substr(eq + 1);
    pos += len;
  }
  return absl::OkStatus();
}

StatusOr<int64_t> PaxNumber(const std::string& v, const char* key) {
  if (v.empty() || v.size() > 19) return Corrupt(std::string("bad PAX ") + key);
  int64_t n = 0;
  for (char c : v) {
    if (c == '.') break;  // fractional mtime
    if (c < '0' || c > '9') return Corrupt(std::string("bad PAX ") + key);
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

Status TarReader::ReadFull(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    KCR_ASSIGN_OR_RETURN(size_t r, in_.Read(buf + got, n - got));
    if (r == 0) return absl::DataLossError("tar stream ends early");
    got += r;
  }
  return absl::OkStatus();
}

Status TarReader::Skip(int64_t n) {
  char buf[16384];
  while (n > 0) {
    size_t k = static_cast<size_t>(std::min<int64_t>(n, sizeof buf));
    KCR_RETURN_IF_ERROR(ReadFull(buf, k));
    n -= static_cast<int64_t>(k);
  }
  return absl::OkStatus();
}

Status TarReader::ReadBlob(int64_t size, std::string* out) {
  if (size < 0 || static_cast<size_t>(size) > kMaxPaxBytes)
    return Corrupt("extended header of " + std::to_string(size) + " bytes is over the 1 MiB limit");
  extended_bytes_ += size;
  if (extended_bytes_ > kMaxExtendedHeaderBytesPerLayer)
    return Corrupt("extended headers (PAX, GNU long names) of this layer exceed the " +
                   std::to_string(kMaxExtendedHeaderBytesPerLayer >> 20) + " MiB limit");
  out->resize(static_cast<size_t>(size));
  KCR_RETURN_IF_ERROR(ReadFull(out->data(), out->size()));
  return Skip((kBlock - size % kBlock) % kBlock);
}

StatusOr<size_t> TarReader::Read(char* buf, size_t n) {
  if (remaining_ == 0) return size_t{0};
  size_t k = static_cast<size_t>(std::min<int64_t>(remaining_, static_cast<int64_t>(n)));
  KCR_RETURN_IF_ERROR(ReadFull(buf, k));
  remaining_ -= static_cast<int64_t>(k);
  return k;
}

StatusOr<bool> TarReader::Next(TarEntry* e) {
  KCR_RETURN_IF_ERROR(Skip(remaining_ + padding_));
  remaining_ = padding_ = 0;
  std::map<std::string, std::string> pax;
  std::string long_name, long_link;
  bool have_long_name = false, have_long_link = false;
  for (int headers = 0;; headers++) {
    if (headers > 16) return Corrupt("too many extended headers for one entry");
    char h[kBlock];
    {
      // A clean end: EOF exactly at a block boundary, or zero blocks.
      size_t got = 0;
      while (got < kBlock) {
        KCR_ASSIGN_OR_RETURN(size_t r, in_.Read(h + got, kBlock - got));
        if (r == 0) break;
        got += r;
      }
      if (got == 0) return false;
      if (got < kBlock) return absl::DataLossError("tar stream ends inside a header");
    }
    if (AllZero(h)) return false;
    KCR_ASSIGN_OR_RETURN(int64_t sum, Number(h + 148, 8, "checksum"));
    int64_t calc = 0;
    for (size_t i = 0; i < kBlock; i++)
      calc += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (sum != calc) return Corrupt("header checksum mismatch");
    KCR_ASSIGN_OR_RETURN(int64_t size, Number(h + 124, 12, "size"));
    if (size < 0 || size > kMaxEntrySize) return Corrupt("entry size " + std::to_string(size) + " is out of range");
    char type = h[156];
    if (type == 'L' || type == 'K') {
      std::string v;
      KCR_RETURN_IF_ERROR(ReadBlob(size, &v));
      v = v.substr(0, strnlen(v.data(), v.size()));
      if (type == 'L') long_name = v, have_long_name = true;
      else long_link = v, have_long_link = true;
      continue;
    }
    if (type == 'x' || type == 'g') {
      std::string v;
      KCR_RETURN_IF_ERROR(ReadBlob(size, &v));
      if (type == 'x') {
        KCR_RETURN_IF_ERROR(ParsePax(v, &pax));
      } else {
        // Validated (a malformed one fails the layer, as in Go) but applied
        // to nothing: Go's archive/tar returns it as an entry of its own,
        // consuming the extended headers before it, and Docker/containerd
        // ignore that entry; so the same layer unpacks the same way here.
        std::map<std::string, std::string> global;
        KCR_RETURN_IF_ERROR(ParsePax(v, &global));
        pax.clear();
        long_name.clear(), long_link.clear();
        have_long_name = have_long_link = false;
        headers = -1;  // the next header starts a new entry
      }
      continue;
    }
    *e = TarEntry();
    std::string name = Field(h, 100);
    bool ustar = std::memcmp(h + 257, "ustar", 5) == 0;
    if (ustar) {
      std::string prefix = Field(h + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    e->path = have_long_name ? long_name : name;
    e->linkname = have_long_link ? long_link : Field(h + 157, 100);
    KCR_ASSIGN_OR_RETURN(int64_t mode, Number(h + 100, 8, "mode"));
    e->mode = static_cast<uint32_t>(mode & 07777);
    KCR_ASSIGN_OR_RETURN(e->uid, Number(h + 108, 8, "uid"));
    KCR_ASSIGN_OR_RETURN(e->gid, Number(h + 116, 8, "gid"));
    KCR_ASSIGN_OR_RETURN(e->mtime, Number(h + 136, 12, "mtime"));
    e->size = size;
    if (ustar) {
      KCR_ASSIGN_OR_RETURN(int64_t maj, Number(h + 329, 8, "devmajor"));
      KCR_ASSIGN_OR_RETURN(int64_t min, Number(h + 337, 8, "devminor"));
      e->devmajor = static_cast<uint32_t>(maj);
      e->devminor = static_cast<uint32_t>(min);
    }
    for (const auto& [k, v] : pax) {
      if (k == "path") e->path = v;
      else if (k == "linkpath") e->linkname = v;
      else if (k == "size") { KCR_ASSIGN_OR_RETURN(e->size, PaxNumber(v, "size")); }
      else if (k == "uid") { KCR_ASSIGN_OR_RETURN(e->uid, PaxNumber(v, "uid")); }
      else if (k == "gid") { KCR_ASSIGN_OR_RETURN(e->gid, PaxNumber(v, "gid")); }
      else if (k == "mtime") { KCR_ASSIGN_OR_RETURN(e->mtime, PaxNumber(v, "mtime")); }
      else if (k.rfind("SCHILY.xattr.", 0) == 0) e->xattrs[k.substr(13)] = v;
      else if (k.rfind("GNU.sparse", 0) == 0) return Corrupt("sparse files are not supported (" + e->path + ")");
    }
    if (e->size > kMaxEntrySize) return Corrupt("entry size out of range");
    if (e->path.size() > kMaxPathBytes || e->linkname.size() > kMaxPathBytes)
      return Corrupt("path longer than 4096 bytes");
    if (e->path.find('\0') != std::string::npos || e->linkname.find('\0') != std::string::npos)
      return Corrupt("NUL in path");
    switch (type) {
      case '0': case '\0': case '7': e->type = EntryType::kFile; break;
      case '1': e->type = EntryType::kHardlink; break;
      case '2': e->type = EntryType::kSymlink; break;
      case '3': e->type = EntryType::kChar; break;
      case '4': e->type = EntryType::kBlock; break;
      case '5': e->type = EntryType::kDir; break;
      case '6': e->type = EntryType::kFifo; break;
      case 'S': return Corrupt("sparse files are not supported (" + e->path + ")");
      default: return Corrupt(std::string("unsupported entry type '") + type + "' for " + e->path);
    }
    // Old tars mark directories by a trailing slash on a regular entry.
    if (e->type == EntryType::kFile && !e->path.empty() && e->path.back() == '/') e->type = EntryType::kDir;
    // Data blocks that follow the header: a regular file's (PAX may have
    // overridden the size); other entries normally carry none, but skip
    // whatever the header declares.
    bool file = e->type == EntryType::kFile;
    int64_t carried = file ? e->size : size;
    if (!file) e->size = 0;
    remaining_ = file ? carried : 0;
    padding_ = (file ? 0 : carried) + (static_cast<int64_t>(kBlock) - carried % static_cast<int64_t>(kBlock)) %
                                          static_cast<int64_t>(kBlock);
    return true;
  }
}

}  // namespace kcr::images
