#include "sim/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <span>

namespace kubesim {
namespace {

constexpr const char* kCurve = "P-256";
constexpr const char* kCaCommonName = "kubesim-ca";
constexpr const char* kServerCommonName = "kubesim";
constexpr long kValiditySeconds = 365L * 24 * 60 * 60;  // one year, as the brief asks
// Backdated so that a client whose clock is slightly behind still accepts the
// certificate (client-go's self-signed helper backdates by an hour too).
constexpr long kBackdateSeconds = 60L * 60;
constexpr int kSerialBits = 127;  // positive and below 2^127: Go rejects negative serials
constexpr size_t kMaxDnsNameLength = 253;

template <auto Free>
struct OpenSslDeleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using Ia5StringPtr = std::unique_ptr<ASN1_IA5STRING, OpenSslDeleter<ASN1_IA5STRING_free>>;
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { sk_GENERAL_NAME_pop_free(p, GENERAL_NAME_free); }
};
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

// Drains OpenSSL's thread-local error queue into the message, so that a
// failure here never leaks stale errors into the next TLS call on this thread.
ApiError openssl_error(const std::string& what) {
  std::string message = "generating TLS material: " + what;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    message += ": ";
    message += buf;
  }
  return internal_error(std::move(message));
}

Result<PkeyPtr> generate_key() {
  PkeyPtr key(EVP_EC_gen(kCurve));
  if (!key) return Unexpected(openssl_error("EC key generation"));
  return key;
}

// One extension in openssl.cnf syntax, e.g. {NID_basic_constraints, "critical,CA:TRUE"}.
struct ExtensionSpec {
  int nid;
  const char* value;
};

constexpr ExtensionSpec kCaExtensions[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
    {NID_subject_key_identifier, "hash"},
};
constexpr ExtensionSpec kServerExtensions[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
};

// `issuer` may be `cert` itself for the self-signed CA.
Result<void> add_extensions(X509* cert, X509* issuer, std::span<const ExtensionSpec> specs) {
  for (const auto& spec : specs) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, spec.nid, spec.value));
    if (!ext || !X509_add_ext(cert, ext.get(), -1)) {
      return Unexpected(
          openssl_error(std::string("extension ") + OBJ_nid2sn(spec.nid) + "=" + spec.value));
    }
  }
  return {};
}

bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxDnsNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '*';
  });
}

void append_unique(std::vector<std::string>& out, const std::vector<std::string>& in) {
  for (const auto& s : in) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
}

// Builds subjectAltName from typed entries rather than a "IP:..,DNS:.." string
// so that no SAN can smuggle in another through a comma.
Result<void> add_subject_alt_names(X509* cert, const std::vector<std::string>& ips,
                                   const std::vector<std::string>& dns_names) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return Unexpected(openssl_error("subjectAltName"));
  auto push = [&](GeneralNamePtr name) -> bool {
    if (!sk_GENERAL_NAME_push(names.get(), name.get())) return false;
    [[maybe_unused]] GENERAL_NAME* owned_by_stack = name.release();
    return true;
  };
  for (const auto& ip : ips) {
    OctetStringPtr octets(a2i_IPADDRESS(ip.c_str()));
    if (!octets) {
      ERR_clear_error();
      return Unexpected(internal_error("generating TLS material: invalid IP SAN \"" + ip + "\""));
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return Unexpected(openssl_error("subjectAltName"));
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
    if (!push(std::move(name))) return Unexpected(openssl_error("subjectAltName"));
  }
  for (const auto& dns : dns_names) {
    if (!valid_dns_name(dns)) {
      return Unexpected(internal_error("generating TLS material: invalid DNS SAN \"" + dns + "\""));
    }
    Ia5StringPtr text(ASN1_IA5STRING_new());
    if (!text || !ASN1_STRING_set(text.get(), dns.data(), static_cast<int>(dns.size()))) {
      return Unexpected(openssl_error("subjectAltName"));
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return Unexpected(openssl_error("subjectAltName"));
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, text.release());
    if (!push(std::move(name))) return Unexpected(openssl_error("subjectAltName"));
  }
  if (!X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT)) {
    return Unexpected(openssl_error("subjectAltName"));
  }
  return {};
}

template <class Write>
Result<std::string> to_pem(Write write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !write(bio.get())) return Unexpected(openssl_error("PEM encoding"));
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  if (size <= 0 || data == nullptr) return Unexpected(openssl_error("PEM encoding"));
  return std::string(data, static_cast<size_t>(size));
}

// What one certificate is: its subject, its key, who signs it and how.
struct CertificateSpec {
  const char* common_name;
  EVP_PKEY* key;
  X509* issuer;  // nullptr: self-signed
  EVP_PKEY* issuer_key;
  std::span<const ExtensionSpec> extensions;
  std::vector<std::string> ip_sans;
  std::vector<std::string> dns_sans;
};

Result<X509Ptr> issue(const CertificateSpec& spec) {
  X509Ptr cert(X509_new());
  if (!cert) return Unexpected(openssl_error("X509_new"));
  X509* issuer = spec.issuer ? spec.issuer : cert.get();
  BignumPtr serial(BN_new());
  if (!serial || !BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return Unexpected(openssl_error("serial number"));
  }
  if (!X509_set_version(cert.get(), X509_VERSION_3) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) ||
      !X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(spec.common_name), -1, -1,
                                  0) ||
      !X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) ||
      !X509_set_pubkey(cert.get(), spec.key)) {
    return Unexpected(openssl_error("certificate fields"));
  }
  if (auto r = add_extensions(cert.get(), issuer, spec.extensions); !r) {
    return Unexpected(std::move(r).error());
  }
  if (!spec.ip_sans.empty() || !spec.dns_sans.empty()) {
    if (auto r = add_subject_alt_names(cert.get(), spec.ip_sans, spec.dns_sans); !r) {
      return Unexpected(std::move(r).error());
    }
  }
  if (X509_sign(cert.get(), spec.issuer_key, EVP_sha256()) <= 0) {
    return Unexpected(openssl_error("signing"));
  }
  return cert;
}

}  // namespace

Result<TlsMaterial> generate_tls_material(const std::vector<std::string>& ip_sans,
                                          const std::vector<std::string>& dns_sans) {
  std::vector<std::string> ips{"127.0.0.1"};
  std::vector<std::string> dns_names{"localhost"};
  append_unique(ips, ip_sans);
  append_unique(dns_names, dns_sans);

  auto ca_key = generate_key();
  if (!ca_key) return Unexpected(std::move(ca_key).error());
  auto ca = issue({.common_name = kCaCommonName,
                   .key = ca_key->get(),
                   .issuer = nullptr,
                   .issuer_key = ca_key->get(),
                   .extensions = kCaExtensions});
  if (!ca) return Unexpected(std::move(ca).error());

  auto server_key = generate_key();
  if (!server_key) return Unexpected(std::move(server_key).error());
  auto server = issue({.common_name = kServerCommonName,
                       .key = server_key->get(),
                       .issuer = ca->get(),
                       .issuer_key = ca_key->get(),
                       .extensions = kServerExtensions,
                       .ip_sans = std::move(ips),
                       .dns_sans = std::move(dns_names)});
  if (!server) return Unexpected(std::move(server).error());

  auto ca_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, ca->get()) == 1; });
  if (!ca_pem) return Unexpected(std::move(ca_pem).error());
  auto cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, server->get()) == 1; });
  if (!cert_pem) return Unexpected(std::move(cert_pem).error());
  auto key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, server_key->get(), nullptr, nullptr, 0, nullptr, nullptr) ==
           1;
  });
  if (!key_pem) return Unexpected(std::move(key_pem).error());
  return TlsMaterial{.ca_cert_pem = std::move(*ca_pem),
                     .server_cert_pem = std::move(*cert_pem),
                     .server_key_pem = std::move(*key_pem)};
}

}  // namespace kubesim
