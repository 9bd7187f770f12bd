// A query: one TTNN op call described by its input tensors (shape, dtype, layout, memory config),
// its output placement and attributes. Parsed from either ttnn's TensorSpec JSON or opcast's
// short form (README "Query format").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <rapidjson/fwd.h>

#include "opcast/catalogue.hpp"
#include "opcast/errors.hpp"

namespace opcast {

enum class DType : std::uint8_t { bfloat16, bfloat8_b, bfloat4_b, float32, uint16, uint32, int32 };
enum class Layout : std::uint8_t { tile, row_major };
enum class BufferType : std::uint8_t { dram, l1 };
enum class MemoryLayout : std::uint8_t { interleaved, height_sharded, width_sharded, block_sharded };
enum class MathFidelity : std::uint8_t { LoFi, HiFi2, HiFi3, HiFi4 };

inline constexpr int kMaxRank = 8;
inline constexpr int kNumDTypes = 7;

// The words of the short form, in enum order: the one list of each that the parser, the canonical
// form and the Python vocabulary (opcast.vocabulary, through the bindings) read.
inline constexpr std::array<const char*, kNumDTypes> kDTypeNames = {"bfloat16", "bfloat8_b", "bfloat4_b", "float32",
                                                                    "uint16",   "uint32",    "int32"};
inline constexpr std::array<const char*, 2> kLayoutNames = {"TILE", "ROW_MAJOR"};
// Buffer type and memory layout together, as the short form names a placement. DRAM-sharded
// tensors (the weights of tt-mlir's DRAM-sharded decode matmuls) are sharded over DRAM banks.
inline constexpr std::array<const char*, 8> kMemoryNames = {
    "DRAM_INTERLEAVED",  "L1_INTERLEAVED",      "L1_HEIGHT_SHARDED",  "L1_WIDTH_SHARDED",
    "L1_BLOCK_SHARDED",  "DRAM_HEIGHT_SHARDED", "DRAM_WIDTH_SHARDED", "DRAM_BLOCK_SHARDED"};
inline constexpr std::array<const char*, 4> kMathFidelityNames = {"LoFi", "HiFi2", "HiFi3", "HiFi4"};

struct MemoryConfig {
  BufferType buffer = BufferType::dram;
  MemoryLayout layout = MemoryLayout::interleaved;
  int grid_x = 0;      // shard grid (bounding box of the cores, or of the DRAM banks), 0 when interleaved
  int grid_y = 0;
  int core_count = 0;  // cores (or DRAM banks) holding shards, 0 when interleaved
  // The shard shape [rows, width] where the query states one (a TensorSpec's shard_spec.shape), else 0:
  // the legality rules check it; the short form's shards are derived (legality.hpp, shard_geometry).
  std::int64_t shard_rows = 0, shard_width = 0;
  bool col_major = false;  // shard orientation: block shards walk the grid by columns
  bool sharded() const { return layout != MemoryLayout::interleaved; }
};

struct TensorDesc {
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;
  DType dtype = DType::bfloat16;
  Layout layout = Layout::tile;
  MemoryConfig memory;

  std::int64_t dim(int i) const { return dims[static_cast<std::size_t>(i < 0 ? rank + i : i)]; }
  std::int64_t volume() const;
  std::vector<std::int64_t> shape() const { return {dims.begin(), dims.begin() + rank}; }
};

struct Query {
  const OpInfo* op = nullptr;
  std::vector<TensorDesc> inputs;
  TensorDesc output;  // given by the query, or derived from the op and its inputs
  bool output_placed = false;  // the query states the output's placement (else it is input 0's)
  MathFidelity math_fidelity = MathFidelity::HiFi2;
  // The tt-metal build the answer is for: a commit prefix or a source, as a model folder's build table
  // names it; empty for the model's default build (the newest it knows).
  std::string build;
};

// The keys a query may have at its top level, and the attributes an op call may carry (the ones the
// parser reads, and the ones ttnn calls, traces and importers record that do not change the time
// opcast predicts). Anything else is refused with these lists: a misspelt key is never ignored.
// One entry per key: adding a key is one line.
inline constexpr const char* kQueryKeys[] = {
    "op",          // the op's name: "ttnn.matmul", tt-metal's "ttnn::matmul", or "matmul"
    "inputs",      // its input tensors, short form or TensorSpec
    "output",      // the output's placement (short form fields or a ttnn MemoryConfig / TensorSpec)
    "attributes",  // the op's arguments (kAttributeNames)
    "build",       // the tt-metal build the answer is for: a commit prefix or a source (default: the newest)
};
inline constexpr const char* kAttributeNames[] = {
    // read by the parser
    "math_fidelity", "dim", "dim0", "dim1", "shape", "layout",
    // recorded by traces, plans and importers; the prediction does not depend on them
    "program_config", "compute_kernel_config", "fused_activations", "activation", "transpose_a", "transpose_b",
    "scalar", "fast_and_approximate_mode", "min", "max", "epsilon", "keepdim", "dims", "starts", "ends", "steps",
};

// Whether the parser checks legality (legality.hpp) after reading a query. Sweeps and the oracle
// describe what ttnn itself accepts or refuses and read queries without it; everything that
// predicts checks.
enum class Legality : bool { unchecked, checked };

// Parses a query in either form; throws QueryError naming the field on any problem. JSON syntax
// is nlohmann's (RFC 8259; a repeated key's last value counts); malformed text is a QueryError on
// the field "" saying "malformed JSON". Thread-safe; a query of a few hundred bytes takes well
// under a microsecond and allocates nothing on the heap besides Query::inputs (and a build name
// longer than the small-string buffer).
Query parse_query(std::string_view json, Legality legality = Legality::checked);
// The same from an already-parsed JSON value.
Query parse_query_json(const nlohmann::json& json, Legality legality = Legality::checked);
// The same from a rapidjson value (the Python bindings build dicts into one); parse_query and
// parse_query_json end up here too.
Query parse_query_value(const rapidjson::Value& json, Legality legality = Legality::checked);

// tt-metal's and TORP's call shape, get_runtime_from_model(op_name, tensor_json..., output_memory_config):
// the op's name, its input tensors as ttnn serializes them (TensorSpec JSON, shapes padded with 0 to
// rank 4 as TORP sends them, a missing memory_config or memory_layout read as ttnn's default, DRAM
// interleaved) or in the short form, the output's MemoryConfig (null or {} when not given) and the
// op's attributes, as one query.
nlohmann::json torp_query(std::string_view op_name, const std::vector<nlohmann::json>& tensors,
                          const nlohmann::json& output_memory_config, const nlohmann::json& attributes);

// Names used by the short form; the parse functions throw QueryError(field, ...) on unknown names.
// They read any case, a scope prefix as ttnn prints enums ("DataType.BFLOAT16", "Layout::TILE"), and
// the block-float names without their suffix ("bfloat8").
const char* to_string(DType d);
const char* to_string(Layout l);
const char* to_string(MathFidelity f);
std::string memory_name(const MemoryConfig& m);  // e.g. "L1_HEIGHT_SHARDED"
DType parse_dtype(std::string_view name, const std::string& field);
Layout parse_layout(std::string_view name, const std::string& field);
MemoryConfig parse_memory(std::string_view name, const std::string& field);
MathFidelity parse_math_fidelity(std::string_view name, const std::string& field);

// Bytes one 32x32 tile of this dtype occupies in memory (bfloat8_b 1088 with its exponents).
double tile_bytes(DType d);
// Bytes per element in ROW_MAJOR layout.
double element_bytes(DType d);

// The query back in canonical short form (stable key order): the model's own view of the query.
std::string to_short_json(const Query& q);

}  // namespace opcast
