// YAML documents (Kubernetes manifests) as JSON, the way kubectl reads them:
// YAML 1.2 core-schema scalars (plain `true`, `42`, `1.5`, `null`, `~` are
// typed; quoted scalars stay strings), maps, sequences, and `---`-separated
// documents. Used by tests and tools that install crds/ without kubectl.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/expected.h"

namespace frugal {

// Every non-empty document in `text`; an error names the line and column.
Expected<std::vector<nlohmann::json>, std::string> yaml_documents_to_json(const std::string& text);
// The same for a file; errors name the file.
Expected<std::vector<nlohmann::json>, std::string> yaml_file_to_json(const std::string& path);

}  // namespace frugal
