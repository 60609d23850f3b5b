// Which resources kubesim serves right now: the built-ins registered at start
// and the versions of every established CRD. Thread-safe; lookups return
// copies so a CRD deleted mid-request cannot pull the description away.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "sim/resource.h"

namespace kubesim {

class Registry {
 public:
  Registry();  // registers the built-in resources

  std::optional<ResourceInfo> find(const std::string& group, const std::string& version,
                                   const std::string& resource) const;
  // Any served version of group/resource (the storage version first).
  std::optional<ResourceInfo> find_group_resource(const std::string& group_resource) const;
  // Lookup by kind, for ownerReferences and involvedObject.
  std::optional<ResourceInfo> find_kind(const std::string& api_version,
                                        const std::string& kind) const;
  std::vector<ResourceInfo> all() const;
  // Bumps on every change, so discovery and OpenAPI documents can be cached.
  uint64_t generation() const;

  // Replaces every version registered for the CRD `crd_name` with `versions`.
  void set_crd(const std::string& crd_name, std::vector<ResourceInfo> versions);
  void remove_crd(const std::string& crd_name);

 private:
  mutable std::shared_mutex mu_;
  std::vector<ResourceInfo> builtins_;
  std::map<std::string, std::vector<ResourceInfo>> crds_;  // by CRD name
  uint64_t generation_ = 1;
};

// The built-in resources kubesim serves (see README for the list).
std::vector<ResourceInfo> builtin_resources();

}  // namespace kubesim
