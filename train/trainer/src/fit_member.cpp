// The one translation unit that includes mlpack (see fit_member.hpp).

// FFN::serialize refuses to run without this, and it must precede the first mlpack include.
#define MLPACK_ENABLE_ANN_SERIALIZATION
#include <mlpack/core.hpp>
#include <mlpack/methods/ann.hpp>

#include "fit_member.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>

namespace opcast::trainer {

namespace {

// Sum of weighted squared errors. Responses carry two rows, the target and the sample weight,
// so weights travel with their rows through FFN's shuffling and batching. With all weights 1
// this equals mlpack::MeanSquaredError with its default sum reduction, value and gradient.
class WeightedSquaredError {
 public:
  double Forward(const arma::mat& prediction, const arma::mat& target) {
    return arma::accu(target.row(1) % arma::square(prediction - target.row(0)));
  }
  void Backward(const arma::mat& prediction, const arma::mat& target, arma::mat& loss) {
    loss = 2.0 * (target.row(1) % (prediction - target.row(0)));
  }
  template <typename Archive>
  void serialize(Archive& /* ar */, const std::uint32_t /* version */) {}
};

// Saved models use mlpack's stock types, so anyone can reload member_<k>.bin as a plain
// mlpack::FFN<> without this file's WeightedSquaredError.
using TrainNet = mlpack::FFN<WeightedSquaredError, mlpack::RandomInitialization>;
using SavedNet = mlpack::FFN<mlpack::MeanSquaredError, mlpack::RandomInitialization>;

// Where each Linear layer lives in FFN's single parameter column: layers in the order added,
// each one W (out x in, column-major) followed by b (out); activation layers own no parameters.
struct LinearSlot {
  std::size_t in, out, offset;
};

struct Layout {
  std::vector<LinearSlot> linear;
  Activation activation;
  std::size_t n_params = 0;

  Layout(std::size_t n_features, const std::vector<std::size_t>& hidden, Activation act)
      : activation(act) {
    std::size_t in = n_features;
    for (std::size_t width : hidden) add(in, width), in = width;
    add(in, 1);
  }
  void add(std::size_t in, std::size_t out) {
    linear.push_back({in, out, n_params});
    n_params += out * in + out;
  }
};

template <typename Net>
void add_layers(Net& net, const Layout& layout) {
  for (std::size_t i = 0; i < layout.linear.size(); ++i) {
    net.template Add<mlpack::Linear>(layout.linear[i].out);
    if (i + 1 == layout.linear.size()) break;  // linear output
    switch (layout.activation) {
      case Activation::identity: net.template Add<mlpack::Identity>(); break;
      case Activation::relu: net.template Add<mlpack::ReLU>(); break;
      case Activation::tanh: net.template Add<mlpack::TanH>(); break;
      case Activation::leaky_relu: net.template Add<mlpack::LeakyReLU>(kLeakyReluAlpha); break;
    }
  }
}

void activate_in_place(arma::mat& h, Activation a) {
  switch (a) {
    case Activation::identity: break;
    case Activation::relu: h.transform([](double v) { return v > 0.0 ? v : 0.0; }); break;
    case Activation::tanh: h = arma::tanh(h); break;
    case Activation::leaky_relu:
      h.transform([](double v) { return v > 0.0 ? v : kLeakyReluAlpha * v; });
      break;
  }
}

// Forward pass straight from a parameter column. Validation runs inside the optimizer loop,
// where calling FFN::Predict would flip the network's training mode and resize its buffers.
arma::rowvec forward(const Layout& layout, const arma::mat& params, const arma::mat& x) {
  arma::mat h = x;
  double* p = const_cast<double*>(params.memptr());  // read-only aliases below
  for (std::size_t i = 0; i < layout.linear.size(); ++i) {
    const LinearSlot& s = layout.linear[i];
    const arma::mat w(p + s.offset, s.out, s.in, false, true);
    const arma::vec b(p + s.offset + s.out * s.in, s.out, false, true);
    h = w * h;
    h.each_col() += b;
    if (i + 1 < layout.linear.size()) activate_in_place(h, layout.activation);
  }
  return arma::rowvec(h.row(0));
}

double weighted_mse(const Layout& layout, const arma::mat& params, const arma::mat& x,
                    const arma::mat& yw) {
  const arma::rowvec err = forward(layout, params, x) - yw.row(0);
  return arma::accu(yw.row(1) % arma::square(err)) / arma::accu(yw.row(1));
}

// Fan-in scaled uniform initialization (He for ReLU-like, Glorot otherwise), zero biases.
// mlpack's NetworkInitialization hands each rule one whole layer as a flat column (rows = number
// of parameters), so its He/Glorot rules would compute the wrong fan-in.
void initialize(const Layout& layout, arma::mat& params, std::mt19937_64& rng) {
  params.zeros();
  for (std::size_t i = 0; i < layout.linear.size(); ++i) {
    const LinearSlot& s = layout.linear[i];
    const bool hidden = i + 1 < layout.linear.size();
    const bool relu_like = hidden && (layout.activation == Activation::relu ||
                                      layout.activation == Activation::leaky_relu);
    const double limit = relu_like ? std::sqrt(6.0 / double(s.in))
                                   : std::sqrt(6.0 / double(s.in + s.out));
    std::uniform_real_distribution<double> u(-limit, limit);
    for (std::size_t k = 0; k < s.out * s.in; ++k) params(s.offset + k, 0) = u(rng);
  }
}

// AdamW-style decoupled weight decay, run by ensmallen's SGD right after each Adam step:
// weights shrink by lr * decay; biases are left alone. With decay 0 the optimizer is exactly
// ens::Adam (which is SGD<AdamUpdate, NoDecay>). ens::Adam itself has no weight decay.
class DecoupledWeightDecay {
 public:
  DecoupledWeightDecay(double decay, arma::vec weight_mask)
      : decay_(decay), weight_mask_(std::move(weight_mask)) {}

  template <typename MatType, typename GradType>
  class Policy {
   public:
    explicit Policy(DecoupledWeightDecay& parent) : parent_(parent) {}
    void Update(MatType& iterate, double& step_size, const GradType& /* gradient */) {
      if (parent_.decay_ > 0.0) iterate -= (step_size * parent_.decay_) * (parent_.weight_mask_ % iterate);
    }

   private:
    DecoupledWeightDecay& parent_;
  };

 private:
  double decay_;
  arma::vec weight_mask_;
};

using AdamW = ens::SGD<ens::AdamUpdate, DecoupledWeightDecay>;

// ensmallen callback: validation MSE every epoch, keeps a copy of the best parameters, stops
// after `patience` epochs without improvement, prints progress.
class EarlyStopping {
 public:
  EarlyStopping(const Layout& layout, const arma::mat& val_x, const arma::mat& val_yw,
                const MemberSpec& spec)
      : layout_(layout), val_x_(val_x), val_yw_(val_yw), spec_(spec) {}

  template <typename Optimizer, typename Function>
  bool EndEpoch(Optimizer& /* opt */, Function& /* f */, const arma::mat& coordinates,
                const std::size_t epoch, const double train_loss) {
    epochs_run = epoch;
    const double val = weighted_mse(layout_, coordinates, val_x_, val_yw_);
    if (!std::isfinite(val) || !std::isfinite(train_loss)) {
      diverged = true;
      return true;
    }
    if (val < best_val) {
      best_val = val;
      best_epoch = epoch;
      best_params = coordinates;
      since_best = 0;
    } else if (++since_best >= spec_.optimizer.patience) {
      stopped_early = true;
    }
    if (spec_.log_every > 0 && (epoch % spec_.log_every == 0 || epoch == 1))
      std::fprintf(stderr,
                   "opcast_trainer: %s member %zu/%zu epoch %zu: train %.5g val %.5g "
                   "(best %.5g @ %zu)\n",
                   spec_.op.c_str(), spec_.index + 1, spec_.count, epoch, train_loss, val,
                   best_val, best_epoch);
    return stopped_early;
  }

  arma::mat best_params;
  double best_val = std::numeric_limits<double>::infinity();
  std::size_t best_epoch = 0, epochs_run = 0, since_best = 0;
  bool stopped_early = false, diverged = false;

 private:
  const Layout& layout_;
  const arma::mat& val_x_;
  const arma::mat& val_yw_;
  const MemberSpec& spec_;
};

// Observations as columns (mlpack's convention); Split stores one row per observation
// contiguously, which is the same memory order.
arma::mat features_of(const Split& s) {
  return arma::mat(s.x.data(), s.n_features, s.n_rows);
}

arma::mat targets_of(const Split& s) {
  arma::mat yw(2, s.n_rows);
  yw.row(0) = arma::rowvec(s.y);
  if (s.weight.empty()) yw.row(1).ones();
  else yw.row(1) = arma::rowvec(s.weight);
  return yw;
}

DenseMember to_dense(const Layout& layout, const arma::mat& params) {
  DenseMember m;
  for (std::size_t i = 0; i < layout.linear.size(); ++i) {
    const LinearSlot& s = layout.linear[i];
    DenseLayer l;
    l.rows = static_cast<std::uint32_t>(s.out);
    l.cols = static_cast<std::uint32_t>(s.in);
    l.activation = i + 1 < layout.linear.size() ? layout.activation : Activation::identity;
    l.weight.resize(s.out * s.in);
    for (std::size_t r = 0; r < s.out; ++r)
      for (std::size_t c = 0; c < s.in; ++c)
        l.weight[r * s.in + c] = params(s.offset + c * s.out + r, 0);
    l.bias.resize(s.out);
    for (std::size_t r = 0; r < s.out; ++r) l.bias[r] = params(s.offset + s.out * s.in + r, 0);
    m.layers.push_back(std::move(l));
  }
  return m;
}

}  // namespace

MemberFit fit_member(const Split& train, const Split& val, const MemberSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  const Layout layout(train.n_features, spec.hidden_layers, spec.activation);

  // One engine drives the bootstrap and the initial weights; mlpack's own generator (and
  // Armadillo's, used by ensmallen's shuffling) is seeded too so that a run is reproducible.
  std::mt19937_64 rng(spec.seed);
  mlpack::RandomSeed(static_cast<std::size_t>(spec.seed));

  arma::mat x = features_of(train);
  arma::mat yw = targets_of(train);
  if (spec.bootstrap) {
    std::uniform_int_distribution<arma::uword> pick(0, train.n_rows - 1);
    arma::uvec rows(train.n_rows);
    for (arma::uword& r : rows) r = pick(rng);
    x = arma::mat(x.cols(rows));
    yw = arma::mat(yw.cols(rows));
  }
  const arma::mat val_x = features_of(val);
  const arma::mat val_yw = targets_of(val);

  TrainNet net;
  add_layers(net, layout);
  net.Reset(train.n_features);
  if (net.Parameters().n_elem != layout.n_params)
    throw std::logic_error("mlpack parameter count " + std::to_string(net.Parameters().n_elem) +
                           " does not match the expected layout " +
                           std::to_string(layout.n_params));
  // In place: the layers alias this memory.
  initialize(layout, net.Parameters(), rng);

  arma::vec weight_mask(layout.n_params, arma::fill::zeros);
  for (const LinearSlot& s : layout.linear) weight_mask.subvec(s.offset, s.offset + s.out * s.in - 1).ones();

  const OptimizerConfig& o = spec.optimizer;
  const std::size_t n_points = x.n_cols;
  AdamW optimizer(o.learning_rate, o.batch_size, o.max_epochs * n_points,
                  -1.0 /* no tolerance stop: early stopping decides */, true /* shuffle */,
                  ens::AdamUpdate(o.epsilon, o.beta1, o.beta2),
                  DecoupledWeightDecay(o.weight_decay, std::move(weight_mask)));

  EarlyStopping monitor(layout, val_x, val_yw, spec);
  net.Train(std::move(x), std::move(yw), optimizer, monitor);

  if (monitor.best_epoch == 0)
    throw std::runtime_error("member " + std::to_string(spec.index) +
                             ": training diverged before the first finite validation loss; "
                             "lower optimizer.learning_rate");
  if (monitor.diverged)
    std::fprintf(stderr, "opcast_trainer: %s member %zu/%zu: loss became non-finite at epoch %zu; "
                 "keeping epoch %zu\n", spec.op.c_str(), spec.index + 1, spec.count,
                 monitor.epochs_run, monitor.best_epoch);

  MemberFit fit;
  fit.net = to_dense(layout, monitor.best_params);
  fit.best_epoch = monitor.best_epoch;
  fit.epochs_run = monitor.epochs_run;
  fit.stopped_early = monitor.stopped_early;
  fit.train_mse = weighted_mse(layout, monitor.best_params, features_of(train), targets_of(train));
  // As observed when the epoch was chosen: main.cpp recomputes it from the exported weights,
  // and the end-to-end test compares the two to prove the best, not the last, epoch is exported.
  fit.val_mse = monitor.best_val;

  SavedNet saved;
  add_layers(saved, layout);
  saved.Reset(train.n_features);
  // Element-wise copy: assigning the matrix could reallocate under the layers' aliases.
  saved.Parameters().col(0) = monitor.best_params.col(0);
  if (!mlpack::data::Save(spec.model_path.string(), "model", saved, false))
    throw std::runtime_error("cannot save " + spec.model_path.string());

  fit.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "opcast_trainer: %s member %zu/%zu done: %zu epochs (%s), best epoch %zu, "
               "val mse %.5g (standardized), %.1f s\n",
               spec.op.c_str(), spec.index + 1, spec.count, fit.epochs_run,
               fit.stopped_early ? "early stop" : (monitor.diverged ? "diverged" : "max_epochs"),
               fit.best_epoch, fit.val_mse, fit.seconds);
  return fit;
}

std::vector<std::vector<double>> predict_saved_members(
    const std::vector<std::filesystem::path>& models, const Split& x) {
  const arma::mat features = features_of(x);
  std::vector<std::vector<double>> out;
  for (const auto& path : models) {
    SavedNet net;
    if (!mlpack::data::Load(path.string(), "model", net, false))
      throw std::runtime_error("cannot reload " + path.string() + " with mlpack::data::Load");
    arma::mat pred;
    net.Predict(features, pred);
    out.emplace_back(pred.begin(), pred.end());
  }
  return out;
}

}  // namespace opcast::trainer
