#include "sim/kubeconfig.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sim/base64.h"
#include "sim/http_server.h"
#include "sim/tls.h"
#include "tests/support/temp_dir.h"

namespace kubesim {
namespace {

namespace fs = std::filesystem;
using frugal::testing::read_file;
using frugal::testing::TempDir;

TEST(MakeKubeconfig, WritesSingleClusterUserAndCurrentContext) {
  std::string yaml = make_kubeconfig({.server = "https://127.0.0.1:6443",
                                      .ca_pem = "-----BEGIN CERTIFICATE-----\nabc\n",
                                      .token = "s3cret"});
  YAML::Node doc = YAML::Load(yaml);
  EXPECT_EQ(doc["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(doc["kind"].as<std::string>(), "Config");
  EXPECT_EQ(doc["current-context"].as<std::string>(), "kubesim");
  ASSERT_EQ(doc["clusters"].size(), 1u);
  auto cluster = doc["clusters"][0];
  EXPECT_EQ(cluster["name"].as<std::string>(), "kubesim");
  EXPECT_EQ(cluster["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");
  EXPECT_EQ(base64_decode(cluster["cluster"]["certificate-authority-data"].as<std::string>()),
            "-----BEGIN CERTIFICATE-----\nabc\n");
  auto user = doc["users"][0];
  EXPECT_EQ(user["name"].as<std::string>(), "kubesim");
  EXPECT_EQ(user["user"]["token"].as<std::string>(), "s3cret");
  auto context = doc["contexts"][0];
  EXPECT_EQ(context["name"].as<std::string>(), "kubesim");
  EXPECT_EQ(context["context"]["cluster"].as<std::string>(), "kubesim");
  EXPECT_EQ(context["context"]["user"].as<std::string>(), "kubesim");
  EXPECT_EQ(context["context"]["namespace"].as<std::string>(), "default");
}

TEST(MakeKubeconfig, UsesGivenNamesAndNamespace) {
  std::string yaml = make_kubeconfig({.server = "http://127.0.0.1:8080",
                                      .cluster_name = "c1",
                                      .user_name = "u1",
                                      .context_name = "ctx1",
                                      .namespace_name = "team-a"});
  YAML::Node doc = YAML::Load(yaml);
  EXPECT_EQ(doc["current-context"].as<std::string>(), "ctx1");
  EXPECT_EQ(doc["clusters"][0]["name"].as<std::string>(), "c1");
  EXPECT_EQ(doc["users"][0]["name"].as<std::string>(), "u1");
  EXPECT_EQ(doc["contexts"][0]["context"]["cluster"].as<std::string>(), "c1");
  EXPECT_EQ(doc["contexts"][0]["context"]["user"].as<std::string>(), "u1");
  EXPECT_EQ(doc["contexts"][0]["context"]["namespace"].as<std::string>(), "team-a");
}

TEST(MakeKubeconfig, OmitsCaAndTokenWhenAbsent) {
  YAML::Node doc = YAML::Load(make_kubeconfig({.server = "http://127.0.0.1:8080"}));
  EXPECT_FALSE(doc["clusters"][0]["cluster"]["certificate-authority-data"]);
  EXPECT_FALSE(doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"]);
  EXPECT_TRUE(doc["users"][0]["user"].IsMap());
  EXPECT_EQ(doc["users"][0]["user"].size(), 0u);
}

TEST(MakeKubeconfig, SkipsTlsVerificationOnlyWhenAskedAndNoCaGiven) {
  YAML::Node doc = YAML::Load(
      make_kubeconfig({.server = "https://127.0.0.1:1", .insecure_skip_tls_verify = true}));
  EXPECT_TRUE(doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"].as<bool>());
  doc = YAML::Load(make_kubeconfig(
      {.server = "https://127.0.0.1:1", .ca_pem = "x", .insecure_skip_tls_verify = true}));
  EXPECT_FALSE(doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"]);
}

TEST(MakeKubeconfig, QuotesValuesSoYamlSpecialCharactersSurvive) {
  std::string tricky = "a: b # c\n\"quoted\" 'single' \\ {x} [y] *z &w";
  YAML::Node doc = YAML::Load(
      make_kubeconfig({.server = "https://127.0.0.1:1", .token = tricky, .namespace_name = "yes"}));
  EXPECT_EQ(doc["users"][0]["user"]["token"].as<std::string>(), tricky);
  // "yes" must stay a string, not become a YAML 1.1 boolean.
  EXPECT_EQ(doc["contexts"][0]["context"]["namespace"].as<std::string>(), "yes");
}

TEST(WriteKubeconfigFile, WritesContentWithOwnerOnlyMode) {
  TempDir dir{"kubeconfig-test"};
  fs::path path = dir.path() / "config";
  ASSERT_TRUE(write_kubeconfig_file(path, "hello\n"));
  EXPECT_EQ(read_file(path), "hello\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(WriteKubeconfigFile, ReplacesExistingFileAndLeavesNoTemporaryBehind) {
  TempDir dir{"kubeconfig-test"};
  fs::path path = dir.path() / "config";
  { std::ofstream(path) << "old"; }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  ASSERT_TRUE(write_kubeconfig_file(path, "new"));
  EXPECT_EQ(read_file(path), "new");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(WriteKubeconfigFile, ReportsMissingDirectoryAsError) {
  TempDir dir{"kubeconfig-test"};
  auto result = write_kubeconfig_file(dir.path() / "no-such-dir" / "config", "x");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, 500);
  EXPECT_NE(result.error().message.find("no-such-dir"), std::string::npos);
}

// ---- kubectl accepts what we write ----

constexpr const char* kKubectl = "/usr/bin/kubectl";
constexpr const char* kToken = "kubesim-test-token";

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command (bounded by coreutils `timeout`) and captures stdout.
CommandResult run(const std::string& command) {
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return result;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0)
    result.out.append(buf.data(), n);
  int status = ::pclose(pipe.release());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A server that answers /version like kube-apiserver, behind bearer-token auth.
class VersionServer {
 public:
  VersionServer() {
    auto material = generate_tls_material({}, {});
    if (!material) throw std::runtime_error(material.error().message);
    tls_ = *material;
    server_ = std::make_unique<HttpServer>(
        HttpServerOptions{.tls = tls_}, [this](const Request& req) -> Reply {
          if (req.authorization != std::string("Bearer ") + kToken) {
            ++unauthorized_;
            return Response{.status = 401, .body = unauthorized().to_status().dump()};
          }
          if (req.method == "GET" && req.path == "/version") {
            nlohmann::json v = {{"major", "1"},
                                {"minor", "32"},
                                {"gitVersion", "v1.32.0-kubesim"},
                                {"gitCommit", "0000000000000000000000000000000000000000"},
                                {"gitTreeState", "clean"},
                                {"buildDate", "2025-01-01T00:00:00Z"},
                                {"goVersion", "go1.23.0"},
                                {"compiler", "gc"},
                                {"platform", "linux/amd64"}};
            return Response{.body = v.dump()};
          }
          return Response{.status = 404, .body = not_found_path().to_status().dump()};
        });
    auto started = server_->start();
    if (!started) throw std::runtime_error(started.error().message);
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  const TlsMaterial& tls() const { return tls_; }
  int unauthorized_count() const { return unauthorized_.load(); }

 private:
  TlsMaterial tls_;
  std::atomic<int> unauthorized_{0};
  std::unique_ptr<HttpServer> server_;
};

CommandResult kubectl_version(const TempDir& dir, const std::string& kubeconfig) {
  fs::path config = dir.path() / "kubeconfig";
  if (!write_kubeconfig_file(config, kubeconfig)) return {};
  std::string cmd = std::string("timeout 60 ") + kKubectl + " --kubeconfig " + config.string() +
                    " --cache-dir " + (dir.path() / "cache").string() + " version -o json 2>" +
                    (dir.path() / "stderr").string();
  return run(cmd);
}

TEST(KubeconfigWithKubectl, KubectlVerifiesTlsSendsTokenAndPrintsServerVersion) {
  if (::access(kKubectl, X_OK) != 0) GTEST_SKIP() << kKubectl << " not installed";
  VersionServer server;
  TempDir dir{"kubeconfig-test"};
  auto result = kubectl_version(
      dir, make_kubeconfig(
               {.server = server.url(), .ca_pem = server.tls().ca_cert_pem, .token = kToken}));
  ASSERT_EQ(result.exit_code, 0) << result.out << read_file(dir.path() / "stderr");
  auto out = nlohmann::json::parse(result.out, nullptr, false);
  ASSERT_FALSE(out.is_discarded()) << result.out;
  EXPECT_EQ(out["serverVersion"]["gitVersion"], "v1.32.0-kubesim");
  EXPECT_EQ(out["serverVersion"]["minor"], "32");
  EXPECT_EQ(server.unauthorized_count(), 0);
}

TEST(KubeconfigWithKubectl, KubectlFailsWithWrongToken) {
  if (::access(kKubectl, X_OK) != 0) GTEST_SKIP() << kKubectl << " not installed";
  VersionServer server;
  TempDir dir{"kubeconfig-test"};
  auto result = kubectl_version(
      dir, make_kubeconfig(
               {.server = server.url(), .ca_pem = server.tls().ca_cert_pem, .token = "wrong"}));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_GT(server.unauthorized_count(), 0);
  EXPECT_EQ(result.out.find("v1.32.0-kubesim"), std::string::npos);
}

TEST(KubeconfigWithKubectl, KubectlRejectsServerSignedByAnotherCa) {
  if (::access(kKubectl, X_OK) != 0) GTEST_SKIP() << kKubectl << " not installed";
  VersionServer server;
  auto other = generate_tls_material({}, {});
  ASSERT_TRUE(other);
  TempDir dir{"kubeconfig-test"};
  auto result = kubectl_version(
      dir,
      make_kubeconfig({.server = server.url(), .ca_pem = other->ca_cert_pem, .token = kToken}));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(read_file(dir.path() / "stderr").find("certificate"), std::string::npos)
      << read_file(dir.path() / "stderr");
}

}  // namespace
}  // namespace kubesim
