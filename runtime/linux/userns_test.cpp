#include "runtime/linux/userns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"

namespace kcr::runtime {
namespace {

TEST(UserNamespace, IdMappingText) {
  auto m = ParseIdMapping("0:2097152:65536");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->host_id, 2097152u);
  EXPECT_EQ(FormatIdMapping(*m), "0:2097152:65536");
  EXPECT_FALSE(ParseIdMapping("0:1").ok());
  EXPECT_FALSE(ParseIdMapping("0:1:2:3").ok());
  EXPECT_FALSE(ParseIdMapping("0:99999999999:1").ok());
}

// The namespace carries the mappings it was made with, seen from inside.
TEST(UserNamespace, MadeWithItsMappings) {
  auto ns = MakeUserNamespace({{0, 2097152, 65536}}, {{0, 2097152, 65536}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns(ns->get(), CLONE_NEWUSER) != 0) ::_exit(1);
    auto map = fs::ReadFile("/proc/self/uid_map");
    std::string s = map.ok() ? *map : "";
    (void)!::write(p[1], s.data(), s.size());
    ::_exit(0);
  }
  ::close(p[1]);
  char buf[256] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  int st;
  ::waitpid(pid, &st, 0);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(buf).find("2097152"), std::string::npos) << buf;
}

// Overlay layers are named through detached idmapped copies of their
// parents; upper and work share one copy.
TEST(UserNamespace, OverlayDataThroughIdmappedCopies) {
  char tmpl[] = "/var/tmp/kcr-userns-XXXXXX";  // on the host's disk filesystem (idmappable)
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  for (const char* sub : {"/1/fs", "/2/fs", "/2/work"}) ASSERT_TRUE(fs::MkdirAll(d + sub, 0755).ok());
  auto ns = MakeUserNamespace({{0, 2097152, 65536}}, {{0, 2097152, 65536}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  std::vector<UniqueFd> held;
  auto data = IdmapOverlayData("lowerdir=" + d + "/1/fs,upperdir=" + d + "/2/fs,workdir=" + d + "/2/work,index=off",
                               ns->get(), &held);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(held.size(), 2u);
  std::string a = "/proc/self/fd/" + std::to_string(held[0].get()), b = "/proc/self/fd/" + std::to_string(held[1].get());
  EXPECT_EQ(*data, "lowerdir=" + a + "/fs,upperdir=" + b + "/fs,workdir=" + b + "/work,index=off");
  held.clear();
  EXPECT_TRUE(fs::RemoveAll(d).ok());
}

}  // namespace
}  // namespace kcr::runtime
