// The exec credential plugin path end to end: a kubeconfig whose user runs a
// script printing an ExecCredential, loaded by load_rest_config, used by the
// real Client against kubesim with TLS and a required bearer token.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"
#include "sim/tls.h"
#include "tests/support/temp_dir.h"

namespace frugal::kube {
namespace {

const ResourceRef kNamespaces{"", "v1", "namespaces", "Namespace", false};

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST(ClientExecPlugin, AuthenticatesWithTheTokenThePluginPrints) {
  auto tls = kubesim::generate_tls_material({"127.0.0.1"}, {"localhost"});
  ASSERT_TRUE(tls) << tls.error().message;
  kubesim::ApiServerOptions api_opts;
  api_opts.token = "from-the-plugin";
  kubesim::ApiServer api(api_opts);
  kubesim::HttpServer http(kubesim::HttpServerOptions{.tls = *tls},
                           [&](const kubesim::Request& r) { return api.handle(r); });
  ASSERT_TRUE(http.start());

  frugal::testing::TempDir dir("client-exec");
  const std::string counter = (dir.path() / "runs").string();
  const std::string plugin =
      dir.write_mode("plugin.sh",
                     "#!/bin/sh\n"
                     "echo run >> '" +
                         counter +
                         "'\n"
                         "cat <<'JSON'\n"
                         "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                         "\"kind\":\"ExecCredential\","
                         "\"status\":{\"token\":\"from-the-plugin\","
                         "\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}\n"
                         "JSON\n",
                     0755);
  const std::string kubeconfig = dir.write(
      "config",
      "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
      "clusters:\n- name: sim\n  cluster:\n    server: https://127.0.0.1:" +
          std::to_string(http.port()) +
          "\n    certificate-authority-data: " + base64(tls->ca_cert_pem) +
          "\nusers:\n- name: plugin-user\n  user:\n    exec:\n"
          "      apiVersion: client.authentication.k8s.io/v1\n      command: " +
          plugin +
          "\n      interactiveMode: Never\n"
          "contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: plugin-user\n");

  auto cfg = load_rest_config(LoadOptions{kubeconfig, ""});
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->exec.has_value());
  Client client(*cfg);
  for (int i = 0; i < 3; ++i) {
    auto r = client.get(kNamespaces, "", "default");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)["metadata"]["name"], "default");
  }
  // The credential is cached until its expiry: one run for three requests.
  std::ifstream runs(counter);
  std::string line;
  int n = 0;
  while (std::getline(runs, line)) ++n;
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace frugal::kube
