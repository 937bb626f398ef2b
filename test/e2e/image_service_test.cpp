// ImageService end to end: kcrd + crictl + the local registry.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>

#include <nlohmann/json.hpp>
#include <thread>

#include "test/e2e/kcrd_fixture.h"

extern char** environ;

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

class ImageServiceTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start();
  }
  grpc::Status Pull(const std::string& image, v1::PullImageResponse* resp, const v1::AuthConfig* auth = nullptr) {
    v1::PullImageRequest req;
    req.mutable_image()->set_image(image);
    if (auth) *req.mutable_auth() = *auth;
    return Images().PullImage(Ctx(120).get(), req, resp);
  }
  v1::ImageStatusResponse Status(const std::string& image, bool verbose = false) {
    v1::ImageStatusRequest req;
    req.mutable_image()->set_image(image);
    req.set_verbose(verbose);
    v1::ImageStatusResponse resp;
    EXPECT_TRUE(Images().ImageStatus(Ctx().get(), req, &resp).ok());
    return resp;
  }
  std::vector<v1::Image> List() {
    v1::ListImagesRequest req;
    v1::ListImagesResponse resp;
    EXPECT_TRUE(Images().ListImages(Ctx().get(), req, &resp).ok());
    return {resp.images().begin(), resp.images().end()};
  }
  std::string Blobs() { return root_ + "/content/blobs/sha256"; }
};

TEST_F(ImageServiceTest, CrictlPullImagesInspectRemove) {
  CmdResult r = Crictl({"pull", "busybox"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = Crictl({"images"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("docker.io/library/busybox"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("latest"), std::string::npos);
  r = Crictl({"inspecti", "busybox"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json j = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["status"]["repoTags"][0], "docker.io/library/busybox:latest");
  EXPECT_EQ(j["info"]["imageSpec"]["architecture"], "amd64");
  int blobs = CountEntries(Blobs());
  EXPECT_EQ(blobs, 3);  // manifest, config, one layer
  r = Crictl({"imagefsinfo"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("usedBytes"), std::string::npos);
  // Bytes and inodes of the store: the busybox layer alone is hundreds of
  // files and a megabyte.
  v1::ImageFsInfoRequest fsreq;
  v1::ImageFsInfoResponse fsresp;
  ASSERT_TRUE(Images().ImageFsInfo(Ctx().get(), fsreq, &fsresp).ok());
  ASSERT_GT(fsresp.image_filesystems_size(), 0);
  const auto& ifs = fsresp.image_filesystems(0);
  EXPECT_GT(ifs.used_bytes().value(), 1000000u);
  EXPECT_GT(ifs.inodes_used().value(), 100u);
  // The mount point of the filesystem that holds the store.
  EXPECT_EQ(root_.rfind(ifs.fs_id().mountpoint(), 0), 0u) << ifs.fs_id().mountpoint();
  r = Crictl({"rmi", "busybox"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(CountEntries(Blobs()), 0);  // content nothing references is freed
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), 0);
}

TEST_F(ImageServiceTest, TagsOfOneImageShareOneId) {
  v1::PullImageResponse a, b, c;
  ASSERT_TRUE(Pull("busybox:latest", &a).ok());
  ASSERT_TRUE(Pull("docker.io/library/busybox:1.36", &b).ok());
  ASSERT_TRUE(Pull("kcr-test/tags:1", &c).ok());
  ASSERT_TRUE(Pull("kcr-test/tags:2", &c).ok());
  EXPECT_EQ(a.image_ref(), b.image_ref());
  auto imgs = List();
  ASSERT_EQ(imgs.size(), 2u);
  auto st = Status("busybox:1.36");
  ASSERT_TRUE(st.has_image());
  EXPECT_EQ(st.image().repo_tags_size(), 2);
  EXPECT_EQ(st.image().id(), a.image_ref());
  // The shared base layer is stored once: busybox (1) + tags (1 more).
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), 2);
  // Removing by one tag removes the image with all its tags (as containerd).
  ASSERT_EQ(Crictl({"rmi", "docker.io/library/busybox:1.36"}).exit_code, 0);
  EXPECT_FALSE(Status("busybox:latest").has_image());
  EXPECT_TRUE(Status("kcr-test/tags:2").has_image());
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), 2);  // still used by kcr-test/tags
}

TEST_F(ImageServiceTest, PullByDigestAndRemoveByIdPrefix) {
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("busybox", &r).ok());
  auto st = Status("busybox");
  ASSERT_EQ(st.image().repo_digests_size(), 1);
  std::string by_digest = st.image().repo_digests(0);
  EXPECT_EQ(by_digest.rfind("docker.io/library/busybox@sha256:", 0), 0u) << by_digest;
  ASSERT_EQ(Crictl({"rmi", r.image_ref().substr(7, 12)}).exit_code, 0);
  EXPECT_TRUE(List().empty());
  ASSERT_TRUE(Pull(by_digest, &r).ok());
  st = Status(by_digest);
  ASSERT_TRUE(st.has_image());
  EXPECT_EQ(st.image().repo_tags_size(), 0);  // pulled by digest only
  EXPECT_EQ(st.image().repo_digests(0), by_digest);
  EXPECT_TRUE(Status(r.image_ref()).has_image());
}

TEST_F(ImageServiceTest, MultiArchIndexPicksAmd64) {
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("kcr-test/multiarch", &r).ok());
  auto st = Status("kcr-test/multiarch", true);
  json info = json::parse(st.info().at("info"));
  EXPECT_EQ(info["imageSpec"]["architecture"], "amd64");
}

// Docker schema 2 (manifest list, manifests, config and gzip layers in
// Docker's media types), as Docker Hub serves most images.
TEST_F(ImageServiceTest, DockerManifestListPicksAmd64) {
  v1::PullImageResponse r;
  grpc::Status s = Pull("kcr-test/docker", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto st = Status("kcr-test/docker", true);
  ASSERT_TRUE(st.has_image());
  json info = json::parse(st.info().at("info"));
  EXPECT_EQ(info["imageSpec"]["architecture"], "amd64");
  EXPECT_GT(st.image().size(), 0u);
}

// ListImages' filter, the pinned pause image, RemoveImage by repo digest.
TEST_F(ImageServiceTest, FilterPinnedAndRemoveByDigest) {
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("busybox", &r).ok());
  ASSERT_TRUE(Pull("kcr-test/tags:1", &r).ok());
  ASSERT_TRUE(Pull("registry.k8s.io/pause:3.10", &r).ok());
  v1::ListImagesRequest lreq;
  lreq.mutable_filter()->mutable_image()->set_image("kcr-test/tags:1");
  v1::ListImagesResponse lresp;
  ASSERT_TRUE(Images().ListImages(Ctx().get(), lreq, &lresp).ok());
  ASSERT_EQ(lresp.images_size(), 1);
  EXPECT_EQ(lresp.images(0).repo_tags(0), "docker.io/kcr-test/tags:1");
  EXPECT_TRUE(Status("registry.k8s.io/pause:3.10").image().pinned());  // kubelet never collects it
  EXPECT_FALSE(Status("busybox").image().pinned());
  auto bb = Status("busybox").image();
  ASSERT_GT(bb.repo_digests_size(), 0);
  v1::RemoveImageRequest rm;
  rm.mutable_image()->set_image(bb.repo_digests(0));  // docker.io/library/busybox@sha256:...
  v1::RemoveImageResponse rmr;
  ASSERT_TRUE(Images().RemoveImage(Ctx().get(), rm, &rmr).ok());
  EXPECT_FALSE(Status("busybox").has_image());
  EXPECT_EQ(List().size(), 2u);
}

TEST_F(ImageServiceTest, MultiLayerZstdAndWhiteouts) {
  v1::PullImageResponse r;
  grpc::Status s = Pull("kcr-test/multilayer", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), 3);
  // Find the layer dirs: the whiteout and opaque markers are overlayfs ones.
  int whiteouts = 0, opaque = 0;
  for (int i = 1; i <= 3; i++) {
    struct stat sb;
    std::string fs = root_ + "/snapshots/" + std::to_string(i) + "/fs";
    if (lstat((fs + "/data/drop").c_str(), &sb) == 0 && S_ISCHR(sb.st_mode)) whiteouts++;
    char v[4];
    if (getxattr((fs + "/opq").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1) opaque++;
  }
  EXPECT_EQ(whiteouts, 1);
  EXPECT_EQ(opaque, 1);
}

TEST_F(ImageServiceTest, ImageUsers) {
  struct {
    const char* image;
    int64_t uid;
    const char* username;
  } cases[] = {{"kcr-test/user-uid", 1002, ""},
               {"kcr-test/user-username", -1, "www-data"},
               {"kcr-test/user-uid-group", 1003, ""},
               {"kcr-test/user-username-group", -1, "www-data"}};
  for (const auto& c : cases) {
    v1::PullImageResponse r;
    ASSERT_TRUE(Pull(c.image, &r).ok()) << c.image;
    auto st = Status(c.image);
    ASSERT_TRUE(st.has_image()) << c.image;
    if (c.uid >= 0) {
      ASSERT_TRUE(st.image().has_uid()) << c.image;
      EXPECT_EQ(st.image().uid().value(), c.uid) << c.image;
    } else {
      EXPECT_FALSE(st.image().has_uid()) << c.image;
    }
    EXPECT_EQ(st.image().username(), c.username) << c.image;
  }
}

TEST_F(ImageServiceTest, BadRequestsChangeNothing) {
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("busybox", &r).ok());
  int blobs = CountEntries(Blobs());
  grpc::Status s = Pull("kcr-test/does-not-exist:1", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("does-not-exist"), std::string::npos);
  s = Pull("Not/A/Valid:Reference!", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = Pull("", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List().size(), 1u);
  EXPECT_EQ(CountEntries(Blobs()), blobs);
  EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0);
  // Missing images: ImageStatus is empty, RemoveImage succeeds (CRI).
  EXPECT_FALSE(Status("kcr-test/nothing").has_image());
  v1::RemoveImageRequest rm;
  rm.mutable_image()->set_image("kcr-test/nothing");
  v1::RemoveImageResponse rmr;
  EXPECT_TRUE(Images().RemoveImage(Ctx().get(), rm, &rmr).ok());
}

// A layer that escapes its rootfs fails the pull naming the layer, and the
// pull takes back what it brought: blobs, layers and images are as before.
TEST_F(ImageServiceTest, HostileImageFailsAndLeavesTheStoreAsItWas) {
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("busybox", &r).ok());
  int blobs = CountEntries(Blobs()), snapshots = CountEntries(root_ + "/snapshots");
  for (int attempt = 0; attempt < 2; attempt++) {
    grpc::Status s = Pull("kcr-test/hostile", &r);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.error_message().find("layer sha256:"), std::string::npos) << s.error_message();
    EXPECT_EQ(CountEntries(Blobs()), blobs);
    EXPECT_EQ(CountEntries(root_ + "/snapshots"), snapshots);
    EXPECT_EQ(CountEntries(root_ + "/snapshots-tmp"), 0);
    EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0);
    EXPECT_EQ(List().size(), 1u);
  }
  EXPECT_TRUE(Status("busybox").has_image());  // the shared layer it held stays
}

TEST_F(ImageServiceTest, RegistryAuth) {
  v1::PullImageResponse r;
  grpc::Status s = Pull("127.0.0.1:5001/kcr-test/private", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  v1::AuthConfig wrong;
  wrong.set_username("kcr");
  wrong.set_password("wrong");
  s = Pull("127.0.0.1:5001/kcr-test/private", &r, &wrong);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_TRUE(List().empty());
  v1::AuthConfig good;
  good.set_username("kcr");
  good.set_password("kcr-test");
  s = Pull("127.0.0.1:5001/kcr-test/private", &r, &good);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(Crictl({"rmi", "127.0.0.1:5001/kcr-test/private"}).exit_code, 0);
  // What one pull's credentials obtained is not another pull's.
  s = Pull("127.0.0.1:5001/kcr-test/private", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_TRUE(List().empty());
  v1::AuthConfig b64;
  b64.set_auth("a2NyOmtjci10ZXN0");  // base64("kcr:kcr-test")
  s = Pull("127.0.0.1:5001/kcr-test/private", &r, &b64);
  EXPECT_TRUE(s.ok()) << s.error_message();
  CmdResult c = Crictl({"pull", "--creds", "kcr:kcr-test", "127.0.0.1:5001/kcr-test/private"});
  EXPECT_EQ(c.exit_code, 0) << c.out;
}

// A registry as public ones behave (hack/token_registry.py in front of the
// local one): bearer-token challenges, blobs redirected to storage, a 503
// before each blob, and a private path.
class TokenRegistryTest : public ImageServiceTest {
 protected:
  void SetUp() override {
    std::string script = std::string(KCR_SOURCE_DIR) + "/hack/token_registry.py";
    std::vector<char*> args{const_cast<char*>("/usr/bin/python3"), script.data(), const_cast<char*>("5003"),
                            const_cast<char*>("http://127.0.0.1:5000"), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    ASSERT_EQ(posix_spawn(&server_, args[0], &fa, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 100 && !Stats().is_object(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(Stats().is_object()) << "token registry did not start";
    ImageServiceTest::SetUp();
  }
  void TearDown() override {
    ImageServiceTest::TearDown();
    if (server_ > 0) {
      ::kill(server_, SIGTERM);
      ::waitpid(server_, nullptr, 0);
    }
  }
  json Stats() {
    CmdResult r = e2e::Run({"/usr/bin/curl", "-sf", "http://127.0.0.1:5003/stats"});
    return r.exit_code == 0 ? json::parse(r.out, nullptr, false) : json();
  }
  void Rmi(const std::string& image) {
    v1::RemoveImageRequest rm;
    rm.mutable_image()->set_image(image);
    v1::RemoveImageResponse rmr;
    ASSERT_TRUE(Images().RemoveImage(Ctx().get(), rm, &rmr).ok());
  }
  pid_t server_ = -1;
};

TEST_F(TokenRegistryTest, BearerTokensRedirectsRetriesAndTokenKinds) {
  v1::PullImageResponse r;
  grpc::Status s = Pull("127.0.0.1:5003/kcr-test/multilayer", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  json st = Stats();
  EXPECT_GE(st["challenges"].get<int>(), 1);
  EXPECT_GE(st["tokens"].value("tok-anonymous", 0), 1);  // anonymous bearer flow
  EXPECT_GE(st["unavailable"].get<int>(), 4);             // config + 3 layers, each retried
  EXPECT_GE(st["redirects"].get<int>(), 4);               // and fetched from "storage"
  EXPECT_EQ(List().size(), 1u);

  const std::string priv = "127.0.0.1:5003/private/kcr-test/tags:1";
  s = Pull(priv, &r);  // an anonymous token does not open a private repository
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  // Each kind of credential the CRI carries, and the token it earns.
  v1::AuthConfig basic, identity, registry_token;
  basic.set_username("kcr");
  basic.set_password("kcr-test");
  identity.set_identity_token("kcr-refresh");  // an OAuth2 refresh token
  registry_token.set_registry_token("kcr-registry-token");  // sent as it is
  for (const auto& [auth, token] : std::vector<std::pair<v1::AuthConfig, std::string>>{
           {basic, "tok-user"}, {identity, "tok-oauth"}, {registry_token, ""}}) {
    s = Pull(priv, &r, &auth);
    ASSERT_TRUE(s.ok()) << token << ": " << s.error_message();
    if (!token.empty()) {
      EXPECT_GE(Stats()["tokens"].value(token, 0), 1) << token;
    }
    Rmi(priv);
  }
  v1::AuthConfig wrong;
  wrong.set_identity_token("not-the-refresh-token");
  s = Pull(priv, &r, &wrong);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(List().size(), 1u);
}

// CA and client certificates per registry host (hack/registry.sh's TLS
// instance on 127.0.0.1:5443 verifies client certificates).
class TlsRegistryTest : public ImageServiceTest {
 protected:
  void SetUp() override { KcrdFixture::SetUp(); }
  std::string Tls(bool ca, bool client_cert) {
    const std::string d = "/run/kcr-test-registry/tls/";
    std::string t = "[images]\nmax_retries = 0\n[registry.tls.\"127.0.0.1:5443\"]\n";
    if (ca) t += "ca_file = \"" + d + "ca.pem\"\n";
    if (client_cert) t += "cert_file = \"" + d + "client.pem\"\nkey_file = \"" + d + "client-key.pem\"\n";
    return t;
  }
};

// Pulls of different images that share a layer download it once.
TEST_F(TokenRegistryTest, ConcurrentPullsDownloadASharedLayerOnce) {
  std::vector<grpc::Status> results(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; i++)
    threads.emplace_back([&, i] {
      v1::PullImageResponse r;
      results[i] = Pull("127.0.0.1:5003/kcr-test/distinct-" + std::to_string(i + 1), &r);
    });
  for (auto& t : threads) t.join();
  for (const auto& s : results) ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(List().size(), 2u);
  json downloads = Stats()["blob_downloads"];
  ASSERT_TRUE(downloads.is_object());
  EXPECT_EQ(downloads.size(), 5u);  // 2 configs, 2 own layers, 1 shared busybox layer
  for (const auto& [digest, n] : downloads.items()) EXPECT_EQ(n.get<int>(), 1) << digest;
}

TEST_F(TlsRegistryTest, CaAndClientCertificatePerHost) {
  Start(Tls(true, true));
  v1::PullImageResponse r;
  grpc::Status s = Pull("127.0.0.1:5443/library/busybox", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  Stop();
  Start(Tls(true, false));  // the registry refuses a client without a certificate
  s = Pull("127.0.0.1:5443/kcr-test/tags:1", &r);
  EXPECT_FALSE(s.ok());
  Stop();
  Start(Tls(false, true));  // and kcr refuses a server its CAs do not vouch for
  s = Pull("127.0.0.1:5443/kcr-test/tags:1", &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.error_message().find("127.0.0.1:5443"), std::string::npos) << s.error_message();
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(ImageServiceTest, ConcurrentPullsShareOneDownload) {
  std::vector<std::thread> threads;
  std::vector<grpc::Status> results(4);
  std::vector<v1::PullImageResponse> resps(4);
  for (int i = 0; i < 4; i++) threads.emplace_back([&, i] { results[i] = Pull("kcr-test/big", &resps[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; i++) {
    ASSERT_TRUE(results[i].ok()) << results[i].error_message();
    EXPECT_EQ(resps[i].image_ref(), resps[0].image_ref());
  }
  EXPECT_EQ(List().size(), 1u);
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), 4);
}

// A crash while a layer is being unpacked (not downloaded) leaves no layer
// half made: the next start-up removes the scratch directory, and the pull
// succeeds.
TEST_F(ImageServiceTest, KillDuringUnpackLeavesNoPartialLayer) {
  v1::PullImageResponse small;
  ASSERT_TRUE(Pull("busybox", &small).ok());
  int layers = CountEntries(root_ + "/snapshots");
  std::thread puller([&] {
    v1::PullImageResponse r;
    Pull("kcr-test/big", &r);  // interrupted by the crash below
  });
  bool unpacking = false;
  for (int i = 0; i < 20000 && !unpacking; i++) {
    unpacking = CountEntries(root_ + "/snapshots-tmp") > 0;
    if (!unpacking) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  Kill9();
  puller.join();
  ASSERT_TRUE(unpacking) << "never saw a layer being unpacked";
  Start();
  EXPECT_EQ(CountEntries(root_ + "/snapshots-tmp"), 0);
  auto imgs = List();
  ASSERT_EQ(imgs.size(), 1u);
  EXPECT_EQ(imgs[0].id(), small.image_ref());
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), layers);  // start-up GC: no layer without an image
  v1::PullImageResponse big;
  grpc::Status s = Pull("kcr-test/big", &big);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), layers + 3);
}

TEST_F(ImageServiceTest, KillDuringPullLeavesNoPartialImage) {
  v1::PullImageResponse small;
  ASSERT_TRUE(Pull("busybox", &small).ok());
  std::thread puller([&] {
    v1::PullImageResponse r;
    Pull("kcr-test/big", &r);  // interrupted by the crash below
  });
  // Kill while the big layers stream in (ingest files exist).
  for (int i = 0; i < 400 && CountEntries(root_ + "/content/ingest") == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Kill9();
  puller.join();
  Start();
  auto imgs = List();
  ASSERT_EQ(imgs.size(), 1u);
  EXPECT_EQ(imgs[0].id(), small.image_ref());
  EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0);  // leftovers cleared at start-up
  EXPECT_EQ(CountEntries(root_ + "/snapshots-tmp"), 0);
  v1::PullImageResponse big;
  grpc::Status s = Pull("kcr-test/big", &big);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(List().size(), 2u);
  CmdResult r = Crictl({"images"});
  EXPECT_NE(r.out.find("kcr-test/big"), std::string::npos) << r.out;
}

// Mirrors are tried in order: an unreachable one is skipped, the next serves.
class MirrorTest : public ImageServiceTest {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start("[images]\nmax_retries = 1\n"
          "[registry.mirrors.\"mirror.test\"]\n"
          "endpoints = [\"http://127.0.0.1:5009\", \"http://127.0.0.1:5000\"]\n"
          "server = \"http://127.0.0.1:5009\"\n");
  }
};

TEST_F(MirrorTest, FallsThroughToAWorkingMirror) {
  v1::PullImageResponse r;
  grpc::Status s = Pull("mirror.test/library/busybox:latest", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto st = Status("mirror.test/library/busybox");
  ASSERT_TRUE(st.has_image());
  EXPECT_EQ(st.image().repo_tags(0), "mirror.test/library/busybox:latest");
  s = Pull("mirror.test/library/nothing-here", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
}

// A registry that misbehaves on purpose (hack/hostile_registry.py, on a free
// loopback port): decompression bombs, lying sizes, bad digests, trickling
// and stalled blobs. Every refused pull leaves the store as it was.
class HostileRegistryTest : public ImageServiceTest {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    std::string script = std::string(KCR_SOURCE_DIR) + "/hack/hostile_registry.py";
    std::vector<char*> args{const_cast<char*>("/usr/bin/python3"), script.data(), const_cast<char*>("0"),
                            const_cast<char*>("http://127.0.0.1:5000"), nullptr};
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    ASSERT_EQ(posix_spawn(&server_, args[0], &fa, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    // Its first line names the port it listens on.
    std::string line;
    char c;
    while (line.find('\n') == std::string::npos && ::read(out[0], &c, 1) == 1) line.push_back(c);
    ::close(out[0]);
    auto colon = line.rfind(':');
    ASSERT_NE(colon, std::string::npos) << "hostile registry did not start: " << line;
    host_ = "127.0.0.1:" + line.substr(colon + 1, line.find('\n') - colon - 1);
  }
  void TearDown() override {
    ImageServiceTest::TearDown();
    if (server_ > 0) {
      ::kill(server_, SIGTERM);
      ::waitpid(server_, nullptr, 0);
    }
  }
  json Stats() {
    CmdResult r = e2e::Run({"/usr/bin/curl", "-sf", "http://" + host_ + "/stats"});
    return r.exit_code == 0 ? json::parse(r.out, nullptr, false) : json();
  }
  // Polls the registry's counters until `pred` holds (at most `limit_s`).
  bool WaitStats(const std::function<bool(const json&)>& pred, int limit_s = 30) {
    for (int i = 0; i < limit_s * 20; i++) {
      json s = Stats();
      if (s.is_object() && pred(s)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // The store holds exactly what it held before the refused pull.
  void ExpectStoreUnchanged(int blobs, int snapshots, size_t images, const std::string& what) {
    EXPECT_EQ(CountEntries(Blobs()), blobs) << what;
    EXPECT_EQ(CountEntries(root_ + "/snapshots"), snapshots) << what;
    EXPECT_EQ(CountEntries(root_ + "/snapshots-tmp"), 0) << what;
    EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0) << what;
    EXPECT_EQ(List().size(), images) << what;
  }
  std::string Hostile(const std::string& name) { return host_ + "/hostile/" + name + ":1"; }
  std::string host_;
  pid_t server_ = -1;
};

// A few KiB of gzip that unpack to 64 MiB, and four layers that are each
// under the per-layer cap but together over the per-image one: both fail
// naming the layer and the limit, and nothing half-unpacked stays.
TEST_F(HostileRegistryTest, UncompressedBytesAreCappedPerLayerAndPerImage) {
  Start("[images]\nmax_retries = 0\nmax_layer_bytes = 8388608\nmax_image_bytes = 20971520\n");
  v1::PullImageResponse r;
  ASSERT_TRUE(Pull("busybox", &r).ok());
  int blobs = CountEntries(Blobs()), snapshots = CountEntries(root_ + "/snapshots");
  grpc::Status s = Pull(Hostile("bomb"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("layer sha256:"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("images.max_layer_bytes"), std::string::npos) << s.error_message();
  ExpectStoreUnchanged(blobs, snapshots, 1, "bomb");
  s = Pull(Hostile("bombs"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("layer sha256:"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("images.max_image_bytes"), std::string::npos) << s.error_message();
  ExpectStoreUnchanged(blobs, snapshots, 1, "bombs");
}

// Sizes a manifest declares are capped before anything is fetched; bodies
// longer than declared (announced or not) and wrong digests fail cleanly.
TEST_F(HostileRegistryTest, DeclaredSizesBodiesAndDigestsAreChecked) {
  Start("[images]\nmax_retries = 0\nmax_layer_bytes = 8388608\n");
  v1::PullImageResponse r;
  grpc::Status s = Pull(Hostile("huge-size"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("declares 1099511627776 bytes"), std::string::npos) << s.error_message();
  EXPECT_TRUE(Stats()["blob_requests"].empty()) << Stats().dump();  // refused before any blob was asked for
  ExpectStoreUnchanged(0, 0, 0, "huge-size");
  for (const char* name : {"long-body", "long-body-unsized", "bad-digest"}) {
    s = Pull(Hostile(name), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("blob sha256:"), std::string::npos) << name << ": " << s.error_message();
    ExpectStoreUnchanged(0, 0, 0, name);
  }
}

// A blob that keeps moving, just fast enough for the stall limit, still
// ends at its total deadline.
TEST_F(HostileRegistryTest, TricklingBlobEndsAtItsDeadline) {
  Start("[images]\nmax_retries = 0\nblob_timeout_s = 3\n");
  v1::PullImageRequest req;
  req.mutable_image()->set_image(Hostile("trickle"));
  v1::PullImageResponse r;
  grpc::Status s = Images().PullImage(Ctx(60).get(), req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_NE(s.error_message().find("images.blob_timeout_s"), std::string::npos) << s.error_message();
  ExpectStoreUnchanged(0, 0, 0, "trickle");
}

// A pull stalled on a hostile registry holds up neither an unrelated pull
// nor one of an image sharing the stalled layer from another registry; when
// its gRPC call is cancelled, the download stops and nothing of it stays.
TEST_F(HostileRegistryTest, StalledPullBlocksNoOtherAndEndsWithItsCall) {
  Start("[images]\nmax_retries = 0\nblob_stall_timeout_s = 600\n");
  v1::PullImageRequest req;
  req.mutable_image()->set_image(Hostile("stall"));
  grpc::ClientContext stalled_ctx;
  stalled_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  grpc::Status stalled;
  std::thread puller([&] {
    v1::PullImageResponse r;
    stalled = Images().PullImage(&stalled_ctx, req, &r);
  });
  ASSERT_TRUE(WaitStats([](const json& s) { return s["stalling"].get<int>() == 1; })) << Stats().dump();
  // An unrelated image from the same registry, and two from another one
  // that share the stalled layer; each gets far less time than the stalled
  // pull has left.
  for (const std::string& image : {Hostile("honest"), std::string("kcr-test/tags:1"), std::string("busybox")}) {
    v1::PullImageRequest other;
    other.mutable_image()->set_image(image);
    v1::PullImageResponse r;
    grpc::Status s = Images().PullImage(Ctx(30).get(), other, &r);
    EXPECT_TRUE(s.ok()) << image << ": " << s.error_message();
  }
  EXPECT_EQ(Stats()["stalling"].get<int>(), 1);  // still stalled all along
  stalled_ctx.TryCancel();
  puller.join();
  EXPECT_EQ(stalled.error_code(), grpc::StatusCode::CANCELLED) << stalled.error_message();
  // kcr hangs up on the registry: its download ended with the call.
  EXPECT_TRUE(WaitStats([](const json& s) { return s["hangups"].get<int>() == 1; })) << Stats().dump();
  for (int i = 0; i < 200 && CountEntries(root_ + "/content/ingest") > 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0);
  EXPECT_EQ(CountEntries(root_ + "/snapshots-tmp"), 0);
  EXPECT_EQ(List().size(), 3u);
  EXPECT_FALSE(Status(Hostile("stall")).has_image());
}


// A mirror that serves a blob whose digest is wrong is passed over for the
// next endpoint, as for any other fetch error; when every endpoint fails
// the error names each one's failure.
TEST_F(HostileRegistryTest, ADigestMismatchFromOneMirrorTriesTheNext) {
  Start("[images]\nmax_retries = 0\n"
        "[registry.mirrors.\"hostile.test\"]\n"
        "endpoints = [\"http://" + host_ + "/flip\", \"http://" + host_ + "\"]\n"
        "server = \"http://" + host_ + "\"\n");
  v1::PullImageResponse r;
  grpc::Status s = Pull("hostile.test/hostile/honest:1", &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(List().size(), 1u);
  EXPECT_EQ(CountEntries(root_ + "/content/ingest"), 0);
  // Wrong on every endpoint: refused, each named.
  s = Pull("hostile.test/hostile/bad-digest:1", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_NE(s.error_message().find(host_ + "/flip"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("http://" + host_ + ":"), std::string::npos) << s.error_message();
  EXPECT_EQ(List().size(), 1u);
}


// The per-image cap counts every layer of the image, those already stored
// for another image too: an image whose own new layers are under the cap
// but whose whole is over it is refused.
TEST_F(HostileRegistryTest, ThePerImageCapCountsLayersAlreadyStored) {
  Start("[images]\nmax_retries = 0\nmax_layer_bytes = 8388608\nmax_image_bytes = 20971520\n");
  v1::PullImageResponse r;
  grpc::Status s = Pull(Hostile("bombs-half"), &r);  // 12 MiB: under the cap
  ASSERT_TRUE(s.ok()) << s.error_message();
  int blobs = CountEntries(Blobs()), snapshots = CountEntries(root_ + "/snapshots");
  // Its two layers and two more: 12 MiB new, 24 MiB in all.
  s = Pull(Hostile("bombs"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("images.max_image_bytes"), std::string::npos) << s.error_message();
  ExpectStoreUnchanged(blobs, snapshots, 1, "bombs after bombs-half");
}

}  // namespace
}  // namespace kcr::e2e
