#include "images/platform.h"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "common/fs.h"

namespace kcr::images {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Go's GOOS and GOARCH lists (go/build/syslist.go), as containerd checks
// them: the names image builders write into configs and indexes.
bool KnownOs(const std::string& os) {
  static constexpr std::array kOs = {"aix",   "android", "darwin", "dragonfly", "freebsd", "hurd",
                                     "illumos", "ios",   "js",     "linux",     "nacl",    "netbsd",
                                     "openbsd", "plan9", "solaris", "wasip1",   "windows", "zos"};
  return std::find(kOs.begin(), kOs.end(), os) != kOs.end();
}

bool KnownArch(const std::string& arch) {
  static constexpr std::array kArch = {"386",    "amd64",     "amd64p32",    "arm",     "armbe",   "arm64",
                                       "arm64be", "ppc64",    "ppc64le",     "loong64", "mips",    "mipsle",
                                       "mips64", "mips64le",  "mips64p32",   "mips64p32le", "ppc", "riscv",
                                       "riscv64", "s390",     "s390x",       "sparc",   "sparc64", "wasm"};
  return std::find(kArch.begin(), kArch.end(), arch) != kArch.end();
}

// "v7" -> 7, "7" -> 7; -1 when not a plain version number.
int VersionOf(const std::string& variant) {
  std::string d = variant.rfind('v', 0) == 0 ? variant.substr(1) : variant;
  if (d.empty() || d.size() > 3 || d.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(d);
}

// containerd's arm64 variant table (compare.go, arm64variantToVersion):
// for v8.x the minors x..0 of 8; for v9.x the minors x..0 of 9, then
// min(x+5, 9)..0 of 8 (a v9.x core implements v8.(x+5)).
std::vector<std::string> Arm64Variants(const std::string& variant) {
  int major = 0, minor = 0;
  if (variant == "v8" || variant == "v9") {
    major = variant[1] - '0';
  } else if (variant.size() == 4 && (variant.rfind("v8.", 0) == 0 || variant.rfind("v9.", 0) == 0) &&
             std::isdigit(static_cast<unsigned char>(variant[3]))) {
    major = variant[1] - '0';
    minor = variant[3] - '0';
    if (major == 9 && minor > 7) return {};
  } else {
    return {};
  }
  std::vector<std::pair<int, int>> ranges{{major, minor}};
  if (major == 9) ranges.push_back({8, std::min(minor + 5, 9)});
  std::vector<std::string> out;
  for (auto [ma, mi] : ranges)
    for (int m = mi; m >= 0; m--)
      out.push_back("v" + std::to_string(ma) + (m == 0 ? "" : "." + std::to_string(m)));
  return out;
}

// /proc/cpuinfo's first "key : value" line whose key is `key` (any case).
std::string CpuInfoField(std::string_view cpuinfo, std::string_view key) {
  size_t pos = 0;
  while (pos < cpuinfo.size()) {
    size_t end = cpuinfo.find('\n', pos);
    if (end == std::string_view::npos) end = cpuinfo.size();
    std::string_view line = cpuinfo.substr(pos, end - pos);
    pos = end + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto trim = [](std::string_view s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      return s;
    };
    if (Lower(trim(line.substr(0, colon))) == Lower(key)) return std::string(trim(line.substr(colon + 1)));
  }
  return "";
}

// containerd's mapping of "CPU architecture" values (cpuinfo_linux.go).
std::string ArmVariantOfCpuArchitecture(const std::string& v) {
  std::string l = Lower(v);
  if (l == "8" || l == "aarch64") return "v8";
  if (l == "7" || l == "7m" || (l.rfind("?(1", 0) == 0 && l.size() == 5 && l[4] == ')' && l[3] >= '2' && l[3] <= '7'))
    return "v7";
  if (l == "6" || l == "6tej") return "v6";
  if (l == "5" || l == "5t" || l == "5te" || l == "5tej") return "v5";
  return "";
}

// "aarch64" -> v8, "armv7l" -> v7, "armv6l" -> v6 (uname's machine).
std::string ArmVariantOfMachine(const std::string& machine) {
  std::string m = Lower(machine);
  if (m == "aarch64" || m == "arm64") return "v8";
  if (m.rfind("armv", 0) == 0 && m.size() >= 5 && m[4] >= '5' && m[4] <= '8') return std::string("v") + m[4];
  return "";
}

const char* BuildArch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__i386__)
  return "386";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__powerpc64__)
  return "ppc64";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__loongarch64)
  return "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "mips64le";
#elif defined(__mips64)
  return "mips64";
#else
  return "";  // HostPlatformFrom falls back to uname's machine
#endif
}

int BuildArmVersion() {
#if defined(__ARM_ARCH)
  return __ARM_ARCH;
#else
  return 0;
#endif
}

}  // namespace

std::string FormatPlatform(const Platform& p) {
  return p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant);
}

Platform Normalize(Platform p) {
  p.os = Lower(p.os);
  if (p.os.empty()) p.os = "linux";  // containerd: runtime.GOOS
  if (p.os == "macos") p.os = "darwin";
  std::string& a = p.architecture;
  std::string& v = p.variant;
  a = Lower(a);
  v = Lower(v);
  if (a == "i386" || a == "i486" || a == "i586" || a == "i686" || a == "386") {
    a = "386";
    v.clear();
  } else if (a == "x86_64" || a == "x86-64" || a == "amd64") {
    a = "amd64";
    if (v == "v1") v.clear();
  } else if (a == "aarch64" || a == "arm64") {
    a = "arm64";
    if (v == "8" || v == "v8" || v == "v8.0") v.clear();
    else if (v == "9" || v == "9.0" || v == "v9.0") v = "v9";
  } else if (a == "armhf") {
    a = "arm";
    v = "v7";
  } else if (a == "armel") {
    a = "arm";
    v = "v6";
  } else if (a == "arm") {
    if (v.empty() || v == "7") v = "v7";
    else if (v == "5" || v == "6" || v == "8") v = "v" + v;
  } else if (a == "ppc64el") {
    a = "ppc64le";
  } else if (a == "mips64el") {
    a = "mips64le";
  }
  return p;
}

StatusOr<Platform> ParsePlatform(std::string_view spec) {
  std::string s(spec);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("platform \"" + s + "\": " + why + " (expected os/arch[/variant], e.g. "
                                      "\"linux/arm64/v8\")");
  };
  std::vector<std::string> parts;
  for (size_t p = 0;;) {
    size_t e = s.find('/', p);
    parts.push_back(s.substr(p, e == std::string::npos ? std::string::npos : e - p));
    if (e == std::string::npos) break;
    p = e + 1;
  }
  if (parts.size() > 3) return bad("more than three parts");
  for (const auto& part : parts) {
    if (part.empty()) return bad("an empty part");
    if (part.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
        std::string::npos)
      return bad("\"" + part + "\" has characters outside [A-Za-z0-9_.-]");
  }
  Platform p;
  if (parts.size() == 1) {
    if (KnownOs(Lower(parts[0]))) {
      Platform host = HostPlatform();
      p = Normalize(Platform{parts[0], host.architecture, host.variant});
      if (p.architecture == "arm64" && host.variant == "v8") p.variant = "v8";
      return p;
    }
    p = Normalize(Platform{"linux", parts[0], ""});
  } else {
    p = Normalize(Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""});
    if (!KnownOs(p.os)) return bad("unknown operating system \"" + parts[0] + "\"");
  }
  if (!KnownArch(p.architecture)) return bad("unknown architecture \"" + (parts.size() == 1 ? parts[0] : parts[1]) + "\"");
  // arm64/v8 is arm64 for matching; written out, it stays as the user put it.
  if (p.architecture == "arm64" && p.variant.empty() && parts.size() == 3) p.variant = "v8";
  return p;
}

Platform HostPlatformFrom(std::string_view build_arch, int build_arm_version, std::string_view machine,
                          std::string_view cpuinfo) {
  Platform p = Normalize(Platform{"linux", std::string(build_arch.empty() ? machine : build_arch), ""});
  if (p.architecture != "arm" && p.architecture != "arm64") {
    p.variant.clear();
    return p;
  }
  std::string variant = ArmVariantOfCpuArchitecture(CpuInfoField(cpuinfo, "CPU architecture"));
  // The Raspberry Pi 1's kernel reports "CPU architecture: 7" for its ARMv6 core.
  if (p.architecture == "arm" && variant == "v7" &&
      Lower(CpuInfoField(cpuinfo, "model name")).rfind("armv6-compatible", 0) == 0)
    variant = "v6";
  if (variant.empty()) variant = ArmVariantOfMachine(std::string(machine));
  if (variant.empty() && build_arm_version > 0) variant = "v" + std::to_string(build_arm_version);
  if (variant.empty()) variant = p.architecture == "arm64" ? "v8" : "v7";
  p.variant = variant;
  return p;
}

Platform HostPlatform() {
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "";
  std::string cpuinfo = fs::ReadFile("/proc/cpuinfo", 1 << 20).value_or("");
  return HostPlatformFrom(BuildArch(), BuildArmVersion(), machine, cpuinfo);
}

PlatformMatcher::PlatformMatcher(Platform wanted, bool strict) : wanted_(std::move(wanted)) {
  Platform w = Normalize(wanted_);
  order_.push_back(w);
  if (strict) return;
  auto add = [&](const std::string& arch, const std::string& variant) {
    Platform p = Normalize(Platform{w.os, arch, variant});
    if (std::find(order_.begin(), order_.end(), p) == order_.end()) order_.push_back(p);
  };
  if (w.architecture == "amd64") {
    for (int n = VersionOf(w.variant) - 1; n >= 1; n--) add("amd64", "v" + std::to_string(n));
    add("386", "");
  } else if (w.architecture == "arm") {
    for (int n = VersionOf(w.variant) - 1; n >= 5; n--) add("arm", "v" + std::to_string(n));
  } else if (w.architecture == "arm64") {
    std::vector<std::string> variants = Arm64Variants(w.variant.empty() ? "v8" : w.variant);
    if (variants.empty()) return;  // a variant containerd does not know: itself only
    for (const auto& v : variants) add("arm64", v);
    // Every arm64 core runs 32-bit arm code up to v8 (containerd: arm/v8 and below).
    for (int n = 8; n >= 5; n--) add("arm", "v" + std::to_string(n));
  }
}

std::optional<size_t> PlatformMatcher::Rank(const Platform& p) const {
  Platform n = Normalize(p);
  for (size_t i = 0; i < order_.size(); i++)
    if (order_[i] == n) return i;
  return std::nullopt;
}

std::string PlatformMatcher::Describe() const {
  std::string out = FormatPlatform(wanted_);
  if (order_.size() > 1) {
    out += " (then ";
    for (size_t i = 1; i < order_.size(); i++) out += (i > 1 ? ", " : "") + FormatPlatform(order_[i]);
    out += ")";
  }
  return out;
}

}  // namespace kcr::images
