// Pins how a RestConfig is found and read: each kubeconfig field, $KUBECONFIG
// merging, context selection, relative paths, in-cluster, the load order, and
// the exact error (file and field) for every broken configuration.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "controller/kube/config.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace frugal::kube {
namespace {

namespace fs = std::filesystem;
using frugal::testing::base64_encode;
using frugal::testing::KeyPair;
using frugal::testing::make_self_signed;
using frugal::testing::TempDir;

// An environment with nothing set unless the test sets it.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::optional<std::string> passwd_home;
  fs::path service_account_dir = "/nonexistent/serviceaccount";

  Env env() const {
    Env e;
    e.getenv = [vars = vars](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    e.user_home_dir = [home = passwd_home] { return home; };
    e.service_account_dir = service_account_dir;
    return e;
  }
};

const KeyPair& ca() {
  static const KeyPair pair = make_self_signed("test-ca");
  return pair;
}
const KeyPair& client() {
  static const KeyPair pair = make_self_signed("alice");
  return pair;
}
const KeyPair& other_client() {
  static const KeyPair pair = make_self_signed("mallory");
  return pair;
}

std::string indent(const std::string& lines, int spaces) {
  std::string pad(static_cast<size_t>(spaces), ' ');
  std::string out;
  size_t start = 0;
  while (start < lines.size()) {
    size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    out += pad + lines.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

// Cluster "c", user "u" and context "ctx" (current) with the given fields.
std::string one_context(const std::string& cluster_fields, const std::string& user_fields,
                        const std::string& context_extra = "") {
  return "apiVersion: v1\nkind: Config\n"
         "clusters:\n- name: c\n  cluster:\n" +
         indent(cluster_fields, 4) + "users:\n- name: u\n  user:\n" + indent(user_fields, 4) +
         "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n" +
         indent(context_extra, 4) + "current-context: ctx\n";
}

ConfigResult load_file(const std::string& path, const std::string& context = "") {
  return load_rest_config({.kubeconfig_path = path, .context = context}, FakeEnv{}.env());
}

// The message of a load that must fail.
std::string load_error(const std::string& path, const std::string& context = "") {
  auto r = load_file(path, context);
  if (r) return "(loaded " + r->server + ")";
  EXPECT_TRUE(is_config_error(r.error()));
  EXPECT_EQ(r.error().http_status, 0);
  EXPECT_FALSE(r.error().transport);
  return r.error().message;
}

// --- Fields.

TEST(KubeconfigLoad, ReadsServerCaDataTokenAndNamespaceOfCurrentContext) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config", one_context("server: https://10.0.0.1:6443\n"
                                              "certificate-authority-data: " +
                                                  base64_encode(ca().cert_pem),
                                              "token: abc123", "namespace: team-a"));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://10.0.0.1:6443");
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
  EXPECT_FALSE(r->insecure_skip_tls_verify);
  EXPECT_EQ(r->bearer_token, "abc123");
  EXPECT_EQ(r->bearer_token_file, "");
  EXPECT_EQ(r->default_namespace, "team-a");
  EXPECT_EQ(r->source, path + " context ctx");
  EXPECT_FALSE(r->exec.has_value());
}

TEST(KubeconfigLoad, NamespaceDefaultsToDefaultAndUserIsOptional) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config",
                        "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:8080\n"
                        "contexts:\n- name: ctx\n  context:\n    cluster: c\n"
                        "current-context: ctx\n");
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "http://127.0.0.1:8080");
  EXPECT_EQ(r->default_namespace, "default");
  EXPECT_EQ(r->bearer_token, "");
  EXPECT_EQ(r->client_cert_pem, "");
}

TEST(KubeconfigLoad, ReadsTlsServerNameAndInsecureFlag) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config", one_context("server: https://api.example.com:443/\n"
                                              "tls-server-name: kubernetes.default\n"
                                              "insecure-skip-tls-verify: true",
                                              ""));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://api.example.com:443");  // trailing slash dropped
  EXPECT_EQ(r->tls_server_name, "kubernetes.default");
  EXPECT_TRUE(r->insecure_skip_tls_verify);
  EXPECT_EQ(r->ca_pem, "");
}

TEST(KubeconfigLoad, ServerWithoutSchemeGetsHttpsWhenTlsIsConfiguredElseHttp) {
  TempDir dir{"frugal-kubeconfig"};
  auto tls = dir.write("tls", one_context("server: 10.0.0.1:6443\ncertificate-authority-data: " +
                                              base64_encode(ca().cert_pem),
                                          ""));
  auto plain = dir.write("plain", one_context("server: 10.0.0.1:8080", ""));
  ASSERT_TRUE(load_file(tls));
  EXPECT_EQ(load_file(tls)->server, "https://10.0.0.1:6443");
  EXPECT_EQ(load_file(plain)->server, "http://10.0.0.1:8080");
}

TEST(KubeconfigLoad, ReadsBasicAuth) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write(
      "config", one_context("server: https://h:6443", "username: admin\npassword: \"s3cr:et\""));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->username, "admin");
  EXPECT_EQ(r->password, "s3cr:et");
}

TEST(KubeconfigLoad, DecodesClientCertificateAndKeyData) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config",
                        one_context("server: https://h:6443",
                                    "client-certificate-data: " + base64_encode(client().cert_pem) +
                                        "\nclient-key-data: " + base64_encode(client().key_pem)));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->client_cert_pem, client().cert_pem);
  EXPECT_EQ(r->client_key_pem, client().key_pem);
  EXPECT_EQ(r->server, "https://h:6443");
}

TEST(KubeconfigLoad, Base64DataMayBeWrappedOverSeveralLines) {
  TempDir dir{"frugal-kubeconfig"};
  std::string encoded = base64_encode(ca().cert_pem);
  std::string wrapped;
  for (size_t i = 0; i < encoded.size(); i += 64) wrapped += encoded.substr(i, 64) + "\n";
  auto path = dir.write("config", one_context("server: https://h:6443\n"
                                              "certificate-authority-data: |\n" +
                                                  indent(wrapped, 2),
                                              ""));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
}

TEST(KubeconfigLoad, RelativeFilePathsResolveAgainstTheKubeconfigDirectory) {
  TempDir dir{"frugal-kubeconfig"};
  dir.write("kube/pki/ca.crt", ca().cert_pem);
  dir.write("kube/pki/alice.crt", client().cert_pem);
  dir.write("kube/pki/alice.key", client().key_pem);
  dir.write("kube/token", "tok-from-file\n");
  auto path = dir.write("kube/config", one_context("server: https://h:6443\n"
                                                   "certificate-authority: pki/ca.crt",
                                                   "client-certificate: pki/alice.crt\n"
                                                   "client-key: ./pki/alice.key\n"
                                                   "tokenFile: token"));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
  EXPECT_EQ(r->client_cert_pem, client().cert_pem);
  EXPECT_EQ(r->client_key_pem, client().key_pem);
  EXPECT_EQ(r->bearer_token_file, (dir.path() / "kube/token").string());
  EXPECT_EQ(r->bearer_token, "tok-from-file");  // read once at load, whitespace trimmed
}

TEST(KubeconfigLoad, AbsoluteFilePathsAreUsedAsIs) {
  TempDir dir{"frugal-kubeconfig"};
  auto ca_path = dir.write("elsewhere/ca.crt", ca().cert_pem);
  auto path = dir.write(
      "kube/config", one_context("server: https://h:6443\ncertificate-authority: " + ca_path, ""));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
}

TEST(KubeconfigLoad, ReadsEveryExecPluginField) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config", one_context("server: https://h:6443",
                                              "exec:\n"
                                              "  apiVersion: client.authentication.k8s.io/v1\n"
                                              "  command: aws\n"
                                              "  args: [eks, get-token, --cluster-name, prod]\n"
                                              "  env:\n"
                                              "  - name: AWS_PROFILE\n"
                                              "    value: ml\n"
                                              "  - name: EMPTY\n"
                                              "  provideClusterInfo: true\n"
                                              "  interactiveMode: Never\n"
                                              "  installHint: install the aws cli"));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->exec.has_value());
  EXPECT_EQ(r->exec->api_version, "client.authentication.k8s.io/v1");
  EXPECT_EQ(r->exec->command, "aws");  // no slash: looked up in $PATH, not resolved
  EXPECT_EQ(r->exec->args,
            (std::vector<std::string>{"eks", "get-token", "--cluster-name", "prod"}));
  using Env = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r->exec->env, (Env{{"AWS_PROFILE", "ml"}, {"EMPTY", ""}}));
  EXPECT_TRUE(r->exec->provide_cluster_info);
  EXPECT_EQ(r->exec->install_hint, "install the aws cli");
}

TEST(KubeconfigLoad, ExecCommandWithASlashResolvesAgainstTheKubeconfigDirectory) {
  TempDir dir{"frugal-kubeconfig"};
  auto path =
      dir.write("kube/config", one_context("server: https://h:6443",
                                           "exec:\n"
                                           "  apiVersion: client.authentication.k8s.io/v1beta1\n"
                                           "  command: ./bin/plugin"));
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->exec.has_value());
  EXPECT_EQ(r->exec->command, (dir.path() / "kube/bin/plugin").string());
  EXPECT_FALSE(r->exec->provide_cluster_info);
}

TEST(KubeconfigLoad, ContextFlagOverridesCurrentContext) {
  TempDir dir{"frugal-kubeconfig"};
  auto path =
      dir.write("config",
                "clusters:\n"
                "- name: dev\n  cluster:\n    server: https://dev:6443\n"
                "- name: prod\n  cluster:\n    server: https://prod:6443\n"
                "users:\n- name: u\n  user:\n    token: t\n"
                "contexts:\n"
                "- name: dev\n  context:\n    cluster: dev\n    user: u\n"
                "- name: prod\n  context:\n    cluster: prod\n    user: u\n    namespace: p\n"
                "current-context: dev\n");
  EXPECT_EQ(load_file(path)->server, "https://dev:6443");
  auto prod = load_file(path, "prod");
  ASSERT_TRUE(prod) << prod.error().message;
  EXPECT_EQ(prod->server, "https://prod:6443");
  EXPECT_EQ(prod->default_namespace, "p");
  EXPECT_EQ(prod->source, path + " context prod");
}

TEST(KubeconfigLoad, EmptyFileWithContextFlagReportsNoContexts) {
  TempDir dir{"frugal-kubeconfig"};
  auto path = dir.write("config", "");
  EXPECT_EQ(load_error(path, "x"),
            "kubeconfig " + path + ": --context: context \"x\" not found; no contexts are defined");
}

// --- Merging the $KUBECONFIG list.

class KubeconfigMerge : public ::testing::Test {
 protected:
  ConfigResult load_list(const std::string& list, const std::string& context = "") {
    FakeEnv env;
    env.vars["KUBECONFIG"] = list;
    return load_rest_config({.context = context}, env.env());
  }
  TempDir dir{"frugal-kubeconfig"};
};

TEST_F(KubeconfigMerge, FirstFileToDefineANameWins) {
  auto a = dir.write("a",
                     "clusters:\n- name: shared\n  cluster:\n    server: https://from-a:6443\n"
                     "contexts:\n- name: ctx\n  context:\n    cluster: shared\n    user: u\n"
                     "current-context: ctx\n");
  auto b = dir.write("b",
                     "clusters:\n- name: shared\n  cluster:\n    server: https://from-b:6443\n"
                     "users:\n- name: u\n  user:\n    token: from-b\n"
                     "contexts:\n- name: ctx\n  context:\n    cluster: nope\n");
  auto r = load_list(a + ":" + b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://from-a:6443");
  EXPECT_EQ(r->bearer_token, "from-b");  // only b defines user u
  EXPECT_EQ(r->source, a + " context ctx");
}

TEST_F(KubeconfigMerge, CurrentContextComesFromTheFirstFileThatSetsIt) {
  auto a = dir.write("a", "clusters:\n- name: c\n  cluster:\n    server: https://c:6443\n");
  auto b = dir.write("b",
                     "contexts:\n- name: one\n  context:\n    cluster: c\n"
                     "- name: two\n  context:\n    cluster: c\n    namespace: two\n"
                     "current-context: two\n");
  auto c = dir.write("c", "current-context: one\n");
  auto r = load_list(a + ":" + b + ":" + c);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->default_namespace, "two");
  auto flagged = load_list(a + ":" + b + ":" + c, "one");
  ASSERT_TRUE(flagged) << flagged.error().message;
  EXPECT_EQ(flagged->default_namespace, "default");
}

TEST_F(KubeconfigMerge, MissingFilesAndEmptyEntriesAreSkipped) {
  auto b = dir.write("b", one_context("server: https://b:6443", "token: t"));
  auto r = load_list((dir.path() / "missing").string() + "::" + b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://b:6443");
}

TEST_F(KubeconfigMerge, AllListedFilesMissingIsAnError) {
  std::string list = (dir.path() / "x").string() + ":" + (dir.path() / "y").string();
  auto r = load_list(list);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "KUBECONFIG=" + list + ": none of the listed files exist");
}

TEST_F(KubeconfigMerge, RelativePathsResolveAgainstTheFileThatDefinedTheEntry) {
  dir.write("one/ca.crt", ca().cert_pem);
  dir.write("two/token", "tok2");
  auto a = dir.write("one/config",
                     "clusters:\n- name: c\n  cluster:\n    server: https://c:6443\n"
                     "    certificate-authority: ca.crt\n"
                     "current-context: ctx\n");
  auto b = dir.write("two/config",
                     "users:\n- name: u\n  user:\n    tokenFile: token\n"
                     "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n");
  auto r = load_list(a + ":" + b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
  EXPECT_EQ(r->bearer_token_file, (dir.path() / "two/token").string());
  EXPECT_EQ(r->bearer_token, "tok2");
}

TEST_F(KubeconfigMerge, ABrokenFileInTheListFailsTheLoadNamingThatFile) {
  auto a = dir.write("a", one_context("server: https://a:6443", ""));
  auto b = dir.write("b", "clusters: {}\n");
  auto r = load_list(a + ":" + b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kubeconfig " + b + ": clusters: expected a list");
}

// --- Load order.

class LoadOrder : public ::testing::Test {
 protected:
  void SetUp() override {
    home = dir.path() / "home";
    sa = dir.path() / "sa";
    dir.write("home/.kube/config", one_context("server: https://home:6443", "token: home"));
    dir.write("sa/token", "sa-token\n");
    dir.write("sa/ca.crt", ca().cert_pem);
    dir.write("sa/namespace", "ml-system\n");
    env.vars["HOME"] = home.string();
    env.service_account_dir = sa;
  }
  void in_cluster() {
    env.vars["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
    env.vars["KUBERNETES_SERVICE_PORT"] = "443";
  }
  ConfigResult load(const LoadOptions& options = {}) {
    return load_rest_config(options, env.env());
  }

  TempDir dir{"frugal-kubeconfig"};
  fs::path home;
  fs::path sa;
  FakeEnv env;
};

TEST_F(LoadOrder, KubeconfigFlagBeatsEnvInClusterAndHome) {
  in_cluster();
  auto env_file = dir.write("env", one_context("server: https://env:6443", ""));
  env.vars["KUBECONFIG"] = env_file;
  auto flag = dir.write("flag", one_context("server: https://flag:6443", ""));
  auto r = load({.kubeconfig_path = flag});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://flag:6443");
}

TEST_F(LoadOrder, KubeconfigFlagNamingAMissingFileIsAnError) {
  std::string missing = (dir.path() / "missing").string();
  auto r = load({.kubeconfig_path = missing});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "kubeconfig " + missing + ": cannot read file: No such file or directory");
}

TEST_F(LoadOrder, KubeconfigEnvBeatsInClusterAndHome) {
  in_cluster();
  env.vars["KUBECONFIG"] = dir.write("env", one_context("server: https://env:6443", ""));
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://env:6443");
}

TEST_F(LoadOrder, EmptyKubeconfigEnvCountsAsUnset) {
  env.vars["KUBECONFIG"] = "";
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://home:6443");
}

// controller-runtime's loadConfig tries in-cluster before ~/.kube/config.
TEST_F(LoadOrder, InClusterBeatsHomeConfig) {
  in_cluster();
  auto r = load({.context = "ignored-in-cluster"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://10.96.0.1:443");
  EXPECT_EQ(r->source, "in-cluster service account " + sa.string());
}

TEST_F(LoadOrder, HomeConfigWhenNotInCluster) {
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://home:6443");
  EXPECT_EQ(r->source, (home / ".kube/config").string() + " context ctx");
}

TEST_F(LoadOrder, InClusterNeedsBothHostAndPort) {
  env.vars["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://home:6443");
}

TEST_F(LoadOrder, PasswdHomeIsUsedWhenHomeIsUnset) {
  env.vars.erase("HOME");
  env.passwd_home = home.string();
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://home:6443");
}

TEST_F(LoadOrder, FailedInClusterFallsBackToHomeConfig) {
  in_cluster();
  fs::remove(sa / "token");
  auto r = load();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://home:6443");
}

TEST_F(LoadOrder, FailedInClusterWithoutHomeConfigReportsTheInClusterError) {
  in_cluster();
  fs::remove(sa / "token");
  fs::remove(home / ".kube/config");
  auto r = load();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "in-cluster config: cannot read service account token " +
                                   (sa / "token").string() + ": No such file or directory");
}

TEST_F(LoadOrder, NoConfigurationAnywhereSaysWhatWasTried) {
  fs::remove(home / ".kube/config");
  auto r = load();
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_config_error(r.error()));
  EXPECT_EQ(r.error().message,
            "no configuration found: --kubeconfig was not given, KUBECONFIG is not set, "
            "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a "
            "cluster), and " +
                (home / ".kube/config").string() + " does not exist");
}

// --- In-cluster.

class InClusterConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    env.service_account_dir = dir.path();
    env.vars["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
    env.vars["KUBERNETES_SERVICE_PORT"] = "443";
    dir.write("token", "eyJhbGciOi.token\n");
    dir.write("ca.crt", ca().cert_pem);
    dir.write("namespace", "ml-system");
  }
  TempDir dir{"frugal-kubeconfig"};
  FakeEnv env;
};

TEST_F(InClusterConfig, ReadsTokenCaAndNamespaceAndRemembersTheTokenPath) {
  auto r = load_in_cluster_config(env.env());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://10.96.0.1:443");
  EXPECT_EQ(r->bearer_token, "eyJhbGciOi.token");
  EXPECT_EQ(r->bearer_token_file, (dir.path() / "token").string());
  EXPECT_EQ(r->ca_pem, ca().cert_pem);
  EXPECT_EQ(r->default_namespace, "ml-system");
}

TEST_F(InClusterConfig, BracketsAnIpv6Host) {
  env.vars["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
  auto r = load_in_cluster_config(env.env());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server, "https://[fd00:10:96::1]:443");
}

TEST_F(InClusterConfig, PodNamespaceVariableBeatsTheNamespaceFile) {
  env.vars["POD_NAMESPACE"] = "from-env";
  EXPECT_EQ(load_in_cluster_config(env.env())->default_namespace, "from-env");
}

TEST_F(InClusterConfig, MissingCaAndNamespaceFallBackToSystemRootsAndDefault) {
  fs::remove(dir.path() / "ca.crt");
  fs::remove(dir.path() / "namespace");
  auto r = load_in_cluster_config(env.env());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ca_pem, "");
  EXPECT_EQ(r->default_namespace, "default");
}

TEST_F(InClusterConfig, CaFileWithoutACertificateIsAnError) {
  dir.write("ca.crt", "not a certificate");
  auto r = load_in_cluster_config(env.env());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "in-cluster config: " + (dir.path() / "ca.crt").string() +
                                   " contains no PEM certificate");
}

TEST_F(InClusterConfig, WithoutServiceVariablesIsAnError) {
  env.vars.erase("KUBERNETES_SERVICE_PORT");
  auto r = load_in_cluster_config(env.env());
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.error().message,
      "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set");
}

// --- Broken kubeconfigs: one error naming the file and the field.

class KubeconfigErrors : public ::testing::Test {
 protected:
  std::string error_for(const std::string& content, const std::string& context = "") {
    dir.write("config", content);
    return load_error(path, context);
  }
  std::string prefix() const { return "kubeconfig " + path + ": "; }

  TempDir dir{"frugal-kubeconfig"};
  const std::string path = (dir.path() / "config").string();
};

// An unreadable file goes through the same path as a directory; permission
// bits cannot be tested here because CI runs as root, which reads anything.
TEST_F(KubeconfigErrors, DirectoryInsteadOfFile) {
  fs::create_directory(path);
  EXPECT_EQ(load_error(path), prefix() + "cannot read file: Is a directory");
}

TEST_F(KubeconfigErrors, YamlSyntaxErrorNamesTheLine) {
  std::string message = error_for("clusters:\n- name: c\n  cluster:\n    server: [unclosed\n");
  EXPECT_EQ(message.rfind(prefix() + "YAML syntax error at line ", 0), 0u) << message;
}

TEST_F(KubeconfigErrors, YamlSyntaxErrorLineIsOneBased) {
  EXPECT_EQ(error_for("current-context: a\nusers: - name: x\n  bad: [\n"),
            prefix() + "YAML syntax error at line 2, column 8: illegal block entry");
}

TEST_F(KubeconfigErrors, TopLevelMustBeAMapping) {
  EXPECT_EQ(error_for("- just\n- a list\n"),
            prefix() + "expected a mapping with clusters, users and contexts at the top level");
}

TEST_F(KubeconfigErrors, ContextFromFlagNotFoundListsTheContexts) {
  EXPECT_EQ(error_for(one_context("server: https://h:6443", ""), "staging"),
            prefix() + "--context: context \"staging\" not found; available contexts: \"ctx\"");
}

TEST_F(KubeconfigErrors, CurrentContextNotFoundListsTheContexts) {
  std::string content = one_context("server: https://h:6443", "");
  content.replace(content.find("current-context: ctx"), 20, "current-context: gone");
  EXPECT_EQ(error_for(content),
            prefix() + "current-context: context \"gone\" not found; available contexts: \"ctx\"");
}

TEST_F(KubeconfigErrors, NoCurrentContextAndNoFlag) {
  EXPECT_EQ(error_for("contexts:\n- name: b\n  context:\n    cluster: c\n"
                      "- name: a\n  context:\n    cluster: c\n"),
            prefix() +
                "current-context: not set and no --context given; "
                "available contexts: \"a\", \"b\"");
}

TEST_F(KubeconfigErrors, ContextWithoutCluster) {
  EXPECT_EQ(error_for("contexts:\n- name: ctx\n  context:\n    user: u\ncurrent-context: ctx\n"),
            prefix() + "contexts[0] \"ctx\": cluster: missing");
}

TEST_F(KubeconfigErrors, ReferencedClusterMissing) {
  EXPECT_EQ(error_for("clusters:\n- name: other\n  cluster:\n    server: https://h\n"
                      "contexts:\n- name: ctx\n  context:\n    cluster: c\ncurrent-context: ctx\n"),
            prefix() +
                "contexts[0] \"ctx\": cluster: cluster \"c\" not found; "
                "available clusters: \"other\"");
}

TEST_F(KubeconfigErrors, ReferencedUserMissing) {
  EXPECT_EQ(error_for("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                      "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: bob\n"
                      "current-context: ctx\n"),
            prefix() + "contexts[0] \"ctx\": user: user \"bob\" not found; no users are defined");
}

TEST_F(KubeconfigErrors, ClusterWithoutServer) {
  EXPECT_EQ(error_for(one_context("insecure-skip-tls-verify: false", "")),
            prefix() + "clusters[0] \"c\": server: missing");
}

TEST_F(KubeconfigErrors, ServerWithUnsupportedScheme) {
  EXPECT_EQ(error_for(one_context("server: unix:///var/run/k8s.sock", "")),
            prefix() +
                "clusters[0] \"c\": server: unsupported scheme in \"unix:///var/run/k8s.sock\"; "
                "use https:// or http://");
}

TEST_F(KubeconfigErrors, BadBase64InCertificateAuthorityData) {
  EXPECT_EQ(
      error_for(one_context("server: https://h\ncertificate-authority-data: aGVsbG8gd29ybGQ!", "")),
      prefix() +
          "clusters[0] \"c\": certificate-authority-data: illegal base64 data at input byte 15");
}

TEST_F(KubeconfigErrors, BadBase64InClientKeyDataNamesTheUser) {
  std::string content = one_context("server: https://h", "client-key-data: LS0tLS1CRUdJ*TiBQUklW");
  content.replace(content.find("name: u\n"), 8, "name: alice\n");
  content.replace(content.find("user: u\n"), 8, "user: alice\n");
  EXPECT_EQ(error_for(content),
            prefix() + "users[0] \"alice\": client-key-data: illegal base64 data at input byte 12");
}

TEST_F(KubeconfigErrors, Base64WithoutPaddingIsRejectedAsGoDoes) {
  EXPECT_EQ(
      error_for(one_context("server: https://h\ncertificate-authority-data: YWJjZA=", "")),
      prefix() +
          "clusters[0] \"c\": certificate-authority-data: illegal base64 data at input byte 7");
}

TEST_F(KubeconfigErrors, BadBase64InAnUnusedEntryStillFailsTheFile) {
  EXPECT_EQ(error_for("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
                      "users:\n- name: u\n  user:\n    token: t\n"
                      "- name: unused\n  user:\n    client-certificate-data: \"@@@@\"\n"
                      "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
                      "current-context: ctx\n"),
            prefix() +
                "users[1] \"unused\": client-certificate-data: "
                "illegal base64 data at input byte 0");
}

TEST_F(KubeconfigErrors, SemanticProblemsInUnusedEntriesDoNotMatter) {
  dir.write("config",
            "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
            "- name: broken\n  cluster:\n    certificate-authority: /nonexistent/ca\n"
            "    insecure-skip-tls-verify: true\n"
            "users:\n- name: u\n  user:\n    token: t\n"
            "- name: old\n  user:\n    auth-provider:\n      name: gcp\n"
            "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
            "current-context: ctx\n");
  auto r = load_file(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->bearer_token, "t");
}

TEST_F(KubeconfigErrors, UnreadableCertificateAuthorityFile) {
  std::string ca_path = (dir.path() / "missing-ca.crt").string();
  EXPECT_EQ(error_for(one_context("server: https://h\ncertificate-authority: missing-ca.crt", "")),
            prefix() + "clusters[0] \"c\": certificate-authority: cannot read " + ca_path +
                ": No such file or directory");
}

TEST_F(KubeconfigErrors, CertificateAuthorityFileWithoutACertificate) {
  std::string ca_path = dir.write("ca.crt", "hello");
  EXPECT_EQ(error_for(one_context("server: https://h\ncertificate-authority: ca.crt", "")),
            prefix() + "clusters[0] \"c\": certificate-authority: " + ca_path +
                " contains no PEM certificate");
}

TEST_F(KubeconfigErrors, CertificateAuthorityDataWithoutACertificate) {
  EXPECT_EQ(
      error_for(one_context(
          "server: https://h\ncertificate-authority-data: " + base64_encode("hello"), "")),
      prefix() + "clusters[0] \"c\": certificate-authority-data: contains no PEM certificate");
}

TEST_F(KubeconfigErrors, InsecureSkipTlsVerifyTogetherWithACa) {
  EXPECT_EQ(error_for(one_context("server: https://h\ninsecure-skip-tls-verify: true\n"
                                  "certificate-authority-data: " +
                                      base64_encode(ca().cert_pem),
                                  "")),
            prefix() +
                "clusters[0] \"c\": insecure-skip-tls-verify: specifying a root certificates "
                "file with the insecure flag is not allowed");
}

TEST_F(KubeconfigErrors, InsecureSkipTlsVerifyMustBeABoolean) {
  EXPECT_EQ(
      error_for(one_context("server: https://h\ninsecure-skip-tls-verify: maybe", "")),
      prefix() +
          "clusters[0] \"c\": insecure-skip-tls-verify: expected true or false, got \"maybe\"");
}

TEST_F(KubeconfigErrors, ProxyUrlIsNotSupported) {
  EXPECT_EQ(error_for(one_context("server: https://h\nproxy-url: http://proxy:3128", "")),
            prefix() +
                "clusters[0] \"c\": proxy-url: not supported: frugal connects to the API "
                "server directly");
}

TEST_F(KubeconfigErrors, AuthProviderIsNotSupported) {
  EXPECT_EQ(error_for(one_context("server: https://h", "auth-provider:\n  name: gcp")),
            prefix() +
                "users[0] \"u\": auth-provider: not supported (\"gcp\"); configure an exec "
                "credential plugin instead");
}

TEST_F(KubeconfigErrors, ClientCertificateWithoutKey) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "client-certificate-data: " + base64_encode(client().cert_pem))),
            prefix() +
                "users[0] \"u\": client-key: missing; client-certificate-data is set and "
                "needs its key");
}

TEST_F(KubeconfigErrors, ClientKeyWithoutCertificate) {
  dir.write("alice.key", client().key_pem);
  EXPECT_EQ(error_for(one_context("server: https://h", "client-key: alice.key")),
            prefix() +
                "users[0] \"u\": client-certificate: missing; client-key is set and needs "
                "its certificate");
}

TEST_F(KubeconfigErrors, ClientKeyThatDoesNotMatchTheCertificate) {
  EXPECT_EQ(
      error_for(one_context("server: https://h",
                            "client-certificate-data: " + base64_encode(client().cert_pem) +
                                "\nclient-key-data: " + base64_encode(other_client().key_pem))),
      prefix() + "users[0] \"u\": client-key-data: private key does not match the certificate");
}

TEST_F(KubeconfigErrors, ClientCertificateThatIsNotPem) {
  dir.write("alice.crt", "garbage");
  dir.write("alice.key", client().key_pem);
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "client-certificate: alice.crt\nclient-key: alice.key")),
            prefix() + "users[0] \"u\": client-certificate: no PEM certificate found");
}

TEST_F(KubeconfigErrors, UnreadableClientKeyFile) {
  dir.write("alice.crt", client().cert_pem);
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "client-certificate: alice.crt\nclient-key: alice.key")),
            prefix() + "users[0] \"u\": client-key: cannot read " +
                (dir.path() / "alice.key").string() + ": No such file or directory");
}

TEST_F(KubeconfigErrors, ClientCertificateDataAndFileTogether) {
  dir.write("alice.crt", client().cert_pem);
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "client-certificate: alice.crt\nclient-certificate-data: " +
                                      base64_encode(client().cert_pem) +
                                      "\nclient-key-data: " + base64_encode(client().key_pem))),
            prefix() +
                "users[0] \"u\": client-certificate-data: client-certificate is set too; "
                "only one is allowed");
}

TEST_F(KubeconfigErrors, UnreadableTokenFile) {
  EXPECT_EQ(error_for(one_context("server: https://h", "tokenFile: missing-token")),
            prefix() + "users[0] \"u\": tokenFile: cannot read " +
                (dir.path() / "missing-token").string() + ": No such file or directory");
}

TEST_F(KubeconfigErrors, TokenTogetherWithBasicAuth) {
  EXPECT_EQ(error_for(one_context("server: https://h", "token: t\nusername: u\npassword: p")),
            prefix() +
                "users[0] \"u\": username: cannot be combined with token or tokenFile; only "
                "one authentication method is allowed");
}

TEST_F(KubeconfigErrors, ExecWithoutCommand) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "exec:\n  apiVersion: client.authentication.k8s.io/v1")),
            prefix() + "users[0] \"u\": exec.command: missing");
}

TEST_F(KubeconfigErrors, ExecWithoutApiVersion) {
  EXPECT_EQ(error_for(one_context("server: https://h", "exec:\n  command: plugin")),
            prefix() + "users[0] \"u\": exec.apiVersion: missing");
}

TEST_F(KubeconfigErrors, ExecWithRemovedApiVersion) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "exec:\n  apiVersion: client.authentication.k8s.io/v1alpha1\n"
                                  "  command: plugin")),
            prefix() +
                "users[0] \"u\": exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" "
                "is not supported; use client.authentication.k8s.io/v1 or "
                "client.authentication.k8s.io/v1beta1");
}

TEST_F(KubeconfigErrors, ExecEnvWithoutName) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "exec:\n  apiVersion: client.authentication.k8s.io/v1\n"
                                  "  command: plugin\n  env:\n  - value: x")),
            prefix() + "users[0] \"u\": exec.env[0].name: missing");
}

TEST_F(KubeconfigErrors, ExecArgsMustBeStrings) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "exec:\n  apiVersion: client.authentication.k8s.io/v1\n"
                                  "  command: plugin\n  args:\n  - {a: b}")),
            prefix() + "users[0] \"u\": exec.args[0]: expected a string");
}

TEST_F(KubeconfigErrors, ExecThatWantsATerminal) {
  EXPECT_EQ(error_for(one_context("server: https://h",
                                  "exec:\n  apiVersion: client.authentication.k8s.io/v1\n"
                                  "  command: plugin\n  interactiveMode: Always")),
            prefix() +
                "users[0] \"u\": exec.interactiveMode: \"Always\" needs a terminal, which a "
                "controller does not have; use Never or IfAvailable");
}

TEST_F(KubeconfigErrors, EntryWithoutName) {
  EXPECT_EQ(error_for("clusters:\n- cluster:\n    server: https://h\n"),
            prefix() + "clusters[0]: name: missing");
}

TEST_F(KubeconfigErrors, DuplicateNamesInOneFile) {
  EXPECT_EQ(error_for("users:\n- name: a\n  user: {}\n- name: a\n  user:\n    token: t\n"),
            prefix() + "users[1] \"a\": name: duplicate of users[0] \"a\"");
}

TEST_F(KubeconfigErrors, ListsMustBeLists) {
  EXPECT_EQ(error_for("contexts:\n  ctx:\n    cluster: c\n"),
            prefix() + "contexts: expected a list");
}

TEST_F(KubeconfigErrors, FieldsMustBeStrings) {
  EXPECT_EQ(error_for(one_context("server: [a, b]", "")),
            prefix() + "clusters[0] \"c\": server: expected a string");
}

}  // namespace
}  // namespace frugal::kube
