// Kubeconfig and in-cluster loading; see config.h for the order and the
// client-go / controller-runtime code each step follows.
#include "controller/kube/config.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

namespace frugal::kube {
namespace {

namespace fs = std::filesystem;

// client-go clientcmd: RecommendedConfigPathEnvVar, RecommendedHomeDir, RecommendedFileName.
constexpr const char* kKubeconfigEnvVar = "KUBECONFIG";
constexpr const char* kRecommendedHomeDir = ".kube";
constexpr const char* kRecommendedFileName = "config";
// client-go rest.InClusterConfig and inClusterClientConfig.Namespace.
constexpr const char* kServiceHostEnvVar = "KUBERNETES_SERVICE_HOST";
constexpr const char* kServicePortEnvVar = "KUBERNETES_SERVICE_PORT";
constexpr const char* kPodNamespaceEnvVar = "POD_NAMESPACE";
constexpr const char* kServiceAccountTokenFile = "token";
constexpr const char* kServiceAccountCaFile = "ca.crt";
constexpr const char* kServiceAccountNamespaceFile = "namespace";
constexpr const char* kDefaultNamespace = "default";
// The exec credential API versions client-go still speaks (v1alpha1 was removed in 1.24).
constexpr std::array<std::string_view, 2> kExecApiVersions = {
    "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"};

Error config_error(std::string message) {
  Error e;
  e.reason = std::string(kConfigErrorReason);
  e.message = std::move(message);
  return e;
}

// Names in messages are double-quoted, as client-go prints them.
std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

// A whole file, or the errno that stopped us reading it.
struct FileContent {
  std::string data;
  int error = 0;
};

FileContent read_whole_file(const fs::path& path) {
  FileContent out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  std::array<char, 8192> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      out.data.append(buf.data(), static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      out.error = errno;
      break;
    }
  }
  ::close(fd);
  return out;
}

// --- base64, decoded exactly as Go's base64.StdEncoding.Decode (which is what
// decodes kubeconfig []byte fields), so the byte offset in our error is the one
// kubectl reports: newlines are skipped, padding is required.

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes `src` into `out`; returns the offset of the first illegal byte, if any.
std::optional<size_t> decode_base64(std::string_view src, std::string& out) {
  const size_t n = src.size();
  size_t si = 0;
  auto is_newline = [&](size_t i) { return src[i] == '\n' || src[i] == '\r'; };
  for (;;) {
    std::array<int, 4> dbuf{};
    size_t dlen = 4;
    bool last = false;
    for (size_t j = 0; j < 4; ++j) {
      if (si == n) {
        if (j == 0) return std::nullopt;
        return si - j;  // a partial quantum: StdEncoding requires padding
      }
      unsigned char in = static_cast<unsigned char>(src[si++]);
      int v = base64_value(in);
      if (v >= 0) {
        dbuf[j] = v;
        continue;
      }
      if (in == '\n' || in == '\r') {
        --j;
        continue;
      }
      if (in != '=') return si - 1;
      // Padding: only after two or three data bytes, and "==" after two.
      if (j < 2) return si - 1;
      if (j == 2) {
        while (si < n && is_newline(si)) ++si;
        if (si == n) return n;
        if (src[si] != '=') return si - 1;
        ++si;
      }
      while (si < n && is_newline(si)) ++si;
      if (si < n) return si;  // data after the padding
      dlen = j;
      last = true;
      break;
    }
    unsigned val = (static_cast<unsigned>(dbuf[0]) << 18) | (static_cast<unsigned>(dbuf[1]) << 12) |
                   (static_cast<unsigned>(dbuf[2]) << 6) | static_cast<unsigned>(dbuf[3]);
    for (size_t k = 0; k + 1 < dlen; ++k)
      out.push_back(static_cast<char>((val >> (16 - 8 * k)) & 0xff));
    if (last) return std::nullopt;
  }
}

// --- PEM checks with OpenSSL.

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

X509Ptr first_certificate(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

// A CA bundle is usable when at least one certificate in it parses (Go's
// CertPool.AppendCertsFromPEM skips blocks it cannot use).
bool has_certificate(std::string_view pem) { return first_certificate(pem) != nullptr; }

// --- YAML access with error locations.

// Thrown only between parse_kubeconfig's try and catch: a malformed field deep
// in the document fails the whole file with a message naming that field.
struct FieldError {
  std::string message;
};

// A YAML mapping (or null, read as empty) plus where it is, for error messages:
// `where` is e.g. `users[0] "alice"`, `prefix` e.g. "exec." for nested fields.
class Mapping {
 public:
  // YAML::Node copies are handles to the same document, not deep copies.
  Mapping(const YAML::Node& node, std::string where, std::string prefix = "")
      : node_(node), where_(std::move(where)), prefix_(std::move(prefix)) {}

  void require_mapping(std::string_view what) const {
    if (!node_.IsDefined() || node_.IsNull() || node_.IsMap()) return;
    throw FieldError{location(what) + "expected a mapping"};
  }

  YAML::Node get(const char* key) const {
    if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& self = node_;
    return self[key];
  }

  bool has(const char* key) const {
    YAML::Node n = get(key);
    return n.IsDefined() && !n.IsNull();
  }

  std::string str(const char* key) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return "";
    if (!n.IsScalar()) fail(key, "expected a string");
    return n.Scalar();
  }

  bool boolean(const char* key) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return false;
    if (!n.IsScalar()) fail(key, "expected true or false");
    bool value = false;
    if (!YAML::convert<bool>::decode(n, value)) {
      fail(key, "expected true or false, got " + dq(n.Scalar()));
    }
    return value;
  }

  // A sequence (absent or null: empty).
  YAML::Node list(const char* key) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Sequence);
    if (!n.IsSequence()) fail(key, "expected a list");
    return n;
  }

  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    throw FieldError{location(field) + std::string(problem)};
  }

  std::string field_location(std::string_view field) const { return location(field); }

 private:
  std::string location(std::string_view field) const {
    std::string out = where_.empty() ? "" : where_ + ": ";
    if (!field.empty()) out += prefix_ + std::string(field) + ": ";
    return out;
  }

  YAML::Node node_;
  std::string where_;
  std::string prefix_;
};

// --- The kubeconfig model: named entries that remember their origin, because
// relative paths and error messages refer to the file they came from.

struct Origin {
  fs::path file;
  std::string where;  // `clusters[0] "prod"`

  std::string prefix(std::string_view field) const {
    return "kubeconfig " + file.string() + ": " + where + ": " + std::string(field) + ": ";
  }
};

struct ClusterEntry {
  Origin origin;
  std::string server;
  std::string ca_file;  // resolved against the file's directory
  std::string ca_data;  // decoded
  bool insecure = false;
  std::string tls_server_name;
  std::string proxy_url;
};

struct UserEntry {
  Origin origin;
  std::string token;
  std::string token_file;
  std::string cert_file;
  std::string cert_data;
  std::string key_file;
  std::string key_data;
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;
  std::string exec_interactive_mode;
  bool has_auth_provider = false;
  std::string auth_provider_name;
};

struct ContextEntry {
  Origin origin;
  std::string cluster;
  std::string user;
  std::string ns;
};

struct Kubeconfig {
  std::map<std::string, ClusterEntry> clusters;
  std::map<std::string, UserEntry> users;
  std::map<std::string, ContextEntry> contexts;
  std::string current_context;
  fs::path current_context_file;
};

// client-go ResolvePaths: relative references are relative to the kubeconfig's directory.
std::string resolve_path(const fs::path& base, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

std::string decode_data_field(const Mapping& m, const char* key) {
  std::string encoded = m.str(key);
  std::string decoded;
  if (auto bad = decode_base64(encoded, decoded)) {
    m.fail(key, "illegal base64 data at input byte " + std::to_string(*bad));
  }
  return decoded;
}

// One entry of clusters/users/contexts: its name and the inner mapping.
template <class Entry>
std::pair<std::string, Mapping> named_entry(const YAML::Node& item, const std::string& list,
                                            size_t index, const char* inner_key,
                                            const std::map<std::string, Entry>& seen) {
  std::string where = list + "[" + std::to_string(index) + "]";
  if (!item.IsMap()) throw FieldError{where + ": expected a mapping with name and " + inner_key};
  Mapping outer(item, where);
  std::string name = outer.str("name");
  if (name.empty()) outer.fail("name", "missing");
  where += " " + dq(name);
  if (auto it = seen.find(name); it != seen.end()) {
    throw FieldError{where + ": name: duplicate of " + it->second.origin.where};
  }
  Mapping inner(outer.get(inner_key), where);
  inner.require_mapping(inner_key);
  return {name, std::move(inner)};
}

ExecConfig parse_exec(const Mapping& user, const std::string& where,
                      std::string& interactive_mode) {
  Mapping m(user.get("exec"), where, "exec.");
  if (!user.get("exec").IsMap()) user.fail("exec", "expected a mapping");
  ExecConfig exec;
  exec.api_version = m.str("apiVersion");
  exec.command = m.str("command");
  const YAML::Node args = m.list("args");
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].IsScalar()) m.fail("args[" + std::to_string(i) + "]", "expected a string");
    exec.args.push_back(args[i].Scalar());
  }
  const YAML::Node env = m.list("env");
  for (size_t i = 0; i < env.size(); ++i) {
    Mapping var(env[i], where, "exec.env[" + std::to_string(i) + "].");
    if (!env[i].IsMap())
      m.fail("env[" + std::to_string(i) + "]", "expected a mapping with name and value");
    exec.env.emplace_back(var.str("name"), var.str("value"));
  }
  exec.provide_cluster_info = m.boolean("provideClusterInfo");
  exec.install_hint = m.str("installHint");
  interactive_mode = m.str("interactiveMode");
  return exec;
}

// Structural parse of one file: types, names, base64. Throws FieldError.
Kubeconfig parse_document(const YAML::Node& root, const fs::path& file) {
  Kubeconfig kc;
  const fs::path base = fs::absolute(file).parent_path();
  Mapping top(root, "");

  const YAML::Node clusters = top.list("clusters");
  for (size_t i = 0; i < clusters.size(); ++i) {
    auto [name, m] = named_entry(clusters[i], "clusters", i, "cluster", kc.clusters);
    ClusterEntry c;
    c.origin = {file, "clusters[" + std::to_string(i) + "] " + dq(name)};
    c.server = m.str("server");
    c.ca_file = resolve_path(base, m.str("certificate-authority"));
    c.ca_data = decode_data_field(m, "certificate-authority-data");
    c.insecure = m.boolean("insecure-skip-tls-verify");
    c.tls_server_name = m.str("tls-server-name");
    c.proxy_url = m.str("proxy-url");
    kc.clusters.emplace(name, std::move(c));
  }

  const YAML::Node users = top.list("users");
  for (size_t i = 0; i < users.size(); ++i) {
    auto [name, m] = named_entry(users[i], "users", i, "user", kc.users);
    UserEntry u;
    u.origin = {file, "users[" + std::to_string(i) + "] " + dq(name)};
    u.token = m.str("token");
    u.token_file = resolve_path(base, m.str("tokenFile"));
    u.cert_file = resolve_path(base, m.str("client-certificate"));
    u.cert_data = decode_data_field(m, "client-certificate-data");
    u.key_file = resolve_path(base, m.str("client-key"));
    u.key_data = decode_data_field(m, "client-key-data");
    u.username = m.str("username");
    u.password = m.str("password");
    if (m.has("exec")) {
      u.exec = parse_exec(m, u.origin.where, u.exec_interactive_mode);
      // client-go GetAuthInfoFileReferences: the command is a path only if it has a separator.
      if (u.exec->command.find('/') != std::string::npos) {
        u.exec->command = resolve_path(base, u.exec->command);
      }
    }
    if (m.has("auth-provider")) {
      u.has_auth_provider = true;
      const YAML::Node ap = m.get("auth-provider");  // const: operator[] must not insert
      if (ap.IsMap() && ap["name"].IsScalar()) u.auth_provider_name = ap["name"].Scalar();
    }
    kc.users.emplace(name, std::move(u));
  }

  const YAML::Node contexts = top.list("contexts");
  for (size_t i = 0; i < contexts.size(); ++i) {
    auto [name, m] = named_entry(contexts[i], "contexts", i, "context", kc.contexts);
    ContextEntry c;
    c.origin = {file, "contexts[" + std::to_string(i) + "] " + dq(name)};
    c.cluster = m.str("cluster");
    c.user = m.str("user");
    c.ns = m.str("namespace");
    kc.contexts.emplace(name, std::move(c));
  }

  kc.current_context = top.str("current-context");
  if (!kc.current_context.empty()) kc.current_context_file = file;
  return kc;
}

Result<Kubeconfig> parse_kubeconfig(const fs::path& file, const std::string& text) {
  const std::string prefix = "kubeconfig " + file.string() + ": ";
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return Unexpected(config_error(prefix + "YAML syntax error at line " +
                                   std::to_string(e.mark.line + 1) + ", column " +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg));
  } catch (const YAML::Exception& e) {
    return Unexpected(config_error(prefix + "YAML error: " + e.what()));
  }
  if (!root.IsDefined() || root.IsNull()) return Kubeconfig{};  // an empty file is an empty config
  if (!root.IsMap()) {
    return Unexpected(config_error(
        prefix + "expected a mapping with clusters, users and contexts at the top level"));
  }
  try {
    return parse_document(root, file);
  } catch (const FieldError& e) {
    return Unexpected(config_error(prefix + e.message));
  } catch (const YAML::Exception& e) {
    return Unexpected(config_error(prefix + "YAML error: " + e.what()));
  }
}

// client-go's merge: a name already defined by an earlier file keeps that
// file's entry; current-context comes from the first file that sets one.
void merge_into(Kubeconfig& merged, Kubeconfig next) {
  for (auto& [name, c] : next.clusters) merged.clusters.emplace(name, std::move(c));
  for (auto& [name, u] : next.users) merged.users.emplace(name, std::move(u));
  for (auto& [name, c] : next.contexts) merged.contexts.emplace(name, std::move(c));
  if (merged.current_context.empty() && !next.current_context.empty()) {
    merged.current_context = std::move(next.current_context);
    merged.current_context_file = std::move(next.current_context_file);
  }
}

template <class Entry>
std::string available(const std::map<std::string, Entry>& entries, std::string_view kind) {
  if (entries.empty()) return "no " + std::string(kind) + " are defined";
  std::string out = "available " + std::string(kind) + ": ";
  bool first = true;
  for (const auto& [name, entry] : entries) {
    if (!first) out += ", ";
    out += dq(name);
    first = false;
  }
  return out;
}

// Reads a file named by a kubeconfig field.
Result<std::string> read_referenced_file(const Origin& origin, std::string_view field,
                                         const std::string& path) {
  FileContent f = read_whole_file(path);
  if (f.error != 0) {
    return Unexpected(
        config_error(origin.prefix(field) + "cannot read " + path + ": " + std::strerror(f.error)));
  }
  return std::move(f.data);
}

bool is_http_scheme(std::string_view scheme) { return scheme == "https" || scheme == "http"; }

// client-go rest.DefaultServerURL: a server without a scheme gets https:// when
// TLS is configured (a CA, a client certificate or the insecure flag), else http://.
Result<std::string> normalize_server(const ClusterEntry& c, bool tls) {
  std::string server = c.server;
  if (server.find("://") == std::string::npos) server = (tls ? "https://" : "http://") + server;
  const size_t sep = server.find("://");
  if (!is_http_scheme(server.substr(0, sep))) {
    return Unexpected(config_error(c.origin.prefix("server") + "unsupported scheme in " +
                                   dq(c.server) + "; use https:// or http://"));
  }
  while (server.size() > sep + 3 && server.back() == '/') server.pop_back();
  if (server.size() == sep + 3) {
    return Unexpected(config_error(c.origin.prefix("server") + "no host in " + dq(c.server)));
  }
  return server;
}

Result<void> apply_cluster(const ClusterEntry& c, bool client_cert, RestConfig& out) {
  if (!c.proxy_url.empty()) {
    return Unexpected(config_error(c.origin.prefix("proxy-url") +
                                   "not supported: frugal connects to the API server directly"));
  }
  if (c.server.empty()) return Unexpected(config_error(c.origin.prefix("server") + "missing"));
  const bool has_ca = !c.ca_data.empty() || !c.ca_file.empty();
  if (c.insecure && has_ca) {
    // client-go clientcmd validateClusterInfo (ErrInsecureTLSWithCA... message verbatim).
    return Unexpected(
        config_error(c.origin.prefix("insecure-skip-tls-verify") +
                     "specifying a root certificates file with the insecure flag is not allowed"));
  }
  if (!c.ca_data.empty()) {
    // client-go: certificate-authority-data wins over certificate-authority.
    if (!has_certificate(c.ca_data)) {
      return Unexpected(config_error(c.origin.prefix("certificate-authority-data") +
                                     "contains no PEM certificate"));
    }
    out.ca_pem = c.ca_data;
  } else if (!c.ca_file.empty()) {
    auto pem = read_referenced_file(c.origin, "certificate-authority", c.ca_file);
    if (!pem) return Unexpected(pem.error());
    if (!has_certificate(*pem)) {
      return Unexpected(config_error(c.origin.prefix("certificate-authority") + c.ca_file +
                                     " contains no PEM certificate"));
    }
    out.ca_pem = std::move(*pem);
  }
  auto server = normalize_server(c, has_ca || client_cert || c.insecure);
  if (!server) return Unexpected(server.error());
  out.server = std::move(*server);
  out.insecure_skip_tls_verify = c.insecure;
  out.tls_server_name = c.tls_server_name;
  return {};
}

// One half of the client certificate pair: inline data or a file, not both.
Result<std::string> client_pem(const UserEntry& u, const std::string& data, const std::string& file,
                               std::string_view data_field, std::string_view file_field) {
  if (!data.empty() && !file.empty()) {
    return Unexpected(config_error(u.origin.prefix(data_field) + std::string(file_field) +
                                   " is set too; only one is allowed"));
  }
  if (!data.empty()) return data;
  if (!file.empty()) return read_referenced_file(u.origin, file_field, file);
  return std::string();
}

Result<void> validate_exec(const UserEntry& u) {
  const ExecConfig& e = *u.exec;
  if (e.api_version.empty()) {
    return Unexpected(config_error(u.origin.prefix("exec.apiVersion") + "missing"));
  }
  bool known = false;
  for (auto v : kExecApiVersions) known = known || e.api_version == v;
  if (!known) {
    return Unexpected(config_error(u.origin.prefix("exec.apiVersion") + dq(e.api_version) +
                                   " is not supported; use client.authentication.k8s.io/v1 or "
                                   "client.authentication.k8s.io/v1beta1"));
  }
  if (e.command.empty())
    return Unexpected(config_error(u.origin.prefix("exec.command") + "missing"));
  for (size_t i = 0; i < e.env.size(); ++i) {
    if (e.env[i].first.empty()) {
      return Unexpected(
          config_error(u.origin.prefix("exec.env[" + std::to_string(i) + "].name") + "missing"));
    }
  }
  const std::string& mode = u.exec_interactive_mode;
  if (mode == "Always") {
    return Unexpected(config_error(u.origin.prefix("exec.interactiveMode") +
                                   "\"Always\" needs a terminal, which a controller does not have; "
                                   "use Never or IfAvailable"));
  }
  if (!mode.empty() && mode != "Never" && mode != "IfAvailable") {
    return Unexpected(config_error(u.origin.prefix("exec.interactiveMode") + dq(mode) +
                                   " is not one of Never, IfAvailable, Always"));
  }
  return {};
}

Result<void> apply_user(const UserEntry& u, RestConfig& out) {
  if (u.has_auth_provider) {
    std::string name = u.auth_provider_name.empty() ? "" : " (" + dq(u.auth_provider_name) + ")";
    return Unexpected(config_error(u.origin.prefix("auth-provider") + "not supported" + name +
                                   "; configure an exec credential plugin instead"));
  }
  const bool token_auth = !u.token.empty() || !u.token_file.empty();
  const bool basic_auth = !u.username.empty() || !u.password.empty();
  if (token_auth && basic_auth) {
    // client-go validateAuthInfo: "more than one authentication method found".
    return Unexpected(config_error(u.origin.prefix("username") +
                                   "cannot be combined with token or tokenFile; only one "
                                   "authentication method is allowed"));
  }

  out.bearer_token = u.token;
  if (!u.token_file.empty()) {
    out.bearer_token_file = u.token_file;
    if (out.bearer_token.empty()) {  // client-go reads it once at load, so a bad path fails early
      auto token = read_referenced_file(u.origin, "tokenFile", u.token_file);
      if (!token) return Unexpected(token.error());
      out.bearer_token = trim(*token);
    }
  }
  out.username = u.username;
  out.password = u.password;

  auto cert =
      client_pem(u, u.cert_data, u.cert_file, "client-certificate-data", "client-certificate");
  if (!cert) return Unexpected(cert.error());
  auto key = client_pem(u, u.key_data, u.key_file, "client-key-data", "client-key");
  if (!key) return Unexpected(key.error());
  const char* cert_field = u.cert_data.empty() ? "client-certificate" : "client-certificate-data";
  const char* key_field = u.key_data.empty() ? "client-key" : "client-key-data";
  if (!cert->empty() && key->empty()) {
    return Unexpected(config_error(u.origin.prefix("client-key") + "missing; " + cert_field +
                                   " is set and needs its key"));
  }
  if (cert->empty() && !key->empty()) {
    return Unexpected(config_error(u.origin.prefix("client-certificate") + "missing; " + key_field +
                                   " is set and needs its certificate"));
  }
  if (!cert->empty()) {
    std::string problem = check_client_key_pair(*cert, *key);
    if (problem.rfind("certificate: ", 0) == 0) {
      return Unexpected(config_error(u.origin.prefix(cert_field) + problem.substr(13)));
    }
    if (!problem.empty()) {
      return Unexpected(config_error(u.origin.prefix(key_field) + problem.substr(5)));
    }
    out.client_cert_pem = std::move(*cert);
    out.client_key_pem = std::move(*key);
  }

  if (u.exec) {
    auto ok = validate_exec(u);
    if (!ok) return ok;
    out.exec = u.exec;
  }
  return {};
}

// Picks the context and turns its cluster and user into a RestConfig.
ConfigResult build_rest_config(const Kubeconfig& kc, const std::string& files,
                               const std::string& context_flag) {
  std::string name = context_flag.empty() ? kc.current_context : context_flag;
  if (name.empty()) {
    return Unexpected(config_error("kubeconfig " + files +
                                   ": current-context: not set and no --context given; " +
                                   available(kc.contexts, "contexts")));
  }
  auto ctx_it = kc.contexts.find(name);
  if (ctx_it == kc.contexts.end()) {
    std::string where = context_flag.empty() ? "kubeconfig " + kc.current_context_file.string() +
                                                   ": current-context: "
                                             : "kubeconfig " + files + ": --context: ";
    return Unexpected(config_error(where + "context " + dq(name) + " not found; " +
                                   available(kc.contexts, "contexts")));
  }
  const ContextEntry& ctx = ctx_it->second;
  if (ctx.cluster.empty())
    return Unexpected(config_error(ctx.origin.prefix("cluster") + "missing"));
  auto cluster_it = kc.clusters.find(ctx.cluster);
  if (cluster_it == kc.clusters.end()) {
    return Unexpected(config_error(ctx.origin.prefix("cluster") + "cluster " + dq(ctx.cluster) +
                                   " not found; " + available(kc.clusters, "clusters")));
  }
  const UserEntry* user = nullptr;
  if (!ctx.user.empty()) {
    auto user_it = kc.users.find(ctx.user);
    if (user_it == kc.users.end()) {
      return Unexpected(config_error(ctx.origin.prefix("user") + "user " + dq(ctx.user) +
                                     " not found; " + available(kc.users, "users")));
    }
    user = &user_it->second;
  }

  RestConfig out;
  if (user != nullptr) {
    auto ok = apply_user(*user, out);
    if (!ok) return Unexpected(ok.error());
  }
  auto ok = apply_cluster(cluster_it->second, !out.client_cert_pem.empty(), out);
  if (!ok) return Unexpected(ok.error());
  out.default_namespace = ctx.ns.empty() ? kDefaultNamespace : ctx.ns;
  out.source = ctx.origin.file.string() + " context " + name;
  return out;
}

// Loads and merges `files` in order. With `skip_missing` (the $KUBECONFIG
// list), files that do not exist are skipped as client-go does.
ConfigResult load_kubeconfig_files(const std::vector<std::string>& files, bool skip_missing,
                                   const std::string& context, const std::string& list_label) {
  Kubeconfig merged;
  std::vector<std::string> loaded;
  for (const auto& file : files) {
    FileContent f = read_whole_file(file);
    if (f.error == ENOENT && skip_missing) continue;
    if (f.error != 0) {
      return Unexpected(
          config_error("kubeconfig " + file + ": cannot read file: " + std::strerror(f.error)));
    }
    auto kc = parse_kubeconfig(file, f.data);
    if (!kc) return Unexpected(kc.error());
    merge_into(merged, std::move(*kc));
    loaded.push_back(file);
  }
  if (loaded.empty()) {
    return Unexpected(config_error(list_label + ": none of the listed files exist"));
  }
  std::string label;
  for (const auto& f : loaded) label += (label.empty() ? "" : ":") + f;
  return build_rest_config(merged, label, context);
}

std::vector<std::string> split_kubeconfig_list(const std::string& value) {
  std::vector<std::string> out;
  std::set<std::string> seen;  // client-go deduplicates, keeping the first occurrence
  size_t start = 0;
  for (;;) {
    size_t end = value.find(':', start);
    std::string item =
        value.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty() && seen.insert(item).second) out.push_back(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool nonempty_env(const Env& env, const char* name) {
  auto v = env.getenv(name);
  return v && !v->empty();
}

// net.JoinHostPort: IPv6 literals get brackets.
std::string join_host_port(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

std::optional<std::string> passwd_home_dir() {
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* result = nullptr;
  if (getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr ||
      result->pw_dir == nullptr) {
    return std::nullopt;
  }
  return std::string(result->pw_dir);
}

}  // namespace

std::string check_client_key_pair(std::string_view cert_pem, std::string_view key_pem) {
  X509Ptr cert = first_certificate(cert_pem);
  if (!cert) return "certificate: no PEM certificate found";
  BioPtr bio = memory_bio(key_pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!key) return "key: no PEM private key found";
  const bool match = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!match) return "key: private key does not match the certificate";
  return "";
}

Env Env::from_process() {
  Env env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.user_home_dir = passwd_home_dir;
  return env;
}

ConfigResult load_in_cluster_config(const Env& env) {
  auto host = env.getenv(kServiceHostEnvVar).value_or("");
  auto port = env.getenv(kServicePortEnvVar).value_or("");
  if (host.empty() || port.empty()) {
    return Unexpected(config_error(std::string("in-cluster config: ") + kServiceHostEnvVar +
                                   " and " + kServicePortEnvVar + " must both be set"));
  }
  const fs::path dir = env.service_account_dir;
  const std::string token_path = (dir / kServiceAccountTokenFile).string();
  FileContent token = read_whole_file(token_path);
  if (token.error != 0) {
    return Unexpected(config_error("in-cluster config: cannot read service account token " +
                                   token_path + ": " + std::strerror(token.error)));
  }

  RestConfig out;
  out.server = "https://" + join_host_port(host, port);
  out.bearer_token = trim(token.data);
  out.bearer_token_file = token_path;

  // client-go logs a missing ca.crt and falls back to the system roots; a CA
  // file that exists but cannot be used is an error here rather than a log line.
  const std::string ca_path = (dir / kServiceAccountCaFile).string();
  FileContent ca = read_whole_file(ca_path);
  if (ca.error != 0 && ca.error != ENOENT) {
    return Unexpected(config_error("in-cluster config: cannot read CA " + ca_path + ": " +
                                   std::strerror(ca.error)));
  }
  if (ca.error == 0) {
    if (!has_certificate(ca.data)) {
      return Unexpected(
          config_error("in-cluster config: " + ca_path + " contains no PEM certificate"));
    }
    out.ca_pem = std::move(ca.data);
  }

  // client-go inClusterClientConfig.Namespace: $POD_NAMESPACE, then the mounted file.
  std::string ns = env.getenv(kPodNamespaceEnvVar).value_or("");
  if (ns.empty()) {
    FileContent f = read_whole_file(dir / kServiceAccountNamespaceFile);
    if (f.error == 0) ns = trim(f.data);
  }
  out.default_namespace = ns.empty() ? kDefaultNamespace : ns;
  out.source = "in-cluster service account " + dir.string();
  return out;
}

ConfigResult load_rest_config(const LoadOptions& options, const Env& env) {
  if (!options.kubeconfig_path.empty()) {
    return load_kubeconfig_files({options.kubeconfig_path}, false, options.context,
                                 "kubeconfig " + options.kubeconfig_path);
  }
  const std::string list = env.getenv(kKubeconfigEnvVar).value_or("");
  if (!list.empty()) {
    return load_kubeconfig_files(split_kubeconfig_list(list), true, options.context,
                                 std::string(kKubeconfigEnvVar) + "=" + list);
  }

  // controller-runtime loadConfig: in-cluster before the home file, and a
  // failed in-cluster attempt still falls through to the home file.
  std::optional<Error> in_cluster_error;
  if (nonempty_env(env, kServiceHostEnvVar) && nonempty_env(env, kServicePortEnvVar)) {
    auto in_cluster = load_in_cluster_config(env);
    if (in_cluster) return in_cluster;
    in_cluster_error = std::move(in_cluster).error();
  }

  std::optional<std::string> home = env.getenv("HOME");
  if (!home && env.user_home_dir) home = env.user_home_dir();
  std::string home_config;
  if (home && !home->empty()) {
    home_config = (fs::path(*home) / kRecommendedHomeDir / kRecommendedFileName).string();
    FileContent probe = read_whole_file(home_config);
    if (probe.error != ENOENT)
      return load_kubeconfig_files({home_config}, false, options.context, "");
  }
  if (in_cluster_error) return Unexpected(std::move(*in_cluster_error));
  std::string message =
      "no configuration found: --kubeconfig was not given, KUBECONFIG is not set, " +
      std::string(kServiceHostEnvVar) + "/" + kServicePortEnvVar +
      " are not set (not running in a cluster), and ";
  message +=
      home_config.empty() ? "the home directory is unknown" : home_config + " does not exist";
  return Unexpected(config_error(std::move(message)));
}

}  // namespace frugal::kube
