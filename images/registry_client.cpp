#include "images/registry_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"
#include "images/digest.h"
#include "images/manifest.h"

namespace kcr::images {

namespace {

std::string Base64Decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::string Base64Encode(const std::string& in) {
  static const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(chars[(val >> bits) & 0x3f]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(chars[((val << 8) >> (bits + 8)) & 0x3f]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

}  // namespace

// Parses `Bearer realm="..",service="..",scope=".."` into lower-case keys.
AuthChallenge ParseAuthChallenge(const std::string& h) {
  AuthChallenge c;
  std::map<std::string, std::string>& out = c.params;
  size_t sp = h.find(' ');
  c.scheme = h.substr(0, sp);
  for (char& ch : c.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t i = sp == std::string::npos ? h.size() : sp + 1;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) i++;
    size_t eq = h.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = h.substr(i, eq - i);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    i = eq + 1;
    std::string val;
    if (i < h.size() && h[i] == '"') {
      i++;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) i++;
        val.push_back(h[i++]);
      }
      i++;
    } else {
      while (i < h.size() && h[i] != ',') val.push_back(h[i++]);
    }
    out[key] = val;
  }
  return c;
}

namespace {

std::string UrlEncode(const std::string& s) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string HostOf(const std::string& url) {
  auto s = url.find("://");
  size_t start = s == std::string::npos ? 0 : s + 3;
  auto end = url.find('/', start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool Transient(long code) { return code == 0 || code == 429 || code >= 500; }

Status HttpError(long code, const std::string& what, const std::string& body) {
  std::string detail = RegistryErrorDetail(body);
  std::string msg = what + ": HTTP " + std::to_string(code) + (detail.empty() ? "" : " (" + detail + ")");
  switch (code) {
    case 404: return absl::NotFoundError(msg);
    case 401: return absl::UnauthenticatedError(msg);
    case 403: return absl::PermissionDeniedError(msg);
    case 429: return absl::ResourceExhaustedError(msg);
    default: return code >= 500 ? absl::UnavailableError(msg) : absl::FailedPreconditionError(msg);
  }
}

bool PlainHttp(const std::string& url) { return url.rfind("http://", 0) == 0; }

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

bool IsLoopbackRegistry(const std::string& domain) {
  std::string host = domain, port;
  bool has_port = false;
  bool loopback = false;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) return false;
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
    in6_addr a{};
    if (::inet_pton(AF_INET6, host.c_str(), &a) != 1) return false;
    loopback = IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
  } else {
    if (size_t colon = host.rfind(':'); colon != std::string::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      has_port = true;
    }
    std::string lower = host;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    in_addr a{};
    // inet_pton accepts only the dotted-quad form, so "127.evil.net" or
    // "127.1" are names, not addresses.
    loopback = lower == "localhost" ||
               (::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
  }
  if (has_port) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
    int p = std::stoi(port);
    if (p < 1 || p > 65535) return false;
  }
  return loopback;
}

std::string RegistryErrorDetail(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return "";
  auto errors = j.find("errors");
  if (errors == j.end() || !errors->is_array() || errors->empty() || !(*errors)[0].is_object()) return "";
  auto msg = (*errors)[0].find("message");
  // Any JSON type may stand here in a hostile answer; only a string is a message.
  if (msg == (*errors)[0].end() || !msg->is_string()) return "";
  std::string m = msg->get<std::string>();
  if (m.size() > 512) m = m.substr(0, 512) + "...";
  return m;
}

StatusOr<std::string> ParseTokenResponse(const std::string& body, const std::string& realm) {
  if (body.size() > kMaxTokenResponseBytes)
    return absl::UnauthenticatedError("token server " + realm + ": answer larger than " +
                                      std::to_string(kMaxTokenResponseBytes) + " bytes");
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return absl::UnauthenticatedError("token server " + realm + " answered no JSON object");
  std::string tok;
  for (const char* key : {"token", "access_token"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      tok = it->get<std::string>();
      break;
    }
  }
  if (tok.empty()) return absl::UnauthenticatedError("token server " + realm + " returned no token");
  // The token goes into an HTTP header: a CR or LF would inject headers.
  for (char c : tok)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return absl::UnauthenticatedError("token server " + realm + " returned a token with control characters");
  return tok;
}

std::string BasicCredentials(const AuthConfig& a) {
  if (!a.username.empty() || !a.password.empty()) return a.username + ":" + a.password;
  if (!a.auth.empty()) return Base64Decode(a.auth);
  return "";
}

std::string CredentialKey(const AuthConfig& a) {
  if (a.username.empty() && a.password.empty() && a.auth.empty() && a.identity_token.empty() &&
      a.registry_token.empty())
    return "";
  std::string all;
  for (const std::string* f : {&a.username, &a.password, &a.auth, &a.identity_token, &a.registry_token})
    all += std::to_string(f->size()) + ":" + *f;
  return Sha256Digest(all);
}

RegistryClient::RegistryClient(RegistryOptions o) : opt_(std::move(o)) { static CurlGlobal global; }

std::vector<std::string> RegistryClient::Endpoints(const std::string& domain) const {
  std::vector<std::string> out;
  bool origin_listed = false;
  std::string server;
  if (auto it = opt_.hosts.find(domain); it != opt_.hosts.end()) {
    server = it->second.server;
    for (auto m : it->second.mirrors) {
      while (!m.empty() && m.back() == '/') m.pop_back();
      if (m.find("://") == std::string::npos) m = "https://" + m;
      if (HostOf(m) == domain) origin_listed = true;
      out.push_back(m);
    }
  }
  if (!server.empty()) {
    while (server.back() == '/') server.pop_back();
    out.push_back(server.find("://") == std::string::npos ? "https://" + server : server);
  } else if (!origin_listed) {
    if (domain == "docker.io") out.push_back("https://registry-1.docker.io");
    // Loopback registries speak plain HTTP, as docker and containerd
    // assume, unless TLS is configured for them.
    // (An operator makes any other host plain HTTP by naming it with
    // http:// as a mirror endpoint or `server`.)
    else if (IsLoopbackRegistry(domain) && !HasTlsConfig(domain))
      out.push_back("http://" + domain);
    else out.push_back("https://" + domain);
  }
  return out;
}

bool RegistryClient::HasTlsConfig(const std::string& domain) const {
  auto it = opt_.hosts.find(domain);
  return it != opt_.hosts.end() && (it->second.insecure_skip_verify || !it->second.ca_file.empty() ||
                                    !it->second.cert_file.empty());
}

const RegistryHostConfig* RegistryClient::HostConfig(const std::string& url) const {
  auto it = opt_.hosts.find(HostOf(url));
  return it == opt_.hosts.end() ? nullptr : &it->second;
}

StatusOr<RegistryClient::Response> RegistryClient::Do(const std::string& url, const std::string& accept,
                                                      const std::string& authorization, const Sink* sink,
                                                      size_t max_body, const std::string& post, const Bounds& bounds) {
  struct Ctx {
    Response* r;
    const Sink* sink;
    size_t max;
    Status sink_status;
    bool over = false;  // the answer was longer than allowed and cut off
    int64_t max_content_length;
    bool announced_too_long = false;  // a blob answer announced more than its descriptor's size
  };
  if (bounds.cancel) KCR_RETURN_IF_ERROR(bounds.cancel->Check(url));
  long timeout_ms = 0;
  if (bounds.deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*bounds.deadline -
                                                                      std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError(bounds.deadline_what);
    timeout_ms = static_cast<long>(left.count());
  }
  Response resp;
  Ctx ctx{&resp, sink, max_body, absl::OkStatus(), false, bounds.max_content_length, false};
  CURL* c = curl_easy_init();
  if (!c) return absl::InternalError("curl_easy_init failed");
  struct Cleanup {
    CURL* c;
    curl_slist* h = nullptr;
    ~Cleanup() {
      curl_slist_free_all(h);
      curl_easy_cleanup(c);
    }
  } cleanup{c};
  if (!accept.empty()) cleanup.h = curl_slist_append(cleanup.h, ("Accept: " + accept).c_str());
  if (!authorization.empty()) cleanup.h = curl_slist_append(cleanup.h, ("Authorization: " + authorization).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, cleanup.h);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
  // A registry that stalls or trickles must not hold a pull (and every pull
  // sharing its download) forever: blobs must keep moving, small answers
  // must be complete within a deadline.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(opt_.min_bytes_per_s));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opt_.stall_timeout_s));
  if (!sink) curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(opt_.small_request_timeout_s));
  else if (timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  // libcurl calls this at least once a second, also while nothing arrives:
  // a cancelled caller ends the transfer within that second.
  if (bounds.cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, bounds.cancel);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
                     +[](void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                       return static_cast<const Cancel*>(ud)->cancelled() ? 1 : 0;
                     });
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kcr/0.1");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!post.empty()) curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, post.c_str());
  if (const RegistryHostConfig* h = HostConfig(url)) {
    if (h->insecure_skip_verify) {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!h->ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file.c_str());
    if (!h->cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file.c_str());
    if (!h->key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* b, size_t sz, size_t n, void* ud) -> size_t {
    auto* x = static_cast<Ctx*>(ud);
    size_t len = sz * n;
    // Only a successful response streams into the sink; errors are kept small.
    if (x->sink && x->r->code == 200) {
      // A blob longer than its descriptor says is refused on the
      // announcement, before its bytes are written anywhere.
      if (x->max_content_length >= 0 && x->r->content_length > x->max_content_length) {
        x->announced_too_long = true;
        return 0;
      }
      x->sink_status = (*x->sink)(b, len);
      if (!x->sink_status.ok()) {
        x->r->sink_failed = true;
        return 0;
      }
      return len;
    }
    // Error answers only feed a message: keep their start, then stop.
    size_t cap = x->r->code == 200 ? x->max : std::min(x->max, kMaxErrorBodyBytes);
    if (x->r->body.size() + len > cap) {
      x->r->body.append(b, cap - x->r->body.size());
      x->over = true;
      return 0;
    }
    x->r->body.append(b, len);
    return len;
  });
  // Each status line (redirects included) resets the headers kept and sets
  // the code, so the body callback knows whether to stream into the sink.
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, +[](char* b, size_t sz, size_t n, void* ud) -> size_t {
    auto* r = static_cast<Response*>(ud);
    std::string line(b, sz * n);
    if (line.rfind("HTTP/", 0) == 0) {
      r->content_type.clear();
      r->docker_digest.clear();
      r->www_authenticate.clear();
      r->content_length = -1;
      r->body.clear();  // a redirect's body is not the answer's
      auto sp = line.find(' ');
      r->code = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
      return sz * n;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon);
      for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
      if (k == "content-type") r->content_type = v;
      else if (k == "docker-content-digest") r->docker_digest = v;
      else if (k == "www-authenticate") r->www_authenticate = v;
      else if (k == "content-length" && !v.empty() && v.size() < 19 &&
               v.find_first_not_of("0123456789") == std::string::npos)
        r->content_length = std::stoll(v);
    }
    return sz * n;
  });
  CURLcode rc = curl_easy_perform(c);
  if (resp.sink_failed) return ctx.sink_status;
  if (ctx.announced_too_long)
    return absl::DataLossError(bounds.blob + ": " + url + " announces " + std::to_string(resp.content_length) +
                               " bytes, its descriptor " + std::to_string(bounds.max_content_length));
  if (rc == CURLE_ABORTED_BY_CALLBACK && bounds.cancel && bounds.cancel->cancelled())
    return absl::CancelledError(url + ": cancelled by the caller");
  // libcurl's own clock may end the transfer a little before ours reaches
  // the deadline (seen: Timeout at 3.07 s of 3 s, yet now() < deadline): a
  // timeout in the deadline's last second is the deadline's. (A stall limit
  // coinciding with it is reported as the deadline; both are timeouts.)
  if (rc == CURLE_OPERATION_TIMEDOUT && bounds.deadline &&
      std::chrono::steady_clock::now() + std::chrono::seconds(1) >= *bounds.deadline)
    return absl::DeadlineExceededError(bounds.deadline_what);
  if (ctx.over) {
    if (resp.code == 200)
      return absl::FailedPreconditionError(url + ": answer larger than the limit of " + std::to_string(max_body) +
                                           " bytes");
    return resp;  // an error answer, cut short: reported by its status code
  }
  if (rc != CURLE_OK) {
    resp.code = 0;
    resp.body = curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      resp.body += sink ? " (less than " + std::to_string(opt_.min_bytes_per_s) + " bytes/s for " +
                              std::to_string(opt_.stall_timeout_s) + " s)"
                        : " (no complete answer within " + std::to_string(opt_.small_request_timeout_s) + " s)";
    return resp;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  resp.code = code;
  return resp;
}

StatusOr<std::string> RegistryClient::Token(const std::string& endpoint, const std::string& challenge,
                                            const std::string& scope, const AuthConfig& auth,
                                            const Bounds& bounds) {
  AuthChallenge ch = ParseAuthChallenge(challenge);
  const std::string& scheme = ch.scheme;
  auto& params = ch.params;
  std::string creds = BasicCredentials(auth);
  if (scheme == "basic") {
    if (creds.empty()) return absl::UnauthenticatedError(endpoint + " requires credentials (basic auth)");
    return "Basic " + Base64Encode(creds);
  }
  if (scheme != "bearer") return absl::UnauthenticatedError(endpoint + ": unsupported auth scheme " + scheme);
  if (!auth.registry_token.empty()) return "Bearer " + auth.registry_token;
  std::string realm = params["realm"];
  if (realm.empty()) return absl::UnauthenticatedError(endpoint + ": bearer challenge without realm");
  std::string sc = params.count("scope") ? params["scope"] : scope;
  std::string q = "service=" + UrlEncode(params["service"]) + "&scope=" + UrlEncode(sc);
  // The realm is the registry's to choose: credentials travel over plain
  // HTTP only where the registry itself is plain HTTP (loopback, or
  // configured so) on the same host, or to a loopback token server.
  bool secrets = !creds.empty() || !auth.identity_token.empty();
  if (secrets && PlainHttp(realm) && !IsLoopbackRegistry(HostOf(realm)) &&
      !(PlainHttp(endpoint) && HostOf(realm) == HostOf(endpoint)))
    return absl::FailedPreconditionError(endpoint + ": token realm " + realm +
                                         " is plain HTTP; credentials are sent there only over HTTPS");
  StatusOr<Response> r;
  Bounds token_bounds;  // a small answer: its own timeout, the caller's cancellation
  token_bounds.cancel = bounds.cancel;
  if (!auth.identity_token.empty()) {  // OAuth2 refresh token
    r = Do(realm, "", "", nullptr, kMaxTokenResponseBytes,
           q + "&grant_type=refresh_token&client_id=kcr&refresh_token=" + UrlEncode(auth.identity_token),
           token_bounds);
  } else {
    r = Do(realm + (realm.find('?') == std::string::npos ? "?" : "&") + q, "",
           creds.empty() ? "" : "Basic " + Base64Encode(creds), nullptr, kMaxTokenResponseBytes, "", token_bounds);
  }
  if (!r.ok()) return r.status();
  if (r->code != 200) return HttpError(r->code == 0 ? 503 : r->code, "token from " + realm, r->body);
  KCR_ASSIGN_OR_RETURN(std::string tok, ParseTokenResponse(r->body, realm));
  return "Bearer " + tok;
}

StatusOr<RegistryClient::Response> RegistryClient::Get(const Reference& ref, const std::string& suffix,
                                                       const std::string& accept, const AuthConfig& auth,
                                                       const Sink* sink, const std::function<Status()>* restart,
                                                       size_t max_body, const Bounds& bounds, const Verify* verify) {
  std::string scope = "repository:" + ref.path + ":pull";
  Status best = absl::UnavailableError("no endpoint for " + ref.domain);
  bool have_definitive = false;
  std::string failures;  // each endpoint's, in order
  bool first_endpoint = true;
  for (const auto& ep : Endpoints(ref.domain)) {
    // What an earlier endpoint sent (an answer that failed verification)
    // is not kept.
    if (!first_endpoint && restart && *restart) KCR_RETURN_IF_ERROR((*restart)());
    first_endpoint = false;
    std::string url = ep + "/v2/" + ref.path + suffix;
    std::string key = ep + " " + scope + " " + CredentialKey(auth);
    Status last;
    for (int attempt = 0; attempt <= opt_.max_retries; attempt++) {
      if (attempt > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(opt_.base_backoff_ms << (attempt - 1)));
        if (restart && *restart) KCR_RETURN_IF_ERROR((*restart)());
      }
      std::string authz;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (auto it = tokens_.find(key); it != tokens_.end()) authz = it->second;
      }
      if (authz.empty() && !auth.registry_token.empty()) authz = "Bearer " + auth.registry_token;
      // A request that failed outright (an answer longer than announced,
      // refused plain HTTP, ...) fails this endpoint; the caller's
      // cancellation and the deadline of all attempts end the whole fetch.
      auto final_error = [](const Status& st) {
        return st.code() == absl::StatusCode::kCancelled || st.code() == absl::StatusCode::kDeadlineExceeded;
      };
      StatusOr<Response> got = Do(url, accept, authz, sink, max_body, "", bounds);
      if (!got.ok()) {
        if (final_error(got.status())) return got.status();
        last = got.status();
        break;
      }
      Response r = std::move(*got);
      if (r.code == 401 && !r.www_authenticate.empty()) {
        auto tok = Token(ep, r.www_authenticate, scope, auth, bounds);
        if (!tok.ok()) {
          if (tok.status().code() == absl::StatusCode::kCancelled) return tok.status();
          last = tok.status();
          if (tok.status().code() == absl::StatusCode::kUnavailable) continue;
          break;
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          tokens_[key] = *tok;
        }
        if (restart && *restart) KCR_RETURN_IF_ERROR((*restart)());
        got = Do(url, accept, *tok, sink, max_body, "", bounds);
        if (!got.ok()) {
          if (final_error(got.status())) return got.status();
          last = got.status();
          break;
        }
        r = std::move(*got);
      }
      if (r.code == 200) {
        if (!verify || !*verify) return r;
        Status ok = (*verify)(r);
        if (ok.ok()) return r;
        if (ok.code() == absl::StatusCode::kCancelled) return ok;
        // A wrong answer (a digest mismatch) from this endpoint: as containerd
        // does for any fetch error, the next endpoint may have it right.
        last = ok;
        break;
      }
      last = r.code == 0 ? absl::UnavailableError(url + ": " + r.body) : HttpError(r.code, url, r.body);
      if (!Transient(r.code)) break;
      spdlog::debug("registry {}: {} (attempt {})", url, last.message(), attempt + 1);
    }
    // A definitive answer (not found, denied) beats "unreachable" from
    // another endpoint; the first definitive answer is kept.
    bool definitive = last.code() != absl::StatusCode::kUnavailable;
    if (!have_definitive || definitive) {
      if (!(have_definitive && definitive)) best = last;
      have_definitive = have_definitive || definitive;
    }
    spdlog::debug("endpoint {} failed for {}: {}", ep, ref.Name(), last.message());
    failures += (failures.empty() ? "" : "; ") + ep + ": " + std::string(last.message());
  }
  if (failures.empty()) return best;
  return Status(best.code(), "every endpoint failed (" + failures + ")");
}

StatusOr<RegistryClient::Manifest> RegistryClient::GetManifest(const Reference& ref, const std::string& tag_or_digest,
                                                              const AuthConfig& auth, const Cancel& cancel) {
  Bounds bounds;
  bounds.cancel = &cancel;
  // A manifest asked for by digest must have it; an endpoint whose answer
  // does not is that endpoint's failure.
  Verify verify = [&](const Response& r) -> Status {
    std::string computed = Sha256Digest(r.body);
    if (IsDigest(tag_or_digest) && computed != tag_or_digest)
      return absl::DataLossError("manifest " + tag_or_digest + " of " + ref.Name() + ": content digest is " + computed);
    return absl::OkStatus();
  };
  KCR_ASSIGN_OR_RETURN(Response r,
                       Get(ref, "/manifests/" + tag_or_digest, media::kAcceptManifests, auth, nullptr, nullptr,
                           kMaxManifestBytes, bounds, &verify));
  Manifest m;
  m.body = std::move(r.body);
  m.content_type = r.content_type;
  m.digest = Sha256Digest(m.body);
  return m;
}

Status RegistryClient::GetBlob(const Reference& ref, const std::string& digest, int64_t max_bytes,
                               const AuthConfig& auth, const Sink& sink, const std::function<Status()>& restart,
                               const std::function<Status()>& verify, const Cancel& cancel) {
  Bounds bounds;
  bounds.cancel = &cancel;
  bounds.max_content_length = max_bytes;
  bounds.blob = "blob " + digest;
  if (opt_.blob_timeout_s > 0) {
    bounds.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opt_.blob_timeout_s);
    // The limit is kcrd's [images] blob_timeout_s.
    bounds.deadline_what = "blob " + digest + " of " + ref.Name() + ": not complete within " +
                           std::to_string(opt_.blob_timeout_s) + " s (images.blob_timeout_s)";
  }
  Verify check = [&](const Response&) { return verify ? verify() : absl::OkStatus(); };
  return Get(ref, "/blobs/" + digest, "", auth, &sink, &restart, kMaxErrorBodyBytes, bounds, &check).status();
}

}  // namespace kcr::images
