// Work, roofline and features per op kind. The roofline is deliberately simple (bandwidths and
// per-tile costs); the learned model corrects it rather than replaces it.
#include "opcast/features.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>

namespace opcast {
namespace {

constexpr double kTile = 32.0;

double ceil_div(double a, double b) { return std::ceil(a / b); }
double lg(double x) { return std::log2(1.0 + std::max(0.0, x)); }

// Rows of tiles including every leading (batch) dim, and tiles across the last dim.
double height_tiles(const TensorDesc& t) {
  double batch = 1;
  for (int i = 0; i + 2 < t.rank; ++i) batch *= static_cast<double>(t.dims[static_cast<std::size_t>(i)]);
  const double h = t.rank >= 2 ? static_cast<double>(t.dim(-2)) : 1.0;
  return batch * ceil_div(h, kTile);
}
double width_tiles(const TensorDesc& t) { return ceil_div(static_cast<double>(t.dim(-1)), kTile); }

// TILE layout pads the last two dims to 32; ROW_MAJOR stores the logical elements.
double tiles(const TensorDesc& t) {
  return t.layout == Layout::tile ? height_tiles(t) * width_tiles(t) : static_cast<double>(t.volume()) / 1024.0;
}
double bytes(const TensorDesc& t) {
  return t.layout == Layout::tile ? tiles(t) * tile_bytes(t.dtype) : static_cast<double>(t.volume()) * element_bytes(t.dtype);
}

void account(const TensorDesc& t, Work& w) {
  const double b = bytes(t);
  if (t.memory.buffer == BufferType::dram) w.bytes_dram += b;
  else if (t.memory.sharded()) w.bytes_local += b;
  else w.bytes_noc += b;
}

// 32-bit tiles take the destination register at full width: half as many tiles per pass and
// slower unpack / pack. Measured on exp at large sizes: 39.7-46.6 ns per tile for float32 / uint32
// against 32.8 for bfloat16 on 64 cores.
double dest_factor(DType d) {
  return d == DType::float32 || d == DType::uint32 || d == DType::int32 ? 1.25 : 1.0;
}

// Cycles of one 32x32x32 tile multiply-accumulate on a Tensix FPU: each fidelity phase is a pass.
double matmul_tile_cycles(MathFidelity f) {
  switch (f) {
    case MathFidelity::LoFi: return 16;
    case MathFidelity::HiFi2: return 32;
    case MathFidelity::HiFi3: return 48;
    case MathFidelity::HiFi4: return 64;
  }
  return 32;
}

// The sharded tensor whose shard spec fixes an op's work split, in the order ttnn's eltwise program
// factories look: in0, else another input, else the output. A matmul's in1 holds the weights and
// never sets the split (its programs take the grid from in0 or the output).
const TensorDesc* first_sharded(const Query& q) {
  const std::size_t splitting_inputs = q.op->kind == OpKind::matmul ? 1 : q.inputs.size();
  for (std::size_t i = 0; i < splitting_inputs; ++i)
    if (q.inputs[i].memory.sharded()) return &q.inputs[i];
  if (q.output.memory.sharded()) return &q.output;
  return nullptr;
}

// Sharded tensors fix the cores an op runs on, whichever tensor is sharded: a sharded in1 keeps
// binary add on its shard grid (DRAM + 16-core block-sharded in1 -> DRAM takes 68 us for 1024
// tiles, like reading 64 tiles and writing 64 per core, not 16 on each of 64 cores).
// Otherwise ops spread work units over the grid.
double cores_for(const Query& q, double work_units, const WormholeSpec& spec) {
  if (const TensorDesc* s = first_sharded(q)) return s->memory.core_count;
  return std::clamp(work_units, 1.0, static_cast<double>(spec.cores()));
}

// Per-core shard of a sharded tensor in elements (rows = every dim but the last folded in), as ttnn
// lays shards out row-major over the shard grid.
struct Shard {
  double rows = 0, cols = 0;
};
Shard shard_of(const TensorDesc& t) {
  const double cols = static_cast<double>(t.dim(-1));
  const double rows = static_cast<double>(t.volume()) / cols;
  const MemoryConfig& m = t.memory;
  switch (m.layout) {
    case MemoryLayout::height_sharded: return {ceil_div(rows, m.core_count), cols};
    case MemoryLayout::width_sharded: return {rows, ceil_div(cols, m.core_count)};
    case MemoryLayout::block_sharded: return {ceil_div(rows, m.grid_y), ceil_div(cols, m.grid_x)};
    case MemoryLayout::interleaved: break;
  }
  return {rows, cols};
}

// The output subblock a matmul program picks: the largest h x w <= 8 tiles (the destination
// register) with h dividing the per-core rows and w the per-core columns. Small subblocks waste
// the FPU; this is why some core counts run slower than fewer cores.
double subblock_area(double per_core_m, double per_core_n) {
  double best = 1;
  for (int h = 1; h <= 8; ++h)
    for (int w = 1; h * w <= 8; ++w)
      if (std::fmod(per_core_m, h) == 0 && std::fmod(per_core_n, w) == 0) best = std::max(best, double(h * w));
  return best;
}

// How many cores the busiest L1 bank serves at once when every core starts on its share of an
// L1-interleaved tensor (0 when no such tensor is read or written tile by tile). Tile t of an
// interleaved tensor lives in bank t mod banks, and an eltwise core walks its share in the same
// order as every other core, so cores whose shares start in one bank keep meeting there. Binary add
// of two L1-interleaved 2048x2048 inputs into 64 width shards (each share starts in its own bank)
// takes 57 us, into 64 height shards (every share starts in bank 0) 82 us, block shards (8 banks) 66.
double l1_bank_conflict(const Query& q, const Work& w, const WormholeSpec& spec) {
  const OpKind kind = q.op->kind;
  if (kind != OpKind::eltwise_unary && kind != OpKind::eltwise_binary && kind != OpKind::data_movement &&
      kind != OpKind::memory_move)
    return 0;
  bool reads_l1_interleaved = false;
  auto walked = [&](const TensorDesc& t) {
    return t.memory.buffer == BufferType::l1 && !t.memory.sharded() && t.layout == Layout::tile &&
           tiles(t) == w.tiles_out;
  };
  for (const auto& t : q.inputs) reads_l1_interleaved = reads_l1_interleaved || walked(t);
  if (!reads_l1_interleaved && !walked(q.output)) return 0;

  constexpr int kMaxBanks = 256;
  const auto banks = static_cast<std::int64_t>(std::clamp(spec.l1_banks, 1, kMaxBanks));
  std::array<int, kMaxBanks> cores_at{};
  int busiest = 0;
  // Unsigned modulo: an index below kMaxBanks whatever the tile, so the table is never overrun (tile
  // counts are bounded by the parser's element limit, so tiles are never negative either).
  auto starts_at = [&](std::int64_t tile) {
    const auto bank = static_cast<std::size_t>(static_cast<std::uint64_t>(tile) % static_cast<std::uint64_t>(banks));
    busiest = std::max(busiest, ++cores_at[bank]);
  };

  if (const TensorDesc* s = first_sharded(q)) {
    // Shards are row-major over the shard grid; a core's share starts at its shard's first tile.
    const auto ht = static_cast<std::int64_t>(height_tiles(*s)), wt = static_cast<std::int64_t>(width_tiles(*s));
    const Shard sh = shard_of(*s);
    const auto rows = static_cast<std::int64_t>(ceil_div(sh.rows, kTile));
    const auto cols = static_cast<std::int64_t>(ceil_div(sh.cols, kTile));
    const MemoryConfig& m = s->memory;
    if (m.layout == MemoryLayout::block_sharded) {
      for (std::int64_t r = 0; r < m.grid_y && r * rows < ht; ++r)
        for (std::int64_t c = 0; c < m.grid_x && c * cols < wt; ++c) starts_at(r * rows * wt + c * cols);
    } else {
      const bool height = m.layout == MemoryLayout::height_sharded;
      for (std::int64_t k = 0; k < m.core_count && k * (height ? rows : cols) < (height ? ht : wt); ++k)
        starts_at(height ? k * rows * wt : k * cols);
    }
  } else {
    // ttnn's split_work_to_cores: the first (tiles mod cores) cores take one tile more.
    const auto units = static_cast<std::int64_t>(w.tiles_out);
    const auto cores = static_cast<std::int64_t>(std::max(1.0, w.cores));
    const std::int64_t each = units / cores, more = units % cores;
    std::int64_t start = 0;
    for (std::int64_t i = 0; i < cores && start < units; ++i) {
      starts_at(start);
      start += each + (i < more ? 1 : 0);
    }
  }
  return busiest;
}

}  // namespace

Work work(const Query& q, const WormholeSpec& spec) {
  Work w;
  for (std::size_t i = 0; i < q.inputs.size() && i < 3; ++i) w.tiles_in[i] = tiles(q.inputs[i]);
  for (const auto& t : q.inputs) {
    w.bytes_in += bytes(t);
    account(t, w);
  }
  w.tiles_out = tiles(q.output);
  w.bytes_out = bytes(q.output);
  account(q.output, w);

  const TensorDesc& a = q.inputs[0];
  const double cpt = q.op->cycles_per_tile;
  switch (q.op->kind) {
    case OpKind::eltwise_unary:
    case OpKind::eltwise_binary:
    case OpKind::data_movement:
    case OpKind::memory_move: {
      w.cores = cores_for(q, w.tiles_out, spec);
      w.tiles_per_core = ceil_div(w.tiles_out, w.cores);
      w.math_cycles = w.tiles_per_core * cpt * dest_factor(a.dtype);
      const bool moves_only = q.op->kind == OpKind::data_movement || q.op->kind == OpKind::memory_move;
      w.flops = moves_only ? 0.0 : static_cast<double>(q.output.volume());
      break;
    }
    case OpKind::matmul: {
      const TensorDesc& b = q.inputs[1];
      const double mt = height_tiles(a), kt = width_tiles(a), nt = width_tiles(b);
      w.cores = cores_for(q, mt * nt, spec);
      // A height-sharded in0 gives each core whole rows of the output; otherwise tiles spread evenly.
      w.tiles_per_core = a.memory.layout == MemoryLayout::height_sharded
                             ? ceil_div(shard_of(a).rows, kTile) * nt
                             : ceil_div(mt * nt, w.cores);
      w.math_cycles = w.tiles_per_core * kt * matmul_tile_cycles(q.math_fidelity);
      w.flops = 2.0 * static_cast<double>(a.volume()) * static_cast<double>(b.dim(-1));
      break;
    }
    case OpKind::normalization:
    case OpKind::reduction: {
      const double rows = height_tiles(a);
      w.cores = cores_for(q, rows, spec);
      w.tiles_per_core = ceil_div(rows, w.cores) * width_tiles(a);
      w.math_cycles = w.tiles_per_core * cpt;
      w.flops = 5.0 * static_cast<double>(a.volume());
      break;
    }
  }
  return w;
}

Roofline roofline(const Work& w, const WormholeSpec& spec) {
  Roofline r;
  const double per_core_noc = w.cores * spec.noc_bytes_per_cycle * spec.clock_ghz;
  r.compute_ns = w.math_cycles / spec.clock_ghz;
  // DRAM traffic is capped by the chip's DRAM bandwidth and by the NoC ports of the cores doing it.
  r.dram_ns = std::max(w.bytes_dram / spec.dram_bytes_per_ns, w.bytes_dram / per_core_noc);
  r.noc_ns = w.bytes_noc / per_core_noc;
  r.local_ns = w.bytes_local / (w.cores * spec.l1_bytes_per_cycle * spec.clock_ghz);
  r.launch_ns = spec.launch_ns;
  r.total_ns = r.launch_ns + std::max({r.compute_ns, r.dram_ns + r.noc_ns, r.local_ns});
  // The busiest core's share of the interleaved traffic: 100 tiles on 64 cores take as long as 128.
  const double busiest_share = w.tiles_out > 0 ? std::min(1.0, w.tiles_per_core / w.tiles_out) : 1.0;
  const double interleaved_bytes = w.bytes_dram + w.bytes_noc;
  r.reader_ns = interleaved_bytes * busiest_share / (spec.reader_bytes_per_cycle * spec.clock_ghz);
  r.interleaved_launch_ns = interleaved_bytes > 0 ? spec.launch_ns : 0.0;
  return r;
}

Roofline roofline(const Query& q, const WormholeSpec& spec) { return roofline(work(q, spec), spec); }

const std::array<const char*, kNumRooflineTerms>& roofline_term_names() {
  static const std::array<const char*, kNumRooflineTerms> names = {
      "launch_ns", "compute_ns", "dram_ns", "noc_ns", "local_ns", "total_ns", "reader_ns", "interleaved_launch_ns"};
  return names;
}

RooflineTerms roofline_terms(const Roofline& r) {
  return {r.launch_ns, r.compute_ns, r.dram_ns, r.noc_ns, r.local_ns, r.total_ns, r.reader_ns, r.interleaved_launch_ns};
}

FeatureVector features(const Query& q, const WormholeSpec& spec) {
  Roofline unused;
  return features(q, unused, spec);
}

namespace {

// What every feature reads, computed once per query.
struct FeatureInputs {
  const Query& q;
  const Work& w;
  const Roofline& r;
  const WormholeSpec& spec;
  const TensorDesc& a;        // input 0
  const TensorDesc* b;        // input 1, if any
  const TensorDesc* sharded;  // the tensor whose shard spec splits the work, if any
  Shard shard;                // its per-core shard
  bool matmul;
};

using FeatureFn = double (*)(const FeatureInputs&);
struct FeatureDef {
  const char* name;
  FeatureFn value;
};

template <DType D>
double in0_dtype_is(const FeatureInputs& x) { return x.a.dtype == D ? 1.0 : 0.0; }
template <MemoryLayout L>
double in0_layout_is(const FeatureInputs& x) { return x.a.memory.layout == L ? 1.0 : 0.0; }
template <MemoryLayout L>
double out_layout_is(const FeatureInputs& x) { return x.q.output.memory.layout == L ? 1.0 : 0.0; }

// The features, each name beside the value it names: the order is the model's input order (bump
// kFeatureSchemaVersion when it or any meaning changes).
constexpr FeatureDef kFeatures[] = {
    {"log2_roofline_ns", [](const FeatureInputs& x) { return std::log2(x.r.total_ns); }},
    {"log2_compute_ns", [](const FeatureInputs& x) { return lg(x.r.compute_ns); }},
    {"log2_dram_ns", [](const FeatureInputs& x) { return lg(x.r.dram_ns); }},
    {"log2_noc_ns", [](const FeatureInputs& x) { return lg(x.r.noc_ns); }},
    {"log2_local_ns", [](const FeatureInputs& x) { return lg(x.r.local_ns); }},
    {"log2_tiles_in0", [](const FeatureInputs& x) { return lg(x.w.tiles_in[0]); }},
    {"log2_tiles_in1", [](const FeatureInputs& x) { return lg(x.w.tiles_in[1]); }},
    {"log2_tiles_out", [](const FeatureInputs& x) { return lg(x.w.tiles_out); }},
    {"log2_bytes_in", [](const FeatureInputs& x) { return lg(x.w.bytes_in); }},
    {"log2_bytes_out", [](const FeatureInputs& x) { return lg(x.w.bytes_out); }},
    {"log2_flops", [](const FeatureInputs& x) { return lg(x.w.flops); }},
    {"log2_cores", [](const FeatureInputs& x) { return lg(x.w.cores); }},
    {"log2_tiles_per_core", [](const FeatureInputs& x) { return lg(x.w.tiles_per_core); }},
    {"log2_height_tiles_in0", [](const FeatureInputs& x) { return lg(height_tiles(x.a)); }},
    {"log2_width_tiles_in0", [](const FeatureInputs& x) { return lg(width_tiles(x.a)); }},
    {"log2_k_tiles", [](const FeatureInputs& x) { return x.matmul ? lg(width_tiles(x.a)) : 0.0; }},
    {"log2_n_tiles", [](const FeatureInputs& x) { return lg(width_tiles(x.q.output)); }},
    {"rank_in0", [](const FeatureInputs& x) { return static_cast<double>(x.a.rank); }},
    // Share of a tile-padded tensor that is data: a 33-wide tensor computes two tiles for 1.03.
    {"pad_efficiency_in0",
     [](const FeatureInputs& x) {
       return x.a.layout == Layout::tile
                  ? static_cast<double>(x.a.volume()) / (height_tiles(x.a) * width_tiles(x.a) * 1024.0)
                  : 1.0;
     }},
    {"in0_bfloat16", in0_dtype_is<DType::bfloat16>},
    {"in0_bfloat8_b", in0_dtype_is<DType::bfloat8_b>},
    {"in0_bfloat4_b", in0_dtype_is<DType::bfloat4_b>},
    {"in0_float32", in0_dtype_is<DType::float32>},
    {"in0_uint16", in0_dtype_is<DType::uint16>},
    {"in0_uint32", in0_dtype_is<DType::uint32>},
    {"in0_int32", in0_dtype_is<DType::int32>},
    {"log2_out_tile_bytes", [](const FeatureInputs& x) { return std::log2(tile_bytes(x.q.output.dtype)); }},
    {"in0_l1", [](const FeatureInputs& x) { return x.a.memory.buffer == BufferType::l1 ? 1.0 : 0.0; }},
    {"in1_l1", [](const FeatureInputs& x) { return x.b && x.b->memory.buffer == BufferType::l1 ? 1.0 : 0.0; }},
    {"out_l1", [](const FeatureInputs& x) { return x.q.output.memory.buffer == BufferType::l1 ? 1.0 : 0.0; }},
    {"in0_interleaved", in0_layout_is<MemoryLayout::interleaved>},
    {"in0_height_sharded", in0_layout_is<MemoryLayout::height_sharded>},
    {"in0_width_sharded", in0_layout_is<MemoryLayout::width_sharded>},
    {"in0_block_sharded", in0_layout_is<MemoryLayout::block_sharded>},
    {"out_interleaved", out_layout_is<MemoryLayout::interleaved>},
    {"out_height_sharded", out_layout_is<MemoryLayout::height_sharded>},
    {"out_width_sharded", out_layout_is<MemoryLayout::width_sharded>},
    {"out_block_sharded", out_layout_is<MemoryLayout::block_sharded>},
    {"in1_sharded", [](const FeatureInputs& x) { return x.b && x.b->memory.sharded() ? 1.0 : 0.0; }},
    {"shard_grid_x", [](const FeatureInputs& x) { return x.sharded ? double(x.sharded->memory.grid_x) : 0.0; }},
    {"shard_grid_y", [](const FeatureInputs& x) { return x.sharded ? double(x.sharded->memory.grid_y) : 0.0; }},
    {"in0_row_major", [](const FeatureInputs& x) { return x.a.layout == Layout::row_major ? 1.0 : 0.0; }},
    {"math_fidelity", [](const FeatureInputs& x) { return x.matmul ? static_cast<double>(x.q.math_fidelity) : 0.0; }},
    {"broadcast",
     [](const FeatureInputs& x) {
       if (x.q.op->kind != OpKind::eltwise_binary) return 0.0;
       for (const auto& t : x.q.inputs)
         if (t.volume() < x.q.output.volume()) return 1.0;
       return 0.0;
     }},
    {"n_inputs", [](const FeatureInputs& x) { return static_cast<double>(x.q.inputs.size()); }},
    // Shard geometry of the first sharded tensor: shards that are not whole tiles take slower paths.
    {"log2_shard_height_tiles", [](const FeatureInputs& x) { return x.sharded ? lg(ceil_div(x.shard.rows, kTile)) : 0.0; }},
    {"log2_shard_width_tiles", [](const FeatureInputs& x) { return x.sharded ? lg(ceil_div(x.shard.cols, kTile)) : 0.0; }},
    {"shard_misaligned",
     [](const FeatureInputs& x) {
       return x.sharded && (std::fmod(x.shard.rows, kTile) != 0 || std::fmod(x.shard.cols, kTile) != 0) ? 1.0 : 0.0;
     }},
    {"matmul_subblock_area",
     [](const FeatureInputs& x) {
       if (!x.matmul) return 0.0;
       const double nt = width_tiles(x.q.inputs[1]);
       return subblock_area(std::max(1.0, x.w.tiles_per_core / nt), nt);
     }},
    {"log2_matmul_tiles_per_core", [](const FeatureInputs& x) { return x.matmul ? lg(x.w.tiles_per_core) : 0.0; }},
    {"log2_reader_ns", [](const FeatureInputs& x) { return lg(x.r.reader_ns); }},
    {"log2_l1_bank_conflict", [](const FeatureInputs& x) { return lg(l1_bank_conflict(x.q, x.w, x.spec)); }},
};
static_assert(std::size(kFeatures) == kNumFeatures, "kNumFeatures must count the feature table");

}  // namespace

const std::array<const char*, kNumFeatures>& feature_names() {
  static const auto names = [] {
    std::array<const char*, kNumFeatures> out{};
    for (std::size_t i = 0; i < kNumFeatures; ++i) out[i] = kFeatures[i].name;
    return out;
  }();
  return names;
}

FeatureVector features(const Query& q, Roofline& r, const WormholeSpec& spec) {
  const Work w = work(q, spec);
  r = roofline(w, spec);
  const TensorDesc* sharded = first_sharded(q);
  const FeatureInputs x{q,       w, r, spec, q.inputs[0], q.inputs.size() > 1 ? &q.inputs[1] : nullptr,
                        sharded, sharded ? shard_of(*sharded) : Shard{}, q.op->kind == OpKind::matmul};
  FeatureVector f{};
  for (std::size_t i = 0; i < kNumFeatures; ++i) f[i] = kFeatures[i].value(x);
  return f;
}

}  // namespace opcast
