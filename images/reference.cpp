#include "images/reference.h"

#include <cctype>

namespace kcr::images {

namespace {

bool IsHex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// path-component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool ValidComponent(const std::string& c) {
  if (c.empty()) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(c.front()) || !alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); i++) {
    char ch = c[i];
    if (alnum(ch)) continue;
    if (ch == '.' || ch == '-') {
      if (ch == '.' && !alnum(c[i + 1])) return false;
      continue;
    }
    if (ch == '_') {
      if (i + 1 < c.size() && c[i + 1] == '_') i++;
      if (!alnum(c[i + 1])) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

bool ValidDomain(const std::string& d) {
  if (d.empty()) return false;
  std::string host = d;
  if (d.front() == '[') {  // [ipv6]:port
    auto close = d.find(']');
    if (close == std::string::npos) return false;
    host = d.substr(1, close - 1);
    std::string rest = d.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || rest.size() == 1)) return false;
    for (char c : host)
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    return true;
  }
  auto colon = d.rfind(':');
  if (colon != std::string::npos) {
    std::string port = d.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    host = d.substr(0, colon);
  }
  if (host.empty()) return false;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

bool IsDigest(const std::string& s) { return s.size() == 71 && s.rfind("sha256:", 0) == 0 && IsHex(s.substr(7)); }

std::string Reference::String() const {
  std::string out = Name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

StatusOr<Reference> ParseReference(const std::string& in) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("invalid image reference \"" + in + "\": " + why);
  };
  if (in.empty()) return bad("empty");
  if (in.size() > 4096) return bad("too long");
  std::string rest = in;
  Reference r;
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (r.digest.rfind("sha256:", 0) != 0) return bad("only sha256 digests are supported");
    if (!IsDigest(r.digest)) return bad("digest must be sha256: followed by 64 lowercase hex characters");
  }
  // A tag is after the last ':' that follows the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(r.tag)) return bad("invalid tag \"" + r.tag + "\"");
  }
  if (rest.empty()) return bad("no repository name");
  // The first component is a domain if it has '.' or ':' or is "localhost"
  // or has uppercase (which a path component may not).
  auto first_slash = rest.find('/');
  std::string first = rest.substr(0, first_slash);
  bool has_domain = first_slash != std::string::npos &&
                    (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
                     first == "localhost" || first != [&] {
                       std::string l = first;
                       for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                       return l;
                     }());
  if (has_domain) {
    r.domain = first;
    r.path = rest.substr(first_slash + 1);
    if (!ValidDomain(r.domain)) return bad("invalid registry host \"" + r.domain + "\"");
  } else {
    r.domain = "docker.io";
    r.path = rest;
  }
  if (r.domain == "index.docker.io") r.domain = "docker.io";
  if (r.domain == "docker.io" && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  size_t start = 0;
  while (true) {
    auto end = r.path.find('/', start);
    std::string comp = r.path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!ValidComponent(comp)) {
      for (char c : comp)
        if (std::isupper(static_cast<unsigned char>(c))) return bad("repository name must be lowercase");
      return bad("invalid repository component \"" + comp + "\"");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (r.Name().size() > 255) return bad("repository name longer than 255 characters");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace kcr::images
