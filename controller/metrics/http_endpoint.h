// A small HTTP endpoint for Prometheus scrapes and kubelet probes: GET
// /metrics, /healthz, /readyz (and /livez). One io thread is plenty: scrapes
// come every few seconds, probes every ten. Boost.Beast, one session object
// per connection, a timeout on every read, a cap on request size.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/expected.h"

namespace frugal::metrics {

struct EndpointHandlers {
  // Body of /metrics (text exposition); empty function: 404.
  std::function<std::string()> metrics;
  // Health checks: empty string means healthy, otherwise the reason (503).
  std::function<std::string()> healthz;
  std::function<std::string()> readyz;
};

class HttpEndpoint {
 public:
  HttpEndpoint(std::string address, uint16_t port, EndpointHandlers handlers);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds and starts serving; port 0 picks a free port.
  frugal::Expected<void, std::string> start();
  uint16_t port() const { return port_; }
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
  uint16_t port_;
};

// "HOST:PORT" → parts; ":8080" means all interfaces; "0" disables (returns false).
bool parse_bind_address(const std::string& text, std::string& host, uint16_t& port);

}  // namespace frugal::metrics
