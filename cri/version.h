#pragma once
namespace kcr::cri {
inline constexpr const char* kVersion = KCR_VERSION;
inline constexpr const char* kCriApiVersion = KCR_CRI_API_VERSION;
}  // namespace kcr::cri
