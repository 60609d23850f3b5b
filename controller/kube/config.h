// Where the controller finds its API server and credentials: resolves the
// --kubeconfig flag, $KUBECONFIG, the in-cluster service account and
// ~/.kube/config into one RestConfig, in controller-runtime's order
// (sigs.k8s.io/controller-runtime pkg/client/config/config.go, loadConfig):
//   1. --kubeconfig (one file; missing is an error);
//   2. $KUBECONFIG, a colon-separated list merged by client-go's rules
//      (clientcmd ClientConfigLoadingRules.Load): missing files are skipped,
//      the first file to define a cluster/user/context name wins, and
//      current-context comes from the first file that sets it;
//   3. in-cluster (rest.InClusterConfig) when KUBERNETES_SERVICE_HOST and
//      KUBERNETES_SERVICE_PORT are both set and $KUBECONFIG is not; if that
//      fails, controller-runtime still tries the home file, and so do we;
//   4. $HOME/.kube/config (the passwd entry's home when $HOME is unset).
// --context selects a context in cases 1, 2 and 4; controller-runtime ignores
// it in-cluster, and so do we.
//
// Every failure is one frugal::kube::Error (http_status 0, transport false,
// reason kConfigErrorReason) whose message names the file and the field, e.g.
//   kubeconfig /home/a/.kube/config: users[0] "alice": client-key-data:
//   illegal base64 data at input byte 12
// Malformed YAML or base64 anywhere in a file fails the whole file (client-go
// decodes the whole file); the semantic checks (files readable, certificates
// parse, no insecure flag with a CA...) apply to the selected context only.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "controller/kube/error.h"
#include "controller/kube/rest_config.h"

namespace frugal::kube {

// Where Kubernetes mounts the pod's service account (client-go rest.InClusterConfig).
inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// Error::reason of every error produced while loading configuration.
inline constexpr std::string_view kConfigErrorReason = "InvalidConfiguration";
inline bool is_config_error(const Error& e) { return e.reason == kConfigErrorReason; }

struct LoadOptions {
  std::string kubeconfig_path;  // --kubeconfig
  std::string context;          // --context
};

// The process environment as the loader sees it; tests substitute all of it.
struct Env {
  // getenv(3); nullopt when unset.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  // The user's home directory from the passwd database; consulted only when
  // $HOME is unset (controller-runtime falls back to os/user the same way).
  std::function<std::optional<std::string>()> user_home_dir;
  // Holds token, ca.crt and namespace when running in a pod.
  std::filesystem::path service_account_dir{kServiceAccountDir};

  static Env from_process();
};

using ConfigResult = Result<RestConfig>;

ConfigResult load_rest_config(const LoadOptions& options, const Env& env = Env::from_process());

// Only the in-cluster service account (step 3 above), for callers that insist on it.
ConfigResult load_in_cluster_config(const Env& env = Env::from_process());

// Checks that a client certificate and key, both PEM, parse and belong
// together (as Go's tls.X509KeyPair does). Returns "" when they do, otherwise
// what is wrong, prefixed by the offending half: "certificate: ..." or "key: ...".
// Shared with credentials.cpp, which applies it to exec plugin output.
std::string check_client_key_pair(std::string_view cert_pem, std::string_view key_pem);

}  // namespace frugal::kube
