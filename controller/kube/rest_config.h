// How to reach and authenticate to an API server: what a kubeconfig context
// or the in-cluster service account resolves to. Built by config.h, used by
// the REST client; plain data, no I/O.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace frugal::kube {

// A client.authentication.k8s.io exec credential plugin (kubeconfig users[].user.exec).
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  bool provide_cluster_info = false;
  std::string install_hint;
};

struct RestConfig {
  std::string server;  // "https://host:port", no trailing slash
  std::string ca_pem;  // trusted CA bundle (certificate-authority or -data); empty: system roots
  bool insecure_skip_tls_verify = false;  // only when the kubeconfig says so explicitly
  std::string tls_server_name;
  std::string client_cert_pem;  // client-certificate(-data)
  std::string client_key_pem;    // client-key(-data)
  std::string bearer_token;        // static token
  std::string bearer_token_file;   // re-read so rotated tokens are picked up (in-cluster)
  std::optional<ExecConfig> exec;  // exec credential plugin
  std::string username, password;  // basic auth, rarely used
  std::string default_namespace = "default";
  std::string source;  // e.g. "/root/.kube/config context kubesim", for error messages

  // Client-side rate limit. client-go's defaults are 5 QPS / burst 10;
  // controller-runtime raises them to 20/30, which we follow.
  double qps = 20;
  int burst = 30;
  std::string user_agent = "frugal-controller";
};

}  // namespace frugal::kube
