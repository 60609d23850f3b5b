#include "sim/crd.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "sim/names.h"
#include "sim/schema.h"

namespace kubesim {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

FieldCause required(std::string field) {
  return FieldCause{"FieldValueRequired", "Required value", std::move(field)};
}

FieldCause bad_value(std::string field, const std::string& value, const std::string& why) {
  return FieldCause{"FieldValueInvalid", "Invalid value: \"" + value + "\": " + why,
                    std::move(field)};
}

const std::set<std::string> kColumnTypes = {"integer", "number", "string", "boolean", "date"};

}  // namespace

void default_crd(json& crd) {
  if (!crd.contains("spec") || !crd["spec"].is_object()) return;
  json& spec = crd["spec"];
  if (spec.contains("names") && spec["names"].is_object()) {
    json& names = spec["names"];
    const std::string kind = str(names, "kind");
    if (!names.contains("listKind") && !kind.empty()) names["listKind"] = kind + "List";
    if (!names.contains("singular") && !kind.empty()) names["singular"] = lower(kind);
  }
  if (!spec.contains("conversion")) spec["conversion"] = {{"strategy", "None"}};
}

std::vector<FieldCause> validate_crd(const json& crd) {
  std::vector<FieldCause> errs;
  const json& meta = crd.contains("metadata") ? crd["metadata"] : json::object();
  if (!crd.contains("spec") || !crd["spec"].is_object()) {
    errs.push_back(required("spec"));
    return errs;
  }
  const json& spec = crd["spec"];
  const std::string group = str(spec, "group");
  if (group.empty()) {
    errs.push_back(required("spec.group"));
  } else if (group.find('.') == std::string::npos) {
    errs.push_back(bad_value("spec.group", group, "should be a domain with at least one dot"));
  }
  const json names = spec.value("names", json::object());
  const std::string plural = str(names, "plural");
  const std::string kind = str(names, "kind");
  if (plural.empty()) {
    errs.push_back(required("spec.names.plural"));
  } else if (!is_dns1035_label(plural) && !is_dns1123_label(plural)) {
    errs.push_back(bad_value("spec.names.plural", plural,
                             "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                             "characters or '-', and must start and end with an alphanumeric "
                             "character"));
  }
  if (kind.empty()) errs.push_back(required("spec.names.kind"));
  const std::string name = str(meta, "name");
  if (!plural.empty() && !group.empty() && name != plural + "." + group) {
    errs.push_back(bad_value("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
  }
  const std::string scope = str(spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    errs.push_back(FieldCause{"FieldValueNotSupported",
                              "Unsupported value: \"" + scope +
                                  "\": supported values: \"Cluster\", \"Namespaced\"",
                              "spec.scope"});
  }

  const json versions = spec.value("versions", json::array());
  if (!versions.is_array() || versions.empty()) {
    errs.push_back(required("spec.versions"));
    return errs;
  }
  int storage = 0;
  std::set<std::string> seen;
  for (size_t i = 0; i < versions.size(); ++i) {
    const json& v = versions[i];
    const std::string at = "spec.versions[" + std::to_string(i) + "]";
    const std::string vname = str(v, "name");
    if (vname.empty()) {
      errs.push_back(required(at + ".name"));
    } else if (!seen.insert(vname).second) {
      errs.push_back(FieldCause{"FieldValueDuplicate", "Duplicate value: \"" + vname + "\"",
                                at + ".name"});
    } else if (!is_dns1035_label(vname)) {
      errs.push_back(bad_value(at + ".name", vname, "a DNS-1035 label must consist of lower case "
                                                    "alphanumeric characters or '-'"));
    }
    if (v.value("storage", false)) ++storage;
    const json* schema = nullptr;
    if (v.contains("schema") && v["schema"].is_object() && v["schema"].contains("openAPIV3Schema")) {
      schema = &v["schema"]["openAPIV3Schema"];
    }
    if (!schema) {
      errs.push_back(FieldCause{"FieldValueRequired", "Required value: schemas are required",
                                at + ".schema.openAPIV3Schema"});
    } else {
      auto schema_errs = check_structural_schema(*schema, at + ".schema.openAPIV3Schema");
      errs.insert(errs.end(), schema_errs.begin(), schema_errs.end());
    }
    const json cols = v.value("additionalPrinterColumns", json::array());
    for (size_t c = 0; c < cols.size(); ++c) {
      const std::string cat = at + ".additionalPrinterColumns[" + std::to_string(c) + "]";
      if (str(cols[c], "name").empty()) errs.push_back(required(cat + ".name"));
      if (str(cols[c], "jsonPath").empty()) errs.push_back(required(cat + ".jsonPath"));
      const std::string type = str(cols[c], "type");
      if (!kColumnTypes.count(type)) {
        errs.push_back(FieldCause{"FieldValueNotSupported",
                                  "Unsupported value: \"" + type +
                                      "\": supported values: \"boolean\", \"date\", \"integer\", "
                                      "\"number\", \"string\"",
                                  cat + ".type"});
      }
    }
  }
  if (storage != 1) {
    errs.push_back(FieldCause{"FieldValueInvalid",
                              "Invalid value: " + std::to_string(storage) +
                                  ": must have exactly one version marked as storage version",
                              "spec.versions"});
  }
  return errs;
}

std::vector<ResourceInfo> crd_resources(const json& crd) {
  std::vector<ResourceInfo> out;
  const json& spec = crd["spec"];
  const json& names = spec["names"];
  for (const auto& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    ResourceInfo r;
    r.group = spec.value("group", "");
    r.version = v.value("name", "");
    r.resource = names.value("plural", "");
    r.kind = names.value("kind", "");
    r.list_kind = names.value("listKind", r.kind + "List");
    r.singular = names.value("singular", lower(r.kind));
    r.short_names = names.value("shortNames", std::vector<std::string>{});
    r.categories = names.value("categories", std::vector<std::string>{});
    r.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
    r.custom = true;
    r.storage_version = v.value("storage", false);
    if (v.contains("schema")) r.schema = v["schema"].value("openAPIV3Schema", json::object());
    const json sub = v.value("subresources", json::object());
    r.has_status = sub.contains("status");
    if (sub.contains("scale")) {
      const json& s = sub["scale"];
      r.scale = ScaleSubresource{s.value("specReplicasPath", ".spec.replicas"),
                                 s.value("statusReplicasPath", ".status.replicas"),
                                 s.value("labelSelectorPath", "")};
    }
    for (const auto& c : v.value("additionalPrinterColumns", json::array())) {
      r.printer_columns.push_back(PrinterColumn{c.value("name", ""), c.value("type", "string"),
                                                c.value("format", ""), c.value("description", ""),
                                                c.value("jsonPath", ""), c.value("priority", 0)});
    }
    // selectableFields (1.31+): field selectors the CRD allows on its objects.
    for (const auto& f : v.value("selectableFields", json::array())) {
      std::string path = f.value("jsonPath", "");
      if (!path.empty() && path[0] == '.') path.erase(0, 1);
      if (!path.empty()) r.selectable_fields.push_back(path);
    }
    out.push_back(std::move(r));
  }
  return out;
}

json established_crd_status(const json& crd, const json& previous_status, const std::string& now) {
  json status = previous_status.is_object() ? previous_status : json::object();
  const json& spec = crd["spec"];
  status["acceptedNames"] = spec["names"];
  std::vector<std::string> stored =
      status.value("storedVersions", std::vector<std::string>{});
  for (const auto& v : spec["versions"]) {
    if (v.value("storage", false)) {
      const std::string name = v.value("name", "");
      if (std::find(stored.begin(), stored.end(), name) == stored.end()) stored.push_back(name);
    }
  }
  status["storedVersions"] = stored;
  auto condition = [&](const std::string& type, const std::string& reason,
                       const std::string& message) {
    // Keep lastTransitionTime when the condition is already true.
    for (const auto& c : status.value("conditions", json::array())) {
      if (c.value("type", "") == type && c.value("status", "") == "True") return c;
    }
    return json{{"type", type},
                {"status", "True"},
                {"reason", reason},
                {"message", message},
                {"lastTransitionTime", now}};
  };
  status["conditions"] = json::array(
      {condition("NamesAccepted", "NoConflicts", "no conflicts found"),
       condition("Established", "InitialNamesAccepted", "the initial names have been accepted")});
  return status;
}

}  // namespace kubesim
