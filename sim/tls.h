// Certificates for serving kubesim over HTTPS: a throwaway CA and a server
// certificate signed by it, generated in memory at start-up so that kubectl
// can verify the server through the CA written into its kubeconfig.
#pragma once

#include <string>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

struct TlsMaterial {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;  // PKCS#8 PEM
};

// An EC P-256 CA (CA:TRUE, keyCertSign) and a server certificate signed by it,
// valid for one year, with EKU serverAuth and subjectAltNames IP:127.0.0.1,
// DNS:localhost plus the given ones (duplicates dropped). The CA's key is
// discarded. Failures, including a SAN that is not a valid IP address or DNS
// name, come back as internal_error carrying OpenSSL's reason.
Result<TlsMaterial> generate_tls_material(const std::vector<std::string>& ip_sans,
                                          const std::vector<std::string>& dns_sans);

}  // namespace kubesim
