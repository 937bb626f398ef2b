// libFuzzer target: what a registry says when it refuses: the error body
// (OCI distribution `errors` JSON) and the WWW-Authenticate challenge.
// Build with -DKCR_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++.
#include <cstddef>
#include <cstdint>
#include <string>

#include "images/registry_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  using namespace kcr::images;
  if (RegistryErrorDetail(in).size() > 515) __builtin_trap();  // messages are cut at 512 bytes + "..."
  AuthChallenge c = ParseAuthChallenge(in);
  for (const auto& [k, v] : c.params)
    if (k.size() > in.size() || v.size() > in.size()) __builtin_trap();
  return 0;
}
