// Runs a libFuzzer target (LLVMFuzzerTestOneInput, linked beside this file)
// as a unit test with any compiler: every input of its seed corpus in the
// repository (KCR_FUZZ_CORPUS, <dir>/fuzz/corpus/<name>/), then deterministic
// mutations of each. The libFuzzer binaries (KCR_BUILD_FUZZERS, clang) and
// hack/fuzz.sh explore further from the same corpus.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/fs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Feed(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

std::vector<std::string> Corpus() {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(KCR_FUZZ_CORPUS)) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> inputs;
  for (const auto& n : names) {
    auto text = kcr::fs::ReadFile(std::string(KCR_FUZZ_CORPUS) + "/" + n);
    EXPECT_TRUE(text.ok()) << text.status();
    if (text.ok()) inputs.push_back(*text);
  }
  return inputs;
}

// Bit flips, truncations, splices within an input and across two inputs.
void Mutate(const std::vector<std::string>& corpus, int per_seed) {
  std::mt19937 rng(1234);
  for (const auto& seed : corpus) {
    for (int i = 0; i < per_seed; i++) {
      std::string s = seed.empty() ? "x" : seed;
      switch (rng() % 4) {
        case 0:
          for (int k = 0; k < 8; k++) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
          break;
        case 1: s.resize(rng() % s.size()); break;
        case 2: s.insert(rng() % s.size(), s.substr(rng() % s.size(), 64)); break;
        default: {
          const std::string& other = corpus[rng() % corpus.size()];
          s = s.substr(0, rng() % s.size()) + other.substr(other.empty() ? 0 : rng() % other.size());
        }
      }
      Feed(s);
    }
  }
}

}  // namespace

// KCR_FUZZ_SUITE (FuzzCorpus_<name>) tells the targets apart in ctest.
TEST(KCR_FUZZ_SUITE, SeedsAndMutationsNeverCrash) {
  std::vector<std::string> corpus = Corpus();
  ASSERT_FALSE(corpus.empty()) << "no seed inputs in " << KCR_FUZZ_CORPUS;
  for (const auto& s : corpus) Feed(s);
  Mutate(corpus, 300);
  SUCCEED();  // reaching here without a crash or sanitizer report is the assertion
}
