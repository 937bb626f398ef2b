#include "runtime/linux/testing_rootfs.h"

#include "runtime/cgroups/cgroup.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "common/fs.h"

namespace kcr::runtime::testing {

std::string MakeBusyboxRootfs() {
  std::string root = kcr::fs::MakeTempDir("kcr-rootfs");
  // An image's root is world-searchable; a temp dir is 0700, which would
  // leave a non-root container's program unable to resolve any path.
  ::chmod(root.c_str(), 0755);
  fs::MkdirAll(root + "/bin").IgnoreError();
  // Applets as relative symlinks: `busybox --install -s` would point at the
  // host path of the binary.
  std::string cmd = "cp /bin/busybox " + root + "/bin/busybox && for a in $(/bin/busybox --list | grep -vx busybox); "
                    "do ln -sf busybox " + root + "/bin/$a; done";
  if (system(cmd.c_str()) != 0) return "";
  fs::MkdirAll(root + "/etc").IgnoreError();
  fs::WriteFileAtomic(root + "/etc/passwd",
                      "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/:/bin/false\n")
      .IgnoreError();
  fs::WriteFileAtomic(root + "/etc/group", "root:x:0:\nwww-data:x:33:\nextra:x:500:www-data\n").IgnoreError();
  for (const char* d : {"proc", "sys", "dev", "tmp"}) fs::MkdirAll(root + "/" + d).IgnoreError();
  return root;
}

std::vector<std::string> AddSetuidEuidProgram(const std::string& rootfs) {
  // busybox drops a setuid bit for most applets unless its config says
  // otherwise ("s": set the owner's uid for this applet).
  std::string cmd = "mkdir -p " + rootfs + "/suid && cp /bin/busybox " + rootfs + "/suid/busybox && chmod 4755 " +
                    rootfs + "/suid/busybox";
  if (system(cmd.c_str()) != 0) return {};
  if (!fs::WriteFileAtomic(rootfs + "/etc/busybox.conf", "[SUID]\nid = ssx root.root\n", 0644).ok()) return {};
  return {"/suid/busybox", "id", "-u"};
}

oci::Spec BusyboxSpec(const std::string& rootfs, std::vector<std::string> args) {
  oci::Spec s;
  s.root_path = rootfs;
  s.process.args = std::move(args);
  s.process.env = {"PATH=/bin"};
  s.process.capabilities =
      oci::Capabilities{oci::DefaultCapabilities(), oci::DefaultCapabilities(), {}, oci::DefaultCapabilities(), {}};
  s.mounts = oci::DefaultMounts();
  s.linux.namespaces = {{"pid", ""}, {"mount", ""}, {"ipc", ""}, {"uts", ""}, {"network", ""}};
  s.linux.masked_paths = oci::DefaultMaskedPaths();
  s.linux.readonly_paths = oci::DefaultReadonlyPaths();
  return s;
}

std::string MemoryCgroupDir(const std::string& rel) {
  bool v2 = DetectCgroupLayout() == CgroupLayout::kV2;
  return std::string(v2 ? "/sys/fs/cgroup/" : "/sys/fs/cgroup/memory/") + rel;
}

std::string CgroupNsRootLine() { return DetectCgroupLayout() == CgroupLayout::kV2 ? "0::/\n" : ":memory:/\n"; }

}  // namespace kcr::runtime::testing
