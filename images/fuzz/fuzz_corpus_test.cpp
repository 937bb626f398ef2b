// Runs the fuzz targets over a corpus of mutated inputs with g++ in every CI
// run (the libFuzzer build needs clang and is optional).
#include <dirent.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/fs.h"

#include "images/digest.h"
#include "images/unpack/testing_tar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Feed(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// Deterministic mutations: bit flips, truncations, splices.
void Mutate(const std::string& seed, int n) {
  std::mt19937 rng(1234);
  for (int i = 0; i < n; i++) {
    std::string s = seed;
    if (s.empty()) s = "x";
    switch (rng() % 3) {
      case 0:
        for (int k = 0; k < 8; k++) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1: s.resize(rng() % s.size()); break;
      default: s.insert(rng() % s.size(), s.substr(rng() % s.size(), 64)); break;
    }
    Feed(s);
  }
}

// The target's seed files (images/fuzz/corpus/<name>/), the corpus
// hack/fuzz.sh starts libFuzzer from.
std::vector<std::string> CorpusFiles() {
  std::vector<std::string> out;
#ifdef KCR_FUZZ_CORPUS_DIR
  if (DIR* d = ::opendir(KCR_FUZZ_CORPUS_DIR)) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      auto data = kcr::fs::ReadFile(std::string(KCR_FUZZ_CORPUS_DIR) + "/" + e->d_name);
      if (data.ok()) out.push_back(std::move(*data));
    }
    ::closedir(d);
  }
#endif
  return out;
}

}  // namespace

TEST(FuzzCorpus, SeedFilesExistAndPass) {
#ifdef KCR_FUZZ_CORPUS_DIR
  std::vector<std::string> files = CorpusFiles();
  EXPECT_GE(files.size(), 3u) << "seed corpus " << KCR_FUZZ_CORPUS_DIR;
  for (const auto& f : files) {
    Feed(f);
    Mutate(f, 300);
  }
#endif
}

TEST(FuzzCorpus, MutatedInputsNeverCrash) {
  using kcr::images::testing::TarWriter;
  std::string d = kcr::images::Sha256Digest("x");
  const std::string seeds[] = {
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
          d + R"(","size":1,"platform":{"os":"linux","architecture":"amd64"}}]})",
      R"({"schemaVersion":2,"config":{"digest":")" + d + R"(","size":1},"layers":[{"digest":")" + d +
          R"(","size":2}]})",
      R"({"rootfs":{"diff_ids":[")" + d + R"("]},"config":{"User":"1:2"}})",
      TarWriter().File("a/b", "data").Symlink("l", "/").Hardlink("h", "a/b").File(".wh.x", "").Finish(),
      TarWriter().Pax({{"path", "p"}, {"SCHILY.xattr.user.k", "v"}}).File("n", "1").Finish(),
  };
  for (const auto& s : seeds) {
    Feed(s);
    Mutate(s, 300);
  }
  SUCCEED();  // reaching here without a crash or sanitizer report is the assertion
}
