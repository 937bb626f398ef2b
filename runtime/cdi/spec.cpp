// CDI spec files: parsing (JSON, YAML through a conversion to JSON) and
// validation. Field errors are thrown as BadField inside this file only and
// become InvalidArgument at ParseSpec's edge.
#include "runtime/cdi/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/json.h"

namespace kcr::runtime::cdi {

using nlohmann::json;

namespace {

struct BadField {
  std::string message;
};

// Versions in order; a spec's own version must be at least the one the
// fields it uses arrived in.
const std::vector<std::string>& Versions() {
  static const std::vector<std::string> v = {"0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0"};
  return v;
}
int VersionIndex(const std::string& v) {
  auto it = std::find(Versions().begin(), Versions().end(), v);
  return it == Versions().end() ? -1 : static_cast<int>(it - Versions().begin());
}

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLetter(c) || IsDigit(c); }

// vendor and class: a letter first, a letter or digit last, letters,
// digits, '-', '_', '.' between. Device names may also start with a digit
// and hold ':'.
std::string CheckLabel(const std::string& s, const char* what, bool device) {
  if (s.empty()) return std::string(what) + " is empty";
  if (device ? !IsAlnum(s.front()) : !IsLetter(s.front()))
    return std::string(what) + " \"" + s + "\" must start with a letter" + (device ? " or digit" : "");
  if (!IsAlnum(s.back())) return std::string(what) + " \"" + s + "\" must end with a letter or digit";
  for (char c : s)
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.' && !(device && c == ':'))
      return std::string(what) + " \"" + s + "\" has an invalid character '" + std::string(1, c) + "'";
  return "";
}

// "vendor.com/class": the vendor and class, or throws.
std::pair<std::string, std::string> SplitKind(const std::string& kind) {
  size_t slash = kind.find('/');
  if (slash == std::string::npos) throw BadField{"kind \"" + kind + "\" is not vendor/class"};
  std::string vendor = kind.substr(0, slash), cls = kind.substr(slash + 1);
  if (std::string e = CheckLabel(vendor, "vendor", false); !e.empty()) throw BadField{"kind: " + e};
  if (std::string e = CheckLabel(cls, "class", false); !e.empty()) throw BadField{"kind: " + e};
  return {vendor, cls};
}

// An absolute path without ".." components.
bool CleanAbsolute(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  for (size_t s = 0; s <= p.size();) {
    size_t e = p.find('/', s);
    if (e == std::string::npos) e = p.size();
    if (e - s == 2 && p.compare(s, 2, "..") == 0) return false;
    s = e + 1;
  }
  return true;
}

// --- JSON field access -------------------------------------------------

const json* Field(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}
std::string Str(const json& o, const char* key, const std::string& where, bool required = false) {
  const json* f = Field(o, key);
  if (!f) {
    if (required) throw BadField{where + "." + key + " is required"};
    return "";
  }
  if (!f->is_string()) throw BadField{where + "." + key + " must be a string"};
  return f->get<std::string>();
}
std::vector<std::string> Strs(const json& o, const char* key, const std::string& where) {
  std::vector<std::string> out;
  const json* f = Field(o, key);
  if (!f) return out;
  if (!f->is_array()) throw BadField{where + "." + key + " must be a list of strings"};
  for (const auto& e : *f) {
    if (!e.is_string()) throw BadField{where + "." + key + " must be a list of strings"};
    out.push_back(e.get<std::string>());
  }
  return out;
}
std::optional<int64_t> Int(const json& o, const char* key, const std::string& where, int64_t lo, int64_t hi) {
  const json* f = Field(o, key);
  if (!f) return std::nullopt;
  if (!f->is_number_integer()) throw BadField{where + "." + key + " must be an integer"};
  int64_t v = f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                                                : f->get<int64_t>();
  if (v < lo || v > hi) throw BadField{where + "." + key + " " + std::to_string(v) + " is out of range"};
  return v;
}
std::map<std::string, std::string> Annotations(const json& o, const std::string& where) {
  std::map<std::string, std::string> out;
  const json* f = Field(o, "annotations");
  if (!f) return out;
  if (!f->is_object()) throw BadField{where + ".annotations must be a map of strings"};
  for (const auto& [k, v] : f->items()) {
    if (!v.is_string()) throw BadField{where + ".annotations." + k + " must be a string"};
    out[k] = v.get<std::string>();
  }
  return out;
}

const json& Obj(const json& v, const std::string& where) {
  if (!v.is_object()) throw BadField{where + " must be an object"};
  return v;
}

ContainerEdits ParseEdits(const json* j, const std::string& where) {
  ContainerEdits e;
  if (!j) return e;
  const json& o = Obj(*j, where);
  e.env = Strs(o, "env", where);
  if (const json* a = Field(o, "deviceNodes")) {
    if (!a->is_array()) throw BadField{where + ".deviceNodes must be a list"};
    for (size_t i = 0; i < a->size(); i++) {
      std::string w = where + ".deviceNodes[" + std::to_string(i) + "]";
      const json& d = Obj((*a)[i], w);
      DeviceNode n;
      n.path = Str(d, "path", w, true);
      n.host_path = Str(d, "hostPath", w);
      n.type = Str(d, "type", w);
      n.major = Int(d, "major", w, 0, UINT32_MAX).value_or(0);
      n.minor = Int(d, "minor", w, 0, UINT32_MAX).value_or(0);
      if (auto m = Int(d, "fileMode", w, 0, 07777)) n.file_mode = static_cast<uint32_t>(*m);
      if (auto u = Int(d, "uid", w, 0, UINT32_MAX)) n.uid = static_cast<uint32_t>(*u);
      if (auto g = Int(d, "gid", w, 0, UINT32_MAX)) n.gid = static_cast<uint32_t>(*g);
      n.permissions = Str(d, "permissions", w);
      e.device_nodes.push_back(std::move(n));
    }
  }
  if (const json* a = Field(o, "mounts")) {
    if (!a->is_array()) throw BadField{where + ".mounts must be a list"};
    for (size_t i = 0; i < a->size(); i++) {
      std::string w = where + ".mounts[" + std::to_string(i) + "]";
      const json& m = Obj((*a)[i], w);
      e.mounts.push_back({Str(m, "hostPath", w, true), Str(m, "containerPath", w, true), Str(m, "type", w),
                          Strs(m, "options", w)});
    }
  }
  if (const json* a = Field(o, "hooks")) {
    if (!a->is_array()) throw BadField{where + ".hooks must be a list"};
    for (size_t i = 0; i < a->size(); i++) {
      std::string w = where + ".hooks[" + std::to_string(i) + "]";
      const json& h = Obj((*a)[i], w);
      Hook k{Str(h, "hookName", w, true), Str(h, "path", w, true), Strs(h, "args", w), Strs(h, "env", w), {}};
      if (auto t = Int(h, "timeout", w, INT_MIN, INT_MAX)) k.timeout = static_cast<int>(*t);
      e.hooks.push_back(std::move(k));
    }
  }
  if (const json* a = Field(o, "additionalGids")) {
    if (!a->is_array()) throw BadField{where + ".additionalGids must be a list"};
    for (const auto& g : *a) {
      if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() > UINT32_MAX)
        throw BadField{where + ".additionalGids must hold group IDs"};
      e.additional_gids.push_back(g.get<uint32_t>());
    }
  }
  if (const json* r = Field(o, "intelRdt")) {
    const json& ro = Obj(*r, where + ".intelRdt");
    e.intel_rdt = IntelRdt{Str(ro, "closID", where + ".intelRdt"), Str(ro, "l3CacheSchema", where + ".intelRdt"),
                           Str(ro, "memBwSchema", where + ".intelRdt")};
  }
  if (Field(o, "netDevices")) throw BadField{where + ".netDevices: not supported (CDI 1.1)"};
  return e;
}

// YAML → JSON, so one parser reads both. Plain scalars are typed as YAML
// (integers, with 0o/0x and YAML 1.1's leading-zero octal, which fileMode
// is commonly written in; true/false; null); quoted ones stay strings.
json YamlToJson(const YAML::Node& n, int depth) {
  if (depth > kMaxJsonDepth) throw BadField{"YAML nests too deep"};
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e, depth + 1));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second, depth + 1);
      return o;
    }
    case YAML::NodeType::Scalar: break;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  std::string digits = s;
  bool neg = !digits.empty() && (digits[0] == '-' || digits[0] == '+');
  bool minus = neg && digits[0] == '-';
  if (neg) digits.erase(0, 1);
  int base = 10;
  if (digits.rfind("0o", 0) == 0) base = 8, digits.erase(0, 2);
  else if (digits.rfind("0x", 0) == 0) base = 16, digits.erase(0, 2);
  else if (digits.size() > 1 && digits[0] == '0') base = 8, digits.erase(0, 1);
  if (!digits.empty() && digits.size() <= 18) {
    size_t used = 0;
    try {
      long long v = std::stoll(digits, &used, base);
      if (used == digits.size()) return minus ? -v : v;
    } catch (const std::exception&) {
    }
  }
  return s;
}

void CheckEdits(const ContainerEdits& e, const std::string& where) {
  for (const auto& v : e.env) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) throw BadField{where + ".env: \"" + v + "\" is not NAME=value"};
  }
  for (const auto& d : e.device_nodes) {
    std::string w = where + ".deviceNodes " + d.path;
    if (!CleanAbsolute(d.path)) throw BadField{w + ": path must be absolute, without \"..\""};
    if (!d.host_path.empty() && d.host_path[0] != '/') throw BadField{w + ": hostPath must be absolute"};
    if (!d.type.empty() && d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
      throw BadField{w + ": type \"" + d.type + "\" is not one of b, c, u, p"};
    if (d.permissions.find_first_not_of("rwm") != std::string::npos)
      throw BadField{w + ": permissions \"" + d.permissions + "\" are not a combination of r, w, m"};
  }
  for (const auto& m : e.mounts) {
    std::string w = where + ".mounts " + m.container_path;
    if (!CleanAbsolute(m.container_path)) throw BadField{w + ": containerPath must be absolute, without \"..\""};
    bool bind = m.type.empty() || m.type == "bind" ||
                std::any_of(m.options.begin(), m.options.end(), [](const std::string& o) {
                  return o == "bind" || o == "rbind";
                });
    if (bind && (m.host_path.empty() || m.host_path[0] != '/')) throw BadField{w + ": hostPath \"" + m.host_path + "\" must be absolute"};
  }
  static const std::set<std::string> kHooks = {"prestart", "createRuntime", "createContainer",
                                               "startContainer", "poststart", "poststop"};
  for (const auto& h : e.hooks) {
    std::string w = where + ".hooks " + h.path;
    if (!kHooks.count(h.hook_name)) throw BadField{w + ": unknown hookName \"" + h.hook_name + "\""};
    if (h.path.empty() || h.path[0] != '/') throw BadField{w + ": path must be absolute"};
    if (h.timeout && *h.timeout <= 0) throw BadField{w + ": timeout must be greater than zero"};
  }
}

// The version the fields of `s` need (its annotations are `annotated`).
int RequiredVersion(const Spec& s, bool annotated) {
  int need = 0;
  auto at_least = [&](const char* v) { need = std::max(need, VersionIndex(v)); };
  std::vector<const ContainerEdits*> all = {&s.edits};
  for (const auto& d : s.devices) {
    all.push_back(&d.edits);
    if (!d.name.empty() && !IsLetter(d.name[0])) at_least("0.5.0");
  }
  for (const auto* e : all) {
    for (const auto& m : e->mounts)
      if (!m.type.empty()) at_least("0.4.0");
    for (const auto& d : e->device_nodes)
      if (!d.host_path.empty()) at_least("0.5.0");
    if (e->intel_rdt || !e->additional_gids.empty()) at_least("0.7.0");
  }
  if (annotated) at_least("0.6.0");
  size_t slash = s.kind.find('/');
  if (slash != std::string::npos && s.kind.find('.', slash) != std::string::npos) at_least("0.6.0");
  return need;
}

}  // namespace

void ContainerEdits::Append(const ContainerEdits& o) {
  env.insert(env.end(), o.env.begin(), o.env.end());
  device_nodes.insert(device_nodes.end(), o.device_nodes.begin(), o.device_nodes.end());
  mounts.insert(mounts.end(), o.mounts.begin(), o.mounts.end());
  hooks.insert(hooks.end(), o.hooks.begin(), o.hooks.end());
  additional_gids.insert(additional_gids.end(), o.additional_gids.begin(), o.additional_gids.end());
  if (o.intel_rdt) intel_rdt = o.intel_rdt;
}

bool SupportedVersion(const std::string& v) { return VersionIndex(v) >= 0; }

Status ValidateSpec(const Spec& s) {
  try {
    if (!SupportedVersion(s.version))
      throw BadField{"cdiVersion \"" + s.version + "\" is not supported (kcr reads 0.3.0 to 1.0.0)"};
    SplitKind(s.kind);
    if (s.devices.empty()) throw BadField{"devices: a spec must define at least one device"};
    if (s.devices.size() > kMaxDevicesPerSpec)
      throw BadField{"devices: more than " + std::to_string(kMaxDevicesPerSpec) + " devices"};
    std::set<std::string> names;
    CheckEdits(s.edits, "containerEdits");
    for (const auto& d : s.devices) {
      if (std::string e = CheckLabel(d.name, "device name", true); !e.empty()) throw BadField{"devices: " + e};
      if (!names.insert(d.name).second) throw BadField{"devices: device \"" + d.name + "\" is defined twice"};
      CheckEdits(d.edits, "devices " + d.name + " containerEdits");
      if (d.edits.env.empty() && d.edits.device_nodes.empty() && d.edits.mounts.empty() && d.edits.hooks.empty() &&
          d.edits.additional_gids.empty() && !d.edits.intel_rdt)
        throw BadField{"devices " + d.name + ": containerEdits are empty"};
    }
  } catch (const BadField& b) {
    return absl::InvalidArgumentError(b.message);
  }
  return absl::OkStatus();
}

StatusOr<Spec> ParseSpec(const std::string& text, bool yaml) {
  if (text.size() > kMaxSpecFileBytes)
    return absl::InvalidArgumentError("larger than " + std::to_string(kMaxSpecFileBytes) + " bytes");
  Spec s;
  bool annotated = false;
  try {
    json j;
    if (yaml) {
      try {
        j = YamlToJson(YAML::Load(text), 0);
      } catch (const YAML::Exception& e) {
        return absl::InvalidArgumentError(std::string("not YAML: ") + e.what());
      }
    } else {
      j = ParseJsonBounded(text);
      if (j.is_discarded()) return absl::InvalidArgumentError("not JSON (or nested too deep)");
    }
    const json& o = Obj(j, "the spec");
    s.version = Str(o, "cdiVersion", "spec", true);
    s.kind = Str(o, "kind", "spec", true);
    annotated = !Annotations(o, "spec").empty();
    const json* devs = Field(o, "devices");
    if (!devs || !devs->is_array()) throw BadField{"spec.devices must be a list"};
    if (devs->size() > kMaxDevicesPerSpec)
      throw BadField{"devices: more than " + std::to_string(kMaxDevicesPerSpec) + " devices"};
    for (size_t i = 0; i < devs->size(); i++) {
      std::string w = "devices[" + std::to_string(i) + "]";
      const json& d = Obj((*devs)[i], w);
      Device dev{Str(d, "name", w, true), {}};
      annotated = annotated || !Annotations(d, w).empty();
      dev.edits = ParseEdits(Field(d, "containerEdits"), "devices " + dev.name + " containerEdits");
      s.devices.push_back(std::move(dev));
    }
    s.edits = ParseEdits(Field(o, "containerEdits"), "containerEdits");
  } catch (const BadField& b) {
    return absl::InvalidArgumentError(b.message);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("malformed spec: ") + e.what());
  }
  KCR_RETURN_IF_ERROR(ValidateSpec(s));
  int need = RequiredVersion(s, annotated);
  if (need > VersionIndex(s.version))
    return absl::InvalidArgumentError("cdiVersion " + s.version + " is too old for the fields the spec uses (they need " +
                                      Versions()[static_cast<size_t>(need)] + ")");
  return s;
}

StatusOr<std::pair<std::string, std::string>> ParseQualifiedName(const std::string& name) {
  size_t eq = name.find('=');
  if (eq == std::string::npos)
    return absl::InvalidArgumentError("CDI device \"" + name + "\" is not a qualified name (vendor.com/class=name)");
  std::string kind = name.substr(0, eq), dev = name.substr(eq + 1);
  try {
    SplitKind(kind);
  } catch (const BadField& b) {
    return absl::InvalidArgumentError("CDI device \"" + name + "\": " + b.message);
  }
  if (std::string e = CheckLabel(dev, "device name", true); !e.empty())
    return absl::InvalidArgumentError("CDI device \"" + name + "\": " + e);
  return std::pair{kind, dev};
}

StatusOr<std::vector<std::string>> DevicesFromAnnotations(const std::map<std::string, std::string>& annotations) {
  std::vector<std::string> out;
  for (const auto& [k, v] : annotations) {
    if (k.rfind(kAnnotationPrefix, 0) != 0) continue;
    if (k.size() == sizeof(kAnnotationPrefix) - 1)
      return absl::InvalidArgumentError("annotation \"" + k + "\": no key after the CDI prefix");
    for (size_t s = 0; s <= v.size();) {
      size_t e = v.find(',', s);
      if (e == std::string::npos) e = v.size();
      std::string name = v.substr(s, e - s);
      s = e + 1;
      if (name.empty()) continue;
      if (auto q = ParseQualifiedName(name); !q.ok()) return Annotate(q.status(), "annotation " + k);
      out.push_back(name);
    }
  }
  return out;
}

}  // namespace kcr::runtime::cdi
