#include "opcast/catalogue.hpp"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "opcast/errors.hpp"

namespace opcast {

// Defined in the generated catalogue_data.cpp (CMake embeds catalogue/ops.json).
extern const char* const kCatalogueJson;

namespace {

constexpr const char* kOverride = "OPCAST_CATALOGUE";

OpKind parse_kind(const std::string& s, const std::string& where) {
  if (const auto kind = kind_named(s)) return *kind;
  throw ModelError(where + ": unknown op kind \"" + s + "\"");
}

struct Catalogue {
  std::string text;
  std::string where;
  nlohmann::json root;
  std::vector<OpInfo> ops;
};

// The embedded catalogue, or the file $OPCAST_CATALOGUE names (experiments, and tests that add an
// op to a copy): Python's opcast.catalogue reads the same variable, so both sides see one file.
Catalogue load() {
  Catalogue c;
  if (const char* path = std::getenv(kOverride); path && *path) {
    c.where = std::string(kOverride) + "=" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ModelError(c.where + ": cannot read the file");
    std::ostringstream ss;
    ss << in.rdbuf();
    c.text = ss.str();
  } else {
    c.where = "the embedded catalogue";
    c.text = kCatalogueJson;
  }
  try {
    c.root = nlohmann::json::parse(c.text);
    const nlohmann::json& defaults = c.root.at("kind_defaults");
    for (const auto& e : c.root.at("ops")) {
      OpInfo info;
      info.name = e.at("name").get<std::string>();
      const std::string kind = e.at("kind").get<std::string>();
      info.kind = parse_kind(kind, c.where);
      info.max_inputs = e.at("inputs").get<int>();
      info.min_inputs = info.max_inputs - e.value("optional_inputs", 0);
      info.cycles_per_tile = e.contains("cycles_per_tile") ? e["cycles_per_tile"].get<double>()
                                                           : defaults.at(kind).at("cycles_per_tile").get<double>();
      info.aliases = e.value("aliases", std::vector<std::string>{});
      if (e.contains("attributes")) info.default_math_fidelity = e["attributes"].value("math_fidelity", "");
      c.ops.push_back(std::move(info));
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(c.where + ": not an op catalogue: " + e.what());
  }
  return c;
}

const Catalogue& the_catalogue() {
  static const Catalogue c = load();
  return c;
}

}  // namespace

const std::vector<OpInfo>& catalogue() { return the_catalogue().ops; }

const OpInfo* find_op(std::string_view name) {
  constexpr std::string_view prefix = "ttnn.", scoped = "ttnn::";
  if (name.substr(0, scoped.size()) == scoped) name.remove_prefix(scoped.size());
  const bool bare = name.substr(0, prefix.size()) != prefix;
  auto matches = [&](std::string_view n) { return (bare ? n.substr(prefix.size()) : n) == name; };
  for (const auto& op : catalogue()) {
    if (matches(op.name)) return &op;
    for (const auto& alias : op.aliases)
      if (matches(alias)) return &op;
  }
  return nullptr;
}

std::string_view catalogue_json() { return the_catalogue().text; }

nlohmann::json served_entry(const OpInfo& op) {
  for (const auto& e : the_catalogue().root.at("ops")) {
    if (e.at("name") != op.name) continue;
    nlohmann::json out = nlohmann::json::object();
    for (const char* key : {"name", "kind", "inputs", "optional_inputs", "cycles_per_tile", "attributes"})
      if (e.contains(key)) out[key] = e[key];
    if (!out.contains("cycles_per_tile"))  // the kind's default, as written there
      out["cycles_per_tile"] = the_catalogue().root.at("kind_defaults").at(e.at("kind").get<std::string>()).at("cycles_per_tile");
    return out;
  }
  throw ModelError("op " + op.name + " is not in " + the_catalogue().where);
}

std::optional<OpKind> kind_named(std::string_view name) {
  for (const OpKind kind : {OpKind::eltwise_unary, OpKind::eltwise_binary, OpKind::matmul, OpKind::normalization,
                            OpKind::reduction, OpKind::data_movement, OpKind::memory_move})
    if (name == to_string(kind)) return kind;
  return std::nullopt;
}

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::eltwise_unary: return "eltwise_unary";
    case OpKind::eltwise_binary: return "eltwise_binary";
    case OpKind::matmul: return "matmul";
    case OpKind::normalization: return "normalization";
    case OpKind::reduction: return "reduction";
    case OpKind::data_movement: return "data_movement";
    case OpKind::memory_move: return "memory_move";
  }
  return "?";
}

}  // namespace opcast
