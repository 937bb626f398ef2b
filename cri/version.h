#pragma once
namespace kcr::cri {
inline constexpr const char* kVersion = KCR_VERSION;
inline constexpr const char* kCriApiVersion = KCR_CRI_API_VERSION;
// `git rev-parse HEAD` of the tree kcrd was built from, "unknown" outside a
// git checkout; defined in the build's generated git_commit.cpp.
extern const char* const kGitCommit;
}  // namespace kcr::cri
