// Volumes kubelet prepares and kcr mounts into containers: emptyDir (disk
// and memory), configMap, secret, downwardAPI, projected, and the service
// account volume every pod gets.
#include <algorithm>

#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

class NodeVolumes : public NodeTest {
 protected:
  std::string Cat(const std::string& path, const std::string& ctr = "c") {
    Proc p = Exec("vols", ctr, {"cat", path});
    EXPECT_EQ(p.code, 0) << path << ": " << p.err;
    return p.out;
  }
};

TEST_F(NodeVolumes, EmptyDirConfigMapSecretDownwardApiProjected) {
  Apply(R"j({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vols-cm"},
             "data": {"greeting": "hello from a config map"}})j");
  Apply(R"j({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vols-secret"},
             "stringData": {"password": "s3cret"}})j");
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "vols", "labels": {"app": "vols", "tier": "test"}},
    "spec": {"terminationGracePeriodSeconds": 1,
      "volumes": [
        {"name": "disk", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": "cm", "configMap": {"name": "vols-cm"}},
        {"name": "sec", "secret": {"secretName": "vols-secret", "defaultMode": 256}},
        {"name": "down", "downwardAPI": {"items": [
          {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
          {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
          {"path": "mem_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory"}}]}},
        {"name": "proj", "projected": {"sources": [
          {"configMap": {"name": "vols-cm", "items": [{"key": "greeting", "path": "cm/greeting"}]}},
          {"secret": {"name": "vols-secret", "items": [{"key": "password", "path": "secret/password"}]}},
          {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
          {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}],
      "containers": [
        {"name": "c", "image": ")j") +
        kBusybox + R"j(", "command": )j" + kSleeper + R"j(,
         "resources": {"limits": {"memory": "64Mi"}},
         "volumeMounts": [{"name": "disk", "mountPath": "/disk"}, {"name": "mem", "mountPath": "/mem"},
                          {"name": "cm", "mountPath": "/cm"}, {"name": "sec", "mountPath": "/sec"},
                          {"name": "down", "mountPath": "/down"}, {"name": "proj", "mountPath": "/proj"}]},
        {"name": "writer", "image": ")j" +
        kBusybox + R"j(", "command": ["sh", "-c",
           "echo from-writer > /disk/shared; echo in-memory > /mem/shared; trap 'exit 0' TERM; sleep 3600 & wait"],
         "volumeMounts": [{"name": "disk", "mountPath": "/disk"}, {"name": "mem", "mountPath": "/mem"}]}]}})j");
  ASSERT_TRUE(Wait("pod/vols", "condition=Ready"));

  // emptyDir: shared between the pod's containers; medium Memory is a tmpfs.
  ASSERT_TRUE(Eventually([&] { return Exec("vols", "c", {"cat", "/disk/shared"}).out == "from-writer\n"; }, 30));
  EXPECT_EQ(Cat("/mem/shared"), "in-memory\n");
  std::string mounts = Cat("/proc/mounts");
  EXPECT_NE(mounts.find("tmpfs /mem tmpfs"), std::string::npos) << mounts;
  // configMap, secret (mode 0400 as asked; secrets are on tmpfs).
  EXPECT_EQ(Cat("/cm/greeting"), "hello from a config map");
  EXPECT_EQ(Cat("/sec/password"), "s3cret");
  EXPECT_EQ(Exec("vols", "c", {"stat", "-L", "-c", "%a", "/sec/password"}).out, "400\n");
  EXPECT_NE(mounts.find("tmpfs /sec tmpfs"), std::string::npos) << mounts;
  // downwardAPI.
  EXPECT_EQ(Cat("/down/name"), "vols");
  std::string labels = Cat("/down/labels");
  EXPECT_NE(labels.find("app=\"vols\""), std::string::npos) << labels;
  EXPECT_NE(labels.find("tier=\"test\""), std::string::npos) << labels;
  EXPECT_EQ(Cat("/down/mem_limit"), std::to_string(64 << 20));
  // projected: every source in one directory, and a bound token.
  EXPECT_EQ(Cat("/proj/cm/greeting"), "hello from a config map");
  EXPECT_EQ(Cat("/proj/secret/password"), "s3cret");
  EXPECT_EQ(Cat("/proj/ns"), "default");
  std::string token = Cat("/proj/token");
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << "not a JWT: " << token.substr(0, 80);
  // The service account volume every pod gets (kube-api-access-*).
  EXPECT_EQ(Cat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"), "default");
  EXPECT_NE(Cat("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt").find("BEGIN CERTIFICATE"),
            std::string::npos);
  // Volumes are not writable where Kubernetes makes them read-only.
  EXPECT_NE(Exec("vols", "c", {"sh", "-c", "echo x > /cm/new"}).code, 0);
}

}  // namespace
}  // namespace kcr::node
