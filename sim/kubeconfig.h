// A kubeconfig that points kubectl (or any client-go program) at kubesim, and
// a safe way to put it on disk: it may carry a bearer token, so it is written
// 0600 and atomically, never half-written where kubectl could read it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "sim/api_error.h"

namespace kubesim {

struct KubeconfigParams {
  std::string server;                 // e.g. "https://127.0.0.1:6443"
  std::optional<std::string> ca_pem;  // written base64 as certificate-authority-data
  std::optional<std::string> token;   // bearer token for the user entry
  std::string cluster_name = "kubesim";
  std::string user_name = "kubesim";
  std::string context_name = "kubesim";
  std::string namespace_name = "default";
  bool insecure_skip_tls_verify = false;  // for https without a CA; ignored when ca_pem is set
};

// A single-cluster, single-user kubeconfig (apiVersion v1, kind Config) with
// its one context current. Every string is emitted double-quoted, so names and
// tokens need no escaping by the caller.
std::string make_kubeconfig(const KubeconfigParams& params);

// Writes `content` to `path` with mode 0600: a temporary file in the same
// directory is written, flushed to disk and renamed over `path`, so readers see
// the old file or the new one, never a mix. Errors are internal_error values
// naming the failed step and errno's text.
Result<void> write_kubeconfig_file(const std::filesystem::path& path, std::string_view content);

}  // namespace kubesim
