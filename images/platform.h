#pragma once
// Platforms (OCI image-spec "platform": os, architecture, variant): parsing
// "linux/arm64/v8", normalising aliases, the host's own platform, and the
// ordered matching kcr uses to pick an image index's manifest and to check
// that an image can run on this node.
//
// The matching follows containerd's platforms package (Only/OnlyStrict),
// so an index resolves to the same manifest under kcr as under containerd:
// https://github.com/containerd/platforms (compare.go, database.go).
// Pure functions apart from HostPlatform(), which reads uname(2) and
// /proc/cpuinfo.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kcr::images {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // "" where the architecture has none (or its default)

  bool operator==(const Platform&) const = default;
};

// "os/arch[/variant]", as written in the platform (not normalised).
std::string FormatPlatform(const Platform& p);

// containerd's canonical form, which matching compares: lower case; os
// "" -> "linux", "macos" -> "darwin"; architecture aliases (x86_64, x86-64
// -> amd64; i386, i486, i586, i686 -> 386; aarch64 -> arm64; armhf ->
// arm/v7; armel -> arm/v6; Debian's ppc64el, mips64el -> ppc64le,
// mips64le); variants: amd64/v1 -> amd64, arm64/v8 (8, v8.0) -> arm64,
// arm64/9 (9.0, v9.0) -> arm64/v9, arm without a variant (or 7) -> arm/v7,
// arm/5, 6, 8 -> arm/v5, v6, v8; 386 has no variant.
Platform Normalize(Platform p);

// Parses a specifier: "os/arch", "os/arch/variant", or one part, an
// architecture ("arm64": os linux) or an OS ("linux": the host's
// architecture and variant). Aliases are normalised (see Normalize), except
// that an explicit arm64 variant v8 is kept for display. InvalidArgument
// naming the specifier for an empty one, more than three parts, characters
// outside [A-Za-z0-9_.-] in a part, or an OS or architecture that Go (and
// so every image builder) does not know: a typo fails, never silently
// matches nothing.
StatusOr<Platform> ParsePlatform(std::string_view spec);

// The platform of the machine kcr runs on: the architecture kcrd was built
// for (as containerd uses GOARCH: a 32-bit arm build on an arm64 kernel
// runs arm images); for arm and arm64 the variant from /proc/cpuinfo's "CPU
// architecture" (a Raspberry Pi 1 reports 7 with model name "ARMv6-
// compatible": v6), else from uname's machine (armv7l -> v7), else from
// the build target.
Platform HostPlatform();
// HostPlatform's logic over given inputs (for tests): `build_arch` is the
// normalised architecture kcrd was built for, `build_arm_version` the
// target's __ARM_ARCH (0 when not arm), `machine` uname's machine field,
// `cpuinfo` the text of /proc/cpuinfo ("" when unreadable).
Platform HostPlatformFrom(std::string_view build_arch, int build_arm_version, std::string_view machine,
                          std::string_view cpuinfo);

// Matches platforms against a wanted one with containerd's preference order
// (platforms.Only): the wanted platform first, then what it also runs:
//   amd64/vN: amd64/v(N-1) .. amd64/v1 (== amd64), then 386
//   arm/vN:   arm/v(N-1) .. arm/v5           (arm/v7: v6, then v5)
//   arm64/v8.x: arm64/v8.(x-1) .. arm64/v8 (== arm64 without a variant),
//             then arm/v8, v7, v6, v5; arm64/v9.x also v9.(x-1) .. v9,
//             v8.(x+5) .. v8 first (containerd's table)
//   others: only themselves.
// OS must always match. With `strict` only the wanted platform itself
// matches (containerd's OnlyStrict). An arm64 variant outside containerd's
// table (v8.0 .. v9.7) matches only itself (containerd matches nothing).
class PlatformMatcher {
 public:
  explicit PlatformMatcher(Platform wanted, bool strict = false);

  // 0 for the wanted platform, higher for fallbacks further down the order;
  // nullopt when `p` does not match. `p` is normalised first.
  std::optional<size_t> Rank(const Platform& p) const;
  bool Matches(const Platform& p) const { return Rank(p).has_value(); }

  const Platform& wanted() const { return wanted_; }
  // Every accepted platform, normalised, most preferred first.
  const std::vector<Platform>& order() const { return order_; }
  // "linux/arm/v7 (then linux/arm/v6, linux/arm/v5)": for messages.
  std::string Describe() const;

 private:
  Platform wanted_;
  std::vector<Platform> order_;
};

}  // namespace kcr::images
