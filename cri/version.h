#pragma once
namespace kcr::cri {
inline constexpr const char* kVersion = KCR_VERSION;
inline constexpr const char* kCriApiVersion = KCR_CRI_API_VERSION;
inline constexpr const char* kGitCommit = KCR_GIT_COMMIT;  // "unknown" outside a git checkout
}  // namespace kcr::cri
