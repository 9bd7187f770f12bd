// The legality rules: each one a check of one tensor, its message naming the rule and its numbers.
#include "opcast/legality.hpp"

#include <algorithm>

namespace opcast {
namespace {

constexpr std::int64_t kTile = 32;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::int64_t round_up(std::int64_t a, std::int64_t b) { return ceil_div(a, b) * b; }
std::string num(std::int64_t v) { return std::to_string(v); }
std::string shape2(std::int64_t a, std::int64_t b) { return "[" + num(a) + ", " + num(b) + "]"; }

// Bytes of `rows` x `width` elements in the tensor's layout (whole tiles in TILE layout), counted in
// double and held below 2^62: a stated shard shape may be as large as [2^31, 2^31].
std::int64_t bytes_of(const TensorDesc& t, std::int64_t rows, std::int64_t width) {
  const double bytes = t.layout == Layout::tile
                           ? static_cast<double>(ceil_div(rows, kTile)) * static_cast<double>(ceil_div(width, kTile)) *
                                 tile_bytes(t.dtype)
                           : static_cast<double>(rows) * static_cast<double>(width) * element_bytes(t.dtype);
  return static_cast<std::int64_t>(std::min(bytes, 0x1p62));
}

// The shards the tensor is cut into along rows and along the width, as the grid lays them out.
struct Cut {
  std::int64_t along_rows, along_width;
};
Cut cut(const MemoryConfig& m) {
  switch (m.layout) {
    case MemoryLayout::height_sharded: return {m.core_count, 1};
    case MemoryLayout::width_sharded: return {1, m.core_count};
    case MemoryLayout::block_sharded:
      return m.col_major ? Cut{m.grid_x, m.grid_y} : Cut{m.grid_y, m.grid_x};
    case MemoryLayout::interleaved: break;
  }
  return {1, 1};
}

const char* buffer_name(BufferType b) { return b == BufferType::l1 ? "L1" : "DRAM"; }

}  // namespace

ShardGeometry shard_geometry(const TensorDesc& t) {
  ShardGeometry g;
  g.unit = t.layout == Layout::tile ? kTile : 1;
  std::int64_t outer = 1;
  for (int i = 0; i + 2 < t.rank; ++i) outer *= t.dim(i);
  const std::int64_t height = t.rank >= 2 ? t.dim(-2) : 1;
  g.rows = outer * round_up(height, g.unit);  // the parser bounds every tensor at 2^48 elements
  g.width = round_up(t.dim(-1), g.unit);
  g.bytes = bytes_of(t, g.rows, g.width);
  if (!t.memory.sharded()) return g;
  if (t.memory.shard_rows > 0) {
    g.shard_rows = t.memory.shard_rows;
    g.shard_width = t.memory.shard_width;
  } else {  // the short form's shards: the rows (or width) dealt out to the cores in whole units
    const Cut c = cut(t.memory);
    g.shard_rows = ceil_div(g.rows / g.unit, c.along_rows) * g.unit;
    g.shard_width = ceil_div(g.width / g.unit, c.along_width) * g.unit;
  }
  g.shard_bytes = bytes_of(t, g.shard_rows, g.shard_width);
  return g;
}

namespace {

[[noreturn]] void refuse(const std::string& field, const std::string& message) { throw QueryError(field, message); }

void check_tensor(const TensorDesc& t, const std::string& field, bool placement_stated, const DeviceMemory& dev) {
  if ((t.dtype == DType::bfloat8_b || t.dtype == DType::bfloat4_b) && t.layout == Layout::row_major)
    refuse(field, std::string(to_string(t.dtype)) + " in ROW_MAJOR layout: block-float dtypes share exponents per "
                  "tile face and exist in TILE layout only; expected layout TILE");
  const ShardGeometry g = shard_geometry(t);
  if (g.bytes > dev.dram_bytes())
    refuse(field, "tensor of " + num(g.bytes) + " bytes is larger than the Wormhole n150's DRAM (" +
                      num(dev.dram_banks) + " banks of " + num(dev.dram_bank_bytes) + " = " + num(dev.dram_bytes()) +
                      " bytes); expected a tensor the device can hold");
  const MemoryConfig& m = t.memory;
  if (!m.sharded()) {
    if (m.buffer != BufferType::l1) return;
    // Interleaved pages (tiles, or rows in ROW_MAJOR) go round robin over the banks.
    const std::int64_t pages = g.rows / g.unit * (t.layout == Layout::tile ? g.width / g.unit : 1);
    const std::int64_t page_bytes = t.layout == Layout::tile ? bytes_of(t, kTile, kTile) : bytes_of(t, 1, g.width);
    const std::int64_t busiest = ceil_div(pages, dev.l1_banks) * page_bytes;
    if (busiest > dev.l1_bank_bytes)
      refuse(field, "L1_INTERLEAVED tensor of " + num(g.bytes) + " bytes puts " + num(busiest) +
                        " bytes in the busiest of the " + num(dev.l1_banks) + " L1 banks, more than a bank's " +
                        num(dev.l1_bank_bytes) + " (all of L1: " + num(dev.l1_bytes()) +
                        " bytes); expected DRAM_INTERLEAVED for a tensor this large");
    return;
  }
  // Capacity binds every tensor, placed by the query or derived from input 0 (as the L1-interleaved
  // rule above does): a derived placement refused only once written out would make the canonical
  // form of an accepted query a refused one (found by the fuzzer).
  const bool l1 = m.buffer == BufferType::l1;
  const std::int64_t bank = l1 ? dev.l1_bank_bytes : dev.dram_bank_bytes;
  if (g.shard_bytes > bank)
    refuse(field, "one shard " + shape2(g.shard_rows, g.shard_width) + " of " + num(g.shard_bytes) + " bytes (" +
                      to_string(t.dtype) + ", " + to_string(t.layout) + ") is larger than " +
                      (l1 ? "a core's L1 bank" : "a DRAM bank") + " of " + num(bank) + " bytes; expected more " +
                      (l1 ? "cores" : "banks") + " or " + (l1 ? "DRAM" : "interleaving") + " for " + buffer_name(m.buffer) +
                      " shards this large");
  // How a shard is written is checked where the query writes it.
  if (!placement_stated) return;
  const std::string where = memory_name(m);
  if (m.layout == MemoryLayout::block_sharded && m.core_count != m.grid_x * m.grid_y)
    refuse(field, where + " with core_count " + num(m.core_count) + " on the grid " + num(m.grid_x) + "x" +
                      num(m.grid_y) + ": block shards fill their grid, so core_count must be its area " +
                      num(m.grid_x * m.grid_y) + "; expected \"grid\": [x, y] with x * y cores");
  if (g.shard_rows % g.unit != 0 || g.shard_width % g.unit != 0)
    refuse(field, "shard shape " + shape2(g.shard_rows, g.shard_width) +
                      " is not whole 32x32 tiles; expected multiples of 32 in TILE layout");
  const Cut c = cut(m);
  // More cores than tile rows (columns) to shard over is no rule: ttnn refuses it only where
  // ttnn.create_sharded_memory_config derives the shards ("Physical shard shape (8, 64) must be tile
  // {32, 32} sized"), and runs explicit whole-tile shards that leave cores empty (a [64, 64] tensor
  // in [32, 64] shards on 8 cores, mock 0.81.1); real profiles hold such placements (SegFormer's
  // [4096, 64] block-sharded on an 8-wide grid, tt-mlir's [32, 1024] width-sharded over 64 cores).
  if (m.shard_rows > 0) {
    const std::int64_t need_rows = ceil_div(g.rows, g.shard_rows), need_cols = ceil_div(g.width, g.shard_width);
    if (need_rows > c.along_rows || need_cols > c.along_width)
      refuse(field, "shard shape " + shape2(g.shard_rows, g.shard_width) + " cuts the tensor " +
                        shape2(g.rows, g.width) + " into " + num(need_rows) + " x " + num(need_cols) +
                        " shards, more than the " + num(c.along_rows) + " x " + num(c.along_width) +
                        " the cores hold; expected shards that cover the tensor on its " + num(m.core_count) + " cores");
  }
}

}  // namespace

void check_legality(const Query& q, const DeviceMemory& memory) {
  for (std::size_t i = 0; i < q.inputs.size(); ++i)
    check_tensor(q.inputs[i], "inputs[" + std::to_string(i) + "]", true, memory);
  check_tensor(q.output, "output", q.output_placed, memory);
}

}  // namespace opcast
