// What the REST client puts on each request to prove who it is: the
// Authorization header and the client certificate, kept fresh.
//
// Precedence follows client-go's transport: a token file (re-read so rotated
// service account tokens are picked up), else a static token, else basic
// auth; an exec credential plugin is used only when none of those nor a
// static client certificate is configured (client-go exec.go
// UpdateTransportConfig returns early in that case).
//
// Thread-safe: every method may be called from any thread. A plugin run
// happens under the lock, so concurrent callers wait for one run instead of
// starting their own.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "controller/kube/error.h"
#include "controller/kube/rest_config.h"

namespace frugal::kube {

// client-go transport.NewCachedFileTokenSource: a token read from a file is
// good for one minute, and cachingTokenSource refreshes it 10 s early, so the
// file is re-read once the cached token is 50 s old.
inline constexpr std::chrono::seconds kTokenFileRereadPeriod{60};
inline constexpr std::chrono::seconds kTokenFileLeeway{10};

// client-go waits for an exec plugin indefinitely; we bound the wait so that a
// hung plugin cannot stall every request of the controller forever.
inline constexpr std::chrono::milliseconds kExecPluginTimeout{std::chrono::minutes(2)};
// Bounds on what we keep of a plugin's stdout (the ExecCredential) and stderr.
inline constexpr size_t kExecPluginMaxStdout = 1 << 20;
inline constexpr size_t kExecPluginMaxStderr = 4096;

// Error::reason of credential failures (token file, exec plugin); http_status 0,
// transport false.
inline constexpr std::string_view kCredentialErrorReason = "CredentialUnavailable";
inline bool is_credential_error(const Error& e) { return e.reason == kCredentialErrorReason; }

struct ClientCertificate {
  std::string cert_pem;
  std::string key_pem;
  bool empty() const { return cert_pem.empty(); }
  bool operator==(const ClientCertificate&) const = default;
};

struct CredentialOptions {
  // Steady time ages the cached token file; wall time is compared with an
  // exec credential's expirationTimestamp. Not owned; must outlive the provider.
  const Clock* clock = &real_clock();
  std::chrono::milliseconds exec_timeout = kExecPluginTimeout;
};

class CredentialProvider {
 public:
  explicit CredentialProvider(RestConfig config, CredentialOptions options = {});
  CredentialProvider(const CredentialProvider&) = delete;
  CredentialProvider& operator=(const CredentialProvider&) = delete;

  // "Bearer <token>", "Basic <base64>", or "" when the config has no such
  // credential (anonymous, or client certificate only). May run the exec plugin.
  Result<std::string> authorization_header();

  // The client certificate for mTLS: the static one from the config, or the
  // one the exec plugin returned (which may be empty). May run the exec plugin.
  // The REST client compares it with the one its connections use, and
  // reconnects when it changed.
  Result<ClientCertificate> current_client_cert();

  // Called by the REST client after a 401: the next call re-reads the token
  // file or re-runs the exec plugin. When `rejected_authorization` is given and
  // differs from the current header, the credential has already been rotated
  // by another request and nothing is dropped (client-go maybeRefreshCreds).
  void invalidate(std::string_view rejected_authorization = {});

 private:
  struct ExecCredentials {
    std::string token;
    ClientCertificate cert;
    std::optional<std::chrono::system_clock::time_point> expiry;  // none: until invalidated
  };

  Result<std::string> token_file_header_locked();
  Result<void> refresh_exec_locked();
  std::string current_header_locked() const;

  const RestConfig config_;
  const CredentialOptions options_;
  const bool use_exec_;

  std::mutex mu_;
  std::string file_token_;                 // last token read from the file
  Clock::SteadyTime file_token_expiry_{};  // read time + period
  std::optional<ExecCredentials> exec_creds_;
};

}  // namespace frugal::kube
