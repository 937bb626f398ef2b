#include "runtime/cgroups/device_filter.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace kcr::runtime {

std::vector<oci::DeviceRule> DefaultDeviceRules() {
  std::vector<oci::DeviceRule> r;
  r.push_back({false, "a", {}, {}, "rwm"});
  r.push_back({true, "c", {}, {}, "m"});
  r.push_back({true, "b", {}, {}, "m"});
  for (auto [maj, min] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {10, 200}})
    r.push_back({true, "c", maj, min, "rwm"});
  r.push_back({true, "c", 136, {}, "rwm"});
  return r;
}

namespace {

std::string Num(const std::optional<int64_t>& v) { return (!v || *v < 0) ? "*" : std::to_string(*v); }

bool AllAccess(const std::string& a) {
  return a.find('r') != std::string::npos && a.find('w') != std::string::npos && a.find('m') != std::string::npos;
}

bool MatchesAll(const oci::DeviceRule& r) {
  return r.type == "a" && (!r.major || *r.major < 0) && (!r.minor || *r.minor < 0) && AllAccess(r.access);
}

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return bpf_insn{.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

long Bpf(int cmd, bpf_attr* attr) { return ::syscall(__NR_bpf, cmd, attr, sizeof *attr); }

}  // namespace

std::vector<std::pair<std::string, std::string>> V1DeviceWrites(const std::vector<oci::DeviceRule>& rules) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : rules) {
    std::string file = r.allow ? "devices.allow" : "devices.deny";
    if (MatchesAll(r)) out.push_back({file, "a"});
    else out.push_back({file, (r.type == "a" ? std::string("a") : r.type) + " " + Num(r.major) + ":" + Num(r.minor) + " " + r.access});
  }
  return out;
}

std::vector<bpf_insn> DeviceFilterProgram(const std::vector<oci::DeviceRule>& rules) {
  // The rules after the last "all devices, all access" rule matter; that
  // rule (or deny, when there is none) is the default.
  size_t first = 0;
  bool default_allow = false;
  for (size_t i = 0; i < rules.size(); i++)
    if (MatchesAll(rules[i])) {
      first = i + 1;
      default_allow = rules[i].allow;
    }
  std::vector<bpf_insn> p;
  p.reserve(9 + 8 * rules.size());
  // r1 = struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0));   // r2 = access_type
  p.push_back(Insn(BPF_ALU | BPF_MOV | BPF_X, 3, 2, 0, 0));   // w3 = w2
  p.push_back(Insn(BPF_ALU | BPF_AND | BPF_K, 3, 0, 0, 0xffff));  // w3 = type
  p.push_back(Insn(BPF_ALU | BPF_MOV | BPF_X, 4, 2, 0, 0));   // w4 = w2
  p.push_back(Insn(BPF_ALU | BPF_RSH | BPF_K, 4, 0, 0, 16));  // w4 = access
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 4, 0));   // r5 = major
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, 6, 1, 8, 0));   // r6 = minor
  // Later rules win: test them first.
  for (size_t i = rules.size(); i-- > first;) {
    const auto& r = rules[i];
    std::vector<bpf_insn> block;
    block.reserve(8);  // at most 8 instructions per rule
    std::vector<size_t> skips;  // jumps to patch to the block's end
    if (r.type == "c" || r.type == "b") {
      skips.push_back(block.size());
      block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 3, 0, 0, r.type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
    }
    if (!AllAccess(r.access)) {
      int32_t mask = 0;
      if (r.access.find('m') != std::string::npos) mask |= BPF_DEVCG_ACC_MKNOD;
      if (r.access.find('r') != std::string::npos) mask |= BPF_DEVCG_ACC_READ;
      if (r.access.find('w') != std::string::npos) mask |= BPF_DEVCG_ACC_WRITE;
      block.push_back(Insn(BPF_ALU | BPF_MOV | BPF_X, 7, 4, 0, 0));
      block.push_back(Insn(BPF_ALU | BPF_AND | BPF_K, 7, 0, 0, ~mask & 7));  // any access outside the rule's
      skips.push_back(block.size());
      block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 7, 0, 0, 0));
    }
    if (r.major && *r.major >= 0) {
      skips.push_back(block.size());
      block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, static_cast<int32_t>(*r.major)));
    }
    if (r.minor && *r.minor >= 0) {
      skips.push_back(block.size());
      block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 6, 0, 0, static_cast<int32_t>(*r.minor)));
    }
    block.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r.allow ? 1 : 0));
    block.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t s : skips) block[s].off = static_cast<int16_t>(block.size() - s - 1);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, default_allow ? 1 : 0));
  p.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

Status AttachDeviceFilter(const std::string& cgroup_dir, const std::vector<oci::DeviceRule>& rules) {
  UniqueFd dir(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return ErrnoError("open cgroup " + cgroup_dir);
  // What is attached now, to detach once the new filter is in place.
  uint32_t old_ids[64];
  bpf_attr q;
  std::memset(&q, 0, sizeof q);
  q.query.target_fd = dir.get();
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = reinterpret_cast<uint64_t>(old_ids);
  q.query.prog_cnt = 64;
  uint32_t old_count = Bpf(BPF_PROG_QUERY, &q) == 0 ? q.query.prog_cnt : 0;

  std::vector<bpf_insn> prog = DeviceFilterProgram(rules);
  char log[4096] = {0};
  static const char kLicense[] = "Apache";
  bpf_attr load;
  std::memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(prog.data());
  load.insn_cnt = static_cast<uint32_t>(prog.size());
  load.license = reinterpret_cast<uint64_t>(kLicense);
  load.log_buf = reinterpret_cast<uint64_t>(log);
  load.log_size = sizeof log;
  load.log_level = 1;
  UniqueFd pfd(static_cast<int>(Bpf(BPF_PROG_LOAD, &load)));
  if (!pfd) {
    int e = errno;
    return absl::InternalError("load device cgroup eBPF program: " + std::string(std::strerror(e)) +
                               (log[0] ? std::string("; verifier: ") + log : std::string()));
  }
  bpf_attr at;
  std::memset(&at, 0, sizeof at);
  at.target_fd = dir.get();
  at.attach_bpf_fd = pfd.get();
  at.attach_type = BPF_CGROUP_DEVICE;
  at.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(BPF_PROG_ATTACH, &at) != 0) return ErrnoError("attach device filter to " + cgroup_dir);
  for (uint32_t i = 0; i < old_count && i < 64; i++) {
    bpf_attr g;
    std::memset(&g, 0, sizeof g);
    g.prog_id = old_ids[i];
    UniqueFd old(static_cast<int>(Bpf(BPF_PROG_GET_FD_BY_ID, &g)));
    if (!old) continue;
    bpf_attr d;
    std::memset(&d, 0, sizeof d);
    d.target_fd = dir.get();
    d.attach_bpf_fd = old.get();
    d.attach_type = BPF_CGROUP_DEVICE;
    Bpf(BPF_PROG_DETACH, &d);
  }
  return absl::OkStatus();
}

}  // namespace kcr::runtime
