// The op catalogue (catalogue/ops.json, embedded at build time; $OPCAST_CATALOGUE names another file
// to read instead): the one list of TTNN ops that every stage reads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace opcast {

enum class OpKind { eltwise_unary, eltwise_binary, matmul, normalization, reduction, data_movement, memory_move };

struct OpInfo {
  std::string name;        // ttnn name, e.g. "ttnn.matmul"
  OpKind kind;
  int max_inputs;          // tensor inputs the op takes
  int min_inputs;          // max_inputs minus optional ones
  double cycles_per_tile;  // roofline compute cost per output tile: the entry's, else its kind's default
  std::vector<std::string> aliases;  // other ttnn names of the op ("ttnn.sub" for "ttnn.subtract")
  std::string default_math_fidelity;  // matmul only; empty otherwise
};

// All ops, in catalogue order. Throws ModelError when $OPCAST_CATALOGUE names a file that is not a
// catalogue.
const std::vector<OpInfo>& catalogue();
// The op of that name or alias, or nullptr: "ttnn.exp", tt-metal's "ttnn::exp", or a bare "exp".
const OpInfo* find_op(std::string_view name);
// The catalogue JSON text in use (Python reads it through the bindings).
std::string_view catalogue_json();
// The fields of an op's entry that its model depends on (what the parser, the features and the
// roofline read, its kind's defaults filled in): a model folder records them, and is refused when
// they change. Profiler op codes, aliases and other ops' entries are not among them: adding an op or
// an alias leaves every model valid.
nlohmann::json served_entry(const OpInfo& op);
const char* to_string(OpKind kind);
// The kind of that name ("eltwise_unary", ...), or nothing.
std::optional<OpKind> kind_named(std::string_view name);

}  // namespace opcast
