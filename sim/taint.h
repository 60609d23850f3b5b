// A node taint (core/v1 Taint), shared by the cluster file and the scheduler.
#pragma once

#include <string>

namespace kubesim {

struct Taint {
  std::string key;
  std::string value;   // may be empty; the API omits it then
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
};

}  // namespace kubesim
