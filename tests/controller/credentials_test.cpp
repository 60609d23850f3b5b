// Pins what CredentialProvider sends and when it refreshes: static token,
// basic auth, token file re-read on client-go's schedule (with an injected
// clock, no sleeps), and exec plugins (small shell scripts written by the
// test) cached until expiry or invalidate(), with their failures explained.
#include "controller/kube/credentials.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace frugal::kube {
namespace {

namespace fs = std::filesystem;
using frugal::testing::base64_encode;
using frugal::testing::KeyPair;
using frugal::testing::make_self_signed;
using frugal::testing::TempDir;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

constexpr const char* kV1 = "client.authentication.k8s.io/v1";

TimePoint at(std::chrono::year_month_day day, std::chrono::seconds time_of_day = 0s) {
  return std::chrono::sys_days(day) + time_of_day;
}

// A fake clock whose wall time starts an hour before the plugins' tokens expire.
struct TestClock {
  FakeClock fake{FakeClock::kDefaultStart, at(std::chrono::year(2029) / 12 / 31, 23h)};
  CredentialOptions options() { return CredentialOptions{.clock = &fake}; }
  void advance(Clock::Duration d) { fake.advance(d); }
  void set_wall(TimePoint t) { fake.set_wall(t); }
};

RestConfig base_config() {
  RestConfig c;
  c.server = "https://10.0.0.1:6443";
  return c;
}

// --- Static credentials.

TEST(CredentialProviderStatic, NoCredentialsGiveAnEmptyHeaderAndNoCertificate) {
  CredentialProvider p(base_config());
  EXPECT_EQ(*p.authorization_header(), "");
  EXPECT_TRUE(p.current_client_cert()->empty());
}

TEST(CredentialProviderStatic, StaticTokenBecomesABearerHeader) {
  RestConfig c = base_config();
  c.bearer_token = "abc123";
  CredentialProvider p(c);
  EXPECT_EQ(*p.authorization_header(), "Bearer abc123");
}

TEST(CredentialProviderStatic, BasicAuthEncodesUserColonPassword) {
  RestConfig c = base_config();
  c.username = "admin";
  c.password = "s3cr:et";
  CredentialProvider p(c);
  EXPECT_EQ(*p.authorization_header(), "Basic " + base64_encode("admin:s3cr:et"));
}

TEST(CredentialProviderStatic, StaticClientCertificateIsReturned) {
  RestConfig c = base_config();
  c.client_cert_pem = "CERT";
  c.client_key_pem = "KEY";
  CredentialProvider p(c);
  EXPECT_EQ(*p.current_client_cert(), (ClientCertificate{"CERT", "KEY"}));
  EXPECT_EQ(*p.authorization_header(), "");
}

// --- Token file.

class CredentialProviderTokenFile : public ::testing::Test {
 protected:
  RestConfig config() {
    RestConfig c = base_config();
    c.bearer_token_file = token_path;
    return c;
  }
  TempDir dir{"frugal-credentials"};
  TestClock clock;
  std::string token_path = dir.write("token", "first\n");
};

TEST_F(CredentialProviderTokenFile, IsReadOnFirstUseWithWhitespaceTrimmed) {
  CredentialProvider p(config(), clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer first");
}

// client-go NewCachedFileTokenSource: valid for a minute, refreshed 10 s early.
TEST_F(CredentialProviderTokenFile, RotationIsPickedUpFiftySecondsAfterTheLastRead) {
  CredentialProvider p(config(), clock.options());
  ASSERT_EQ(*p.authorization_header(), "Bearer first");
  dir.write("token", "second");
  clock.advance(kTokenFileRereadPeriod - kTokenFileLeeway - 1s);
  EXPECT_EQ(*p.authorization_header(), "Bearer first");
  clock.advance(1s);
  EXPECT_EQ(*p.authorization_header(), "Bearer second");
  dir.write("token", "third");
  clock.advance(49s);
  EXPECT_EQ(*p.authorization_header(), "Bearer second");
  clock.advance(1s);
  EXPECT_EQ(*p.authorization_header(), "Bearer third");
}

TEST_F(CredentialProviderTokenFile, TakesPrecedenceOverTheTokenReadAtLoad) {
  RestConfig c = config();
  c.bearer_token = "loaded";
  CredentialProvider p(c, clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer first");
}

TEST_F(CredentialProviderTokenFile, KeepsTheLastTokenWhenTheFileDisappears) {
  CredentialProvider p(config(), clock.options());
  ASSERT_EQ(*p.authorization_header(), "Bearer first");
  fs::remove(token_path);
  clock.advance(10min);
  EXPECT_EQ(*p.authorization_header(), "Bearer first");
}

TEST_F(CredentialProviderTokenFile, FallsBackToTheTokenReadAtLoadWhenNeverReadable) {
  fs::remove(token_path);
  RestConfig c = config();
  c.bearer_token = "loaded";
  CredentialProvider p(c, clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer loaded");
}

TEST_F(CredentialProviderTokenFile, UnreadableWithoutFallbackIsAnError) {
  fs::remove(token_path);
  CredentialProvider p(config(), clock.options());
  auto r = p.authorization_header();
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_credential_error(r.error()));
  EXPECT_EQ(r.error().message,
            "cannot read token file " + token_path + ": No such file or directory");
}

TEST_F(CredentialProviderTokenFile, EmptyFileIsAnError) {
  dir.write("token", "\n");
  CredentialProvider p(config(), clock.options());
  auto r = p.authorization_header();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "token file " + token_path + " is empty");
}

TEST_F(CredentialProviderTokenFile, InvalidateRereadsTheFileAtOnce) {
  CredentialProvider p(config(), clock.options());
  ASSERT_EQ(*p.authorization_header(), "Bearer first");
  dir.write("token", "second");
  p.invalidate("Bearer first");
  EXPECT_EQ(*p.authorization_header(), "Bearer second");
}

// --- Exec plugins.

class CredentialProviderExec : public ::testing::Test {
 protected:
  // Writes an executable /bin/sh script below `dir` and returns its path.
  std::string script(const std::string& name, const std::string& body) const {
    return dir.write_mode(name, "#!/bin/sh\n" + body, 0755);
  }
  // A plugin that counts its runs in `runs` and prints token tok-<run> with `expiry`.
  std::string counting_plugin(const std::string& expiry = "2030-01-01T00:00:00Z") {
    return script(
        "plugin.sh",
        "echo run >> '" + dir.file("runs") +
            "'\n"
            "n=$(wc -l < '" +
            dir.file("runs") +
            "')\n"
            "printf '{\"apiVersion\":\"" +
            std::string(kV1) + "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%d\"" +
            (expiry.empty() ? "" : ",\"expirationTimestamp\":\"" + expiry + "\"") + "}}' $n\n");
  }
  // A plugin that runs `commands`, then prints an ExecCredential with token "t".
  std::string token_plugin(const std::string& commands) {
    return script("plugin.sh",
                  commands + "printf '{\"apiVersion\":\"" + std::string(kV1) +
                      "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n");
  }
  // A plugin that prints the given ExecCredential document.
  std::string printing_plugin(const nlohmann::json& credential) {
    dir.write("response.json", credential.dump());
    return script("plugin.sh", "cat '" + dir.file("response.json") + "'\n");
  }
  int runs() const {
    std::string content = dir.read("runs");
    return static_cast<int>(std::count(content.begin(), content.end(), '\n'));
  }
  RestConfig config(const std::string& command) {
    RestConfig c = base_config();
    c.exec = ExecConfig{.api_version = kV1, .command = command};
    return c;
  }
  std::string exec_error(const RestConfig& c) {
    CredentialProvider p(c, clock.options());
    auto r = p.authorization_header();
    if (r) return "(succeeded: " + *r + ")";
    EXPECT_TRUE(is_credential_error(r.error()));
    return r.error().message;
  }

  TempDir dir{"frugal-credentials"};
  TestClock clock;
};

TEST_F(CredentialProviderExec, TokenIsCachedUntilItsExpirationTimestampPasses) {
  CredentialProvider p(config(counting_plugin()), clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  // Exactly at expiry the token is still valid (client-go: now.After(exp)).
  clock.set_wall(at(std::chrono::year(2030) / 1 / 1));
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  EXPECT_EQ(runs(), 1);
  clock.advance(1s);
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-2");
  EXPECT_EQ(runs(), 2);
}

TEST_F(CredentialProviderExec, ExpirationTimestampWithOffsetAndFractionIsHonoured) {
  // 01:00:00.5+01:00 is 00:00:00.5Z.
  CredentialProvider p(config(counting_plugin("2030-01-01T01:00:00.5+01:00")), clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  clock.set_wall(at(std::chrono::year(2030) / 1 / 1) + 400ms);
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  clock.set_wall(at(std::chrono::year(2030) / 1 / 1) + 600ms);
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-2");
}

TEST_F(CredentialProviderExec, TokenWithoutExpiryIsKeptUntilInvalidated) {
  CredentialProvider p(config(counting_plugin("")), clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  clock.advance(24h * 365);
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-1");
  EXPECT_EQ(runs(), 1);
  p.invalidate();
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-2");
  EXPECT_EQ(runs(), 2);
}

TEST_F(CredentialProviderExec, InvalidateAfterA401RerunsThePluginOnce) {
  CredentialProvider p(config(counting_plugin()), clock.options());
  ASSERT_EQ(*p.authorization_header(), "Bearer tok-1");
  p.invalidate("Bearer tok-1");
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-2");
  // A second 401 for the old token, from a request that raced the rotation:
  // the credential has already been replaced, so the plugin does not run again.
  p.invalidate("Bearer tok-1");
  EXPECT_EQ(*p.authorization_header(), "Bearer tok-2");
  EXPECT_EQ(runs(), 2);
}

TEST_F(CredentialProviderExec, ConcurrentCallersShareOnePluginRun) {
  CredentialProvider p(config(counting_plugin()), clock.options());
  std::vector<std::thread> threads;
  std::vector<std::string> headers(8);
  for (size_t i = 0; i < headers.size(); ++i) {
    threads.emplace_back([&, i] { headers[i] = p.authorization_header().value(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& h : headers) EXPECT_EQ(h, "Bearer tok-1");
  EXPECT_EQ(runs(), 1);
}

TEST_F(CredentialProviderExec, PluginGetsArgsConfiguredEnvInheritedEnvAndExecInfo) {
  std::string plugin =
      token_plugin("printf '%s\\n' \"$@\" > '" + dir.file("args") + "'\n" +
                   "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" + dir.file("info") + "'\n" +
                   "printf '%s|%s' \"$PLUGIN_MODE\" \"$PATH\" > '" + dir.file("env") + "'\n");
  RestConfig c = config(plugin);
  c.exec->args = {"get-token", "--cluster", "prod west"};
  c.exec->env = {{"PLUGIN_MODE", "ci"}};
  CredentialProvider p(c, clock.options());
  ASSERT_EQ(*p.authorization_header(), "Bearer t");
  EXPECT_EQ(dir.read("args"), "get-token\n--cluster\nprod west\n");
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(dir.read("env"), "ci|" + std::string(path ? path : ""));
  EXPECT_EQ(nlohmann::json::parse(dir.read("info")),
            nlohmann::json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1",
                                      "kind":"ExecCredential","spec":{"interactive":false}})"));
}

TEST_F(CredentialProviderExec, ConfiguredEnvReplacesAnInheritedVariable) {
  std::string plugin = token_plugin("printf '%s' \"$PATH\" > '" + dir.file("env") + "'\n");
  RestConfig c = config(plugin);
  c.exec->env = {{"PATH", "/plugin/bin"}};
  CredentialProvider p(c, clock.options());
  ASSERT_TRUE(p.authorization_header());
  EXPECT_EQ(dir.read("env"), "/plugin/bin");
}

TEST_F(CredentialProviderExec, ProvideClusterInfoPassesTheClusterInExecInfo) {
  std::string plugin =
      token_plugin("printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" + dir.file("info") + "'\n");
  RestConfig c = config(plugin);
  c.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  c.tls_server_name = "kubernetes.default";
  c.exec->provide_cluster_info = true;
  CredentialProvider p(c, clock.options());
  ASSERT_TRUE(p.authorization_header());
  auto info = nlohmann::json::parse(dir.read("info"));
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"],
            nlohmann::json({{"server", "https://10.0.0.1:6443"},
                            {"tls-server-name", "kubernetes.default"},
                            {"certificate-authority-data", base64_encode(c.ca_pem)}}));
}

TEST_F(CredentialProviderExec, ClientCertificateFromThePluginIsExposedForMutualTls) {
  KeyPair pair = make_self_signed("exec-user");
  std::string plugin = printing_plugin(
      {{"apiVersion", kV1},
       {"kind", "ExecCredential"},
       {"status", {{"clientCertificateData", pair.cert_pem}, {"clientKeyData", pair.key_pem}}}});
  CredentialProvider p(config(plugin), clock.options());
  auto cert = p.current_client_cert();
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(*cert, (ClientCertificate{pair.cert_pem, pair.key_pem}));
  EXPECT_EQ(*p.authorization_header(), "");  // certificate only: no Authorization header
}

TEST_F(CredentialProviderExec, StaticTokenWinsAndThePluginNeverRuns) {
  RestConfig c = config(counting_plugin());
  c.bearer_token = "static";
  CredentialProvider p(c, clock.options());
  EXPECT_EQ(*p.authorization_header(), "Bearer static");
  EXPECT_TRUE(p.current_client_cert()->empty());
  EXPECT_FALSE(fs::exists(dir.file("runs")));
}

TEST_F(CredentialProviderExec, FailingPluginErrorIncludesStderrAndInstallHint) {
  RestConfig c = config(script("plugin.sh",
                               "echo 'token service unreachable: connection refused' >&2\n"
                               "exit 3\n"));
  c.exec->install_hint = "Install frugal-auth from https://example.com/frugal-auth";
  EXPECT_EQ(exec_error(c), "exec plugin \"" + c.exec->command +
                               "\": failed with exit code 3; stderr: token service unreachable: "
                               "connection refused; install hint: Install frugal-auth from "
                               "https://example.com/frugal-auth");
}

TEST_F(CredentialProviderExec, FailureIsNotCachedAndTheNextCallRetries) {
  std::string plugin = script("plugin.sh", "echo down >&2\nexit 1\n");
  CredentialProvider p(config(plugin), clock.options());
  ASSERT_FALSE(p.authorization_header());
  printing_plugin({{"apiVersion", kV1}, {"kind", "ExecCredential"}, {"status", {{"token", "up"}}}});
  EXPECT_EQ(*p.authorization_header(), "Bearer up");
}

TEST_F(CredentialProviderExec, MissingPluginSaysItIsNotInstalledAndGivesTheHint) {
  RestConfig c = config("frugal-no-such-credential-plugin");
  c.exec->install_hint = "brew install frugal-auth";
  EXPECT_EQ(exec_error(c),
            "exec plugin \"frugal-no-such-credential-plugin\": executable not found; it looks like "
            "you are trying to use a client-go credential plugin that is not installed; install "
            "hint: brew install frugal-auth");
}

TEST_F(CredentialProviderExec, HungPluginIsKilledAfterTheTimeout) {
  RestConfig c = config(script("plugin.sh", "echo waiting >&2\nexec sleep 30\n"));
  CredentialOptions options = clock.options();
  options.exec_timeout = 200ms;
  CredentialProvider p(c, options);
  auto start = std::chrono::steady_clock::now();
  auto r = p.authorization_header();
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(r.error().message,
            "exec plugin \"" + c.exec->command +
                "\": did not finish within 200ms and was killed; stderr: waiting");
}

TEST_F(CredentialProviderExec, PluginThatClosesItsOutputButKeepsRunningIsKilled) {
  RestConfig c = config(script("plugin.sh", "exec >&- 2>&-\nexec sleep 30\n"));
  CredentialOptions options = clock.options();
  options.exec_timeout = 200ms;
  CredentialProvider p(c, options);
  auto r = p.authorization_header();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "exec plugin \"" + c.exec->command + "\": did not finish within 200ms and was killed");
}

TEST_F(CredentialProviderExec, OutputThatIsNotJsonIsAnError) {
  RestConfig c = config(script("plugin.sh", "echo hello\n"));
  EXPECT_EQ(exec_error(c),
            "exec plugin \"" + c.exec->command + "\": stdout is not an ExecCredential JSON object");
}

TEST_F(CredentialProviderExec, WrongApiVersionIsAnError) {
  RestConfig c = config(printing_plugin({{"apiVersion", "client.authentication.k8s.io/v1beta1"},
                                         {"kind", "ExecCredential"},
                                         {"status", {{"token", "t"}}}}));
  EXPECT_EQ(exec_error(c), "exec plugin \"" + c.exec->command +
                               "\": returned apiVersion \"client.authentication.k8s.io/v1beta1\" "
                               "but the kubeconfig asks for \"client.authentication.k8s.io/v1\"");
}

TEST_F(CredentialProviderExec, MissingStatusIsAnError) {
  RestConfig c = config(printing_plugin({{"apiVersion", kV1}, {"kind", "ExecCredential"}}));
  EXPECT_EQ(exec_error(c),
            "exec plugin \"" + c.exec->command + "\": did not return a status field");
}

TEST_F(CredentialProviderExec, StatusWithoutTokenOrCertificateIsAnError) {
  RestConfig c = config(printing_plugin(
      {{"apiVersion", kV1}, {"kind", "ExecCredential"}, {"status", nlohmann::json::object()}}));
  EXPECT_EQ(exec_error(c), "exec plugin \"" + c.exec->command +
                               "\": returned neither status.token nor "
                               "status.clientCertificateData/clientKeyData");
}

TEST_F(CredentialProviderExec, CertificateWithoutKeyIsAnError) {
  KeyPair pair = make_self_signed("exec-user");
  RestConfig c = config(printing_plugin({{"apiVersion", kV1},
                                         {"kind", "ExecCredential"},
                                         {"status", {{"clientCertificateData", pair.cert_pem}}}}));
  EXPECT_EQ(exec_error(c), "exec plugin \"" + c.exec->command +
                               "\": returned only one of status.clientCertificateData and "
                               "status.clientKeyData");
}

TEST_F(CredentialProviderExec, MismatchedCertificateAndKeyIsAnError) {
  KeyPair one = make_self_signed("one");
  KeyPair two = make_self_signed("two");
  RestConfig c = config(printing_plugin(
      {{"apiVersion", kV1},
       {"kind", "ExecCredential"},
       {"status", {{"clientCertificateData", one.cert_pem}, {"clientKeyData", two.key_pem}}}}));
  EXPECT_EQ(exec_error(c), "exec plugin \"" + c.exec->command +
                               "\": status.clientCertificateData/clientKeyData: key: private key "
                               "does not match the certificate");
}

TEST_F(CredentialProviderExec, BadExpirationTimestampIsAnError) {
  RestConfig c =
      config(printing_plugin({{"apiVersion", kV1},
                              {"kind", "ExecCredential"},
                              {"status", {{"token", "t"}, {"expirationTimestamp", "tomorrow"}}}}));
  EXPECT_EQ(exec_error(c),
            "exec plugin \"" + c.exec->command +
                "\": status.expirationTimestamp: \"tomorrow\" is not an RFC 3339 time");
}

}  // namespace
}  // namespace frugal::kube
