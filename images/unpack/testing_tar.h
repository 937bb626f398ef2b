#pragma once
// A small ustar/PAX writer for tests: builds hostile and ordinary layers in
// memory, so unpacking tests need no files from outside.
#include <map>
#include <string>

namespace kcr::images::testing {

class TarWriter {
 public:
  TarWriter& File(const std::string& path, const std::string& data, int mode = 0644, int uid = 0, int gid = 0);
  TarWriter& Dir(const std::string& path, int mode = 0755);
  TarWriter& Symlink(const std::string& path, const std::string& target);
  TarWriter& Hardlink(const std::string& path, const std::string& target);
  TarWriter& Fifo(const std::string& path);
  // A PAX header applying to the next entry.
  TarWriter& Pax(const std::map<std::string, std::string>& records);
  // A global PAX header ('g').
  TarWriter& GlobalPax(const std::map<std::string, std::string>& records);
  // A raw header with `declared_size` but only `data` following (truncation tests).
  TarWriter& Raw(const std::string& path, char type, int64_t declared_size, const std::string& data);
  // Ends the archive (two zero blocks) and returns it.
  std::string Finish();
  // Corrupts the checksum of the most recent header.
  TarWriter& BreakChecksum();

 private:
  void Header(const std::string& path, char type, int64_t size, int mode, const std::string& link, int uid = 0,
              int gid = 0);
  void Pad();
  TarWriter& PaxOf(char type, const std::map<std::string, std::string>& records);
  std::string out_;
  size_t last_header_ = 0;
};

std::string Gzip(const std::string& data);
std::string Zstd(const std::string& data);

}  // namespace kcr::images::testing
