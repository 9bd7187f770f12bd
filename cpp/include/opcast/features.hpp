// Physics-aware features of a query and the Wormhole roofline they are built around.
// The same code computes features for training (through the Python bindings) and for serving.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "opcast/query.hpp"

namespace opcast {

// Bump when the meaning or order of any feature changes: model folders record the version they
// were trained with and are refused on mismatch.
inline constexpr int kFeatureSchemaVersion = 6;
inline constexpr std::size_t kNumFeatures = 52;
using FeatureVector = std::array<double, kNumFeatures>;

const std::array<const char*, kNumFeatures>& feature_names();

// Wormhole B0 (n150) as the roofline sees it.
struct WormholeSpec {
  int grid_x = 8, grid_y = 8;         // Tensix compute grid
  double clock_ghz = 1.0;             // AI clock
  double dram_bytes_per_ns = 288.0;   // 288 GB/s
  double noc_bytes_per_cycle = 32.0;  // per core and direction
  // What one core's interleaved reads and writes achieve, not the NoC's link peak: ttnn's eltwise
  // readers and writers move a tile at a time and wait for it. Binary add into sharded outputs on 4
  // cores moves 6.5 (DRAM) to 7.5 (L1) B/cycle per core.
  double reader_bytes_per_cycle = 8.0;
  double l1_bytes_per_cycle = 64.0;   // local L1 read per core
  int l1_banks = 64;                  // L1-interleaved pages are spread over one bank per worker core
  double launch_ns = 1000.0;          // fixed program dispatch + kernel start
  int cores() const { return grid_x * grid_y; }
};

// Work an op does, by the op kind's cost model.
struct Work {
  double tiles_in[3] = {0, 0, 0};  // padded tiles per input
  double tiles_out = 0;
  double bytes_in = 0, bytes_out = 0;
  double bytes_dram = 0;           // bytes read from / written to DRAM
  double bytes_noc = 0;            // bytes moved over the NoC to / from L1-interleaved buffers
  double bytes_local = 0;          // bytes read / written in the core's own L1 (sharded)
  double flops = 0;
  double cores = 1;                // cores the op's work is split over
  double tiles_per_core = 0;       // output tiles of the busiest core
  double math_cycles = 0;          // compute cycles of the busiest core
};

struct Roofline {
  double compute_ns = 0, dram_ns = 0, noc_ns = 0, local_ns = 0, launch_ns = 0;
  double total_ns = 0;  // launch + max of the above
  // Interleaved traffic at the rate a tile-at-a-time reader achieves: a second view of dram_ns + noc_ns
  // for the model and the calibrated roofline, outside total_ns.
  double reader_ns = 0;
  // The fixed cost of reader and writer kernels that fetch and store pages over the NoC: zero when
  // every tensor is sharded (the op only reads and writes its own L1). relu on 1 tile takes 0.76 us
  // sharded and 1.6-2.0 us interleaved, a gap that one shared launch term cannot express.
  double interleaved_launch_ns = 0;
};

Work work(const Query& q, const WormholeSpec& spec = {});
Roofline roofline(const Query& q, const WormholeSpec& spec = {});
Roofline roofline(const Work& w, const WormholeSpec& spec = {});
FeatureVector features(const Query& q, const WormholeSpec& spec = {});
// features and roofline in one pass (the predictor needs both).
FeatureVector features(const Query& q, Roofline& roofline_out, const WormholeSpec& spec = {});

// The roofline's components as the terms of a per-op calibrated roofline, sum_k c_k * term_k, whose
// coefficients are fitted on an op's training data (target ln_ratio_fitted_roofline): the fixed
// Wormhole constants are right in shape but not in scale for every op.
inline constexpr std::size_t kNumRooflineTerms = 8;
using RooflineTerms = std::array<double, kNumRooflineTerms>;
const std::array<const char*, kNumRooflineTerms>& roofline_term_names();
RooflineTerms roofline_terms(const Roofline& r);

}  // namespace opcast
