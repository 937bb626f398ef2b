#pragma once
// Streaming SHA-256 (OpenSSL EVP) producing "sha256:<hex>" digests.
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kcr::images {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // "sha256:<64 hex>"; the hasher is finished afterwards.
  std::string Digest();

 private:
  EVP_MD_CTX* ctx_;
};

std::string Sha256Digest(std::string_view data);
// The 64 hex characters of a "sha256:..." digest.
inline std::string DigestHex(const std::string& d) { return d.size() > 7 ? d.substr(7) : d; }

// OCI chain IDs: chain(L0) = diff(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)).
std::vector<std::string> ChainIds(const std::vector<std::string>& diff_ids);

}  // namespace kcr::images
