#pragma once
// RegistryClient: the OCI distribution API over libcurl. Per registry host,
// configured mirrors are tried in order before the origin; bearer tokens
// (anonymous or with credentials, refresh tokens as OAuth2), basic auth and
// registry tokens; redirects followed (to blob storage on other hosts, with
// credentials dropped); transient errors retried with exponential back-off.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "images/cancel.h"
#include "images/image_store.h"
#include "images/reference.h"

namespace kcr::images {

struct RegistryHostConfig {
  std::vector<std::string> mirrors;  // "http://127.0.0.1:5000", "https://mirror.example/prefix"
  std::string server;                // replaces the origin endpoint when set (containerd's hosts.toml `server`)
  bool insecure_skip_verify = false;
  std::string ca_file, cert_file, key_file;
};

struct RegistryOptions {
  std::map<std::string, RegistryHostConfig> hosts;  // by registry host or mirror host
  int max_retries = 3;
  int base_backoff_ms = 200;
  // A registry decides how fast it answers: every request has a deadline.
  // Manifests, tokens and error answers are small and must arrive whole
  // within `small_request_timeout_s`; a blob may take as long as it needs
  // but must keep moving (at least `min_bytes_per_s` averaged over
  // `stall_timeout_s`).
  int small_request_timeout_s = 120;
  int stall_timeout_s = 60;
  int min_bytes_per_s = 1024;
  // A blob that keeps moving just fast enough could still take forever: all
  // attempts at one blob together end after `blob_timeout_s` (0: no bound).
  int blob_timeout_s = 3600;
};

// Largest error body kept from a registry (it only feeds the message).
inline constexpr size_t kMaxErrorBodyBytes = 64 << 10;
// Largest token server answer.
inline constexpr size_t kMaxTokenResponseBytes = 1 << 20;

class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions o);

  struct Manifest {
    std::string body;
    std::string content_type;
    std::string digest;  // Docker-Content-Digest, or computed
  };

  // GET /v2/<path>/manifests/<tag-or-digest>. When `ref_or_digest` is a
  // digest the body is verified against it (DataLoss otherwise). Every
  // request (manifests, tokens, blobs) stops with Cancelled naming its URL
  // as soon as `cancel` fires (checked at least once a second).
  StatusOr<Manifest> GetManifest(const Reference& ref, const std::string& ref_or_digest, const AuthConfig& auth,
                                 const Cancel& cancel);

  // GET /v2/<path>/blobs/<digest>, streaming into `sink` (which may fail).
  // `restart` is called before each retry so the sink can start over.
  // `verify` (the sink's digest check and commit) judges each complete
  // answer: its error (e.g. DataLoss, a digest mismatch) counts as that
  // endpoint's failure, and the next endpoint is tried after `restart`, as
  // for any other fetch error. An answer announcing more than `max_bytes`
  // (the descriptor's size) is DataLoss before any byte reaches the sink;
  // all attempts together end with DeadlineExceeded after blob_timeout_s.
  // When every endpoint failed the error names each endpoint's failure.
  using Sink = std::function<Status(const char*, size_t)>;
  Status GetBlob(const Reference& ref, const std::string& digest, int64_t max_bytes, const AuthConfig& auth,
                 const Sink& sink, const std::function<Status()>& restart, const std::function<Status()>& verify,
                 const Cancel& cancel);

  // Endpoints tried for `domain`, in order (mirrors, then the origin).
  std::vector<std::string> Endpoints(const std::string& domain) const;

 private:
  struct Response {
    long code = 0;
    std::string body;
    std::string content_type, docker_digest, www_authenticate;
    int64_t content_length = -1;  // of the current answer; -1 when not announced
    bool sink_failed = false;
  };
  // What bounds one request besides the options: its caller's cancellation,
  // a deadline for all attempts (blobs), the most bytes a blob may announce.
  struct Bounds {
    const Cancel* cancel = nullptr;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    std::string deadline_what;  // names the object and the limit in the DeadlineExceeded message
    int64_t max_content_length = -1;
    std::string blob;  // "blob <digest>" for blob requests, naming it in errors
  };
  StatusOr<Response> Do(const std::string& url, const std::string& accept, const std::string& authorization,
                        const Sink* sink, size_t max_body, const std::string& post, const Bounds& bounds);
  // Runs GET `suffix` against each endpoint in order with auth handling
  // and retries, until one answers 200 and `verify` (if set) accepts the
  // answer; a verify error moves on to the next endpoint (after `restart`).
  // The error when none did names each endpoint's failure.
  using Verify = std::function<Status(const Response&)>;
  StatusOr<Response> Get(const Reference& ref, const std::string& suffix, const std::string& accept,
                         const AuthConfig& auth, const Sink* sink, const std::function<Status()>* restart,
                         size_t max_body, const Bounds& bounds, const Verify* verify = nullptr);
  StatusOr<std::string> Token(const std::string& endpoint, const std::string& challenge, const std::string& scope,
                              const AuthConfig& auth, const Bounds& bounds);
  const RegistryHostConfig* HostConfig(const std::string& url) const;
  bool HasTlsConfig(const std::string& domain) const;  // CA, client certificate or skip-verify set

  RegistryOptions opt_;
  std::mutex mu_;
  // endpoint + " " + scope + " " + CredentialKey -> "Bearer ..." / "Basic ..."
  std::map<std::string, std::string> tokens_;
};

// True for registry domains that speak plain HTTP unless TLS is configured
// for them, as docker and containerd assume: exactly `localhost`, or an IP
// literal that is loopback (127.0.0.0/8, [::1]), each with an optional port.
// Names that merely begin so (`localhost.example.com`, `127.evil.net`) are
// ordinary hosts and use HTTPS.
bool IsLoopbackRegistry(const std::string& domain);

// What a registry's error body says (the first `errors[].message`), or "".
std::string RegistryErrorDetail(const std::string& body);

// A WWW-Authenticate challenge: scheme in lower case ("bearer", "basic")
// and its parameters with lower-case keys.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
AuthChallenge ParseAuthChallenge(const std::string& header);

// The token from a token server's JSON answer (`token`, else
// `access_token`). Unauthenticated naming `realm` when there is none.
StatusOr<std::string> ParseTokenResponse(const std::string& body, const std::string& realm);

// "user:password" from AuthConfig (username/password or base64 `auth`).
// Empty when it has neither.
std::string BasicCredentials(const AuthConfig& auth);

// Identifies the credentials a request carries (a digest, never the
// secrets themselves; "" for none): what one request obtained with them is
// never reused by a request with other credentials or none.
std::string CredentialKey(const AuthConfig& auth);

}  // namespace kcr::images
