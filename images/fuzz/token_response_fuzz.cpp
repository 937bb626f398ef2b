// libFuzzer target: a token server's JSON answer (bearer token, OAuth2
// access_token). Build with -DKCR_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++.
#include <cstddef>
#include <cstdint>
#include <string>

#include "images/registry_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto tok = kcr::images::ParseTokenResponse(body, "https://auth.example/token");
  if (tok.ok() && tok->empty()) __builtin_trap();  // an empty token is never accepted
  return 0;
}
