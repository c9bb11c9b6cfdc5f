// SPDX-License-Identifier: Apache-2.0
// reference::linear_attention, simple_gla, gla, delta_rule, gated_delta_rule: the recurrences of
// the linear-attention family computed token by token in double, the oracle of the kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::reference {
namespace detail {

enum class recurrence { linear, simple_gla, gla, delta_rule, gated_delta_rule };

/// The optional per-token inputs of a recurrence ([B, T, H] or [B, T, H, K]; empty when unused).
template <class T>
struct linear_gates {
  tensor_view<const T, 3> g{};     ///< simple_gla, gated_delta_rule: log decay per head
  tensor_view<const T, 4> gk{};    ///< gla: log decay per key dim
  tensor_view<const T, 3> beta{};  ///< delta rules: step size
};

/// Every (sequence, head) in double, state S [K, V]; per token t (causal):
///   decay    S <- e^{g_t} S (simple_gla, gated_delta_rule) or diag(e^{gk_t}) S (gla);
///   update   S <- S + k_t v_tᵀ, or for the delta rules u_t = beta_t (v_t - Sᵀ k_t), S <- S + k_t u_tᵀ;
///   output   o_t = Sᵀ (scale q_t), normalised by (scale q_t) . z_t + 1e-10 with z_t = sum_{s<=t} k_s.
/// Not causal (linear only): o_t = S_Tᵀ (scale q_t) with S_T the state after every token.
template <class T>
void run_recurrence(recurrence kind, const attnkit::detail::linear_problem& p,
                    const linear_options& opt, const tensor_view<const T, 4>& q,
                    const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v,
                    const linear_gates<T>& gates, const tensor_view<T, 4>& out,
                    const tensor_view<const T, 4>& initial_state, const tensor_view<T, 4>& final_state) {
  const bool delta = kind == recurrence::delta_rule || kind == recurrence::gated_delta_rule;
  const bool scalar_decay = kind == recurrence::simple_gla || kind == recurrence::gated_delta_rule;
  const bool has_initial = attnkit::detail::is_given(initial_state);
  const bool has_final = attnkit::detail::is_given(final_state);
  parallel_for(p.N * p.H, [&](index_t task, int) {
    const index_t b = task / p.H, h = task % p.H;
    const auto at = [&](index_t i, index_t j) { return static_cast<std::size_t>(i * p.V + j); };
    std::vector<double> S(static_cast<std::size_t>(p.K * p.V), 0.0), z(std::size_t(p.K), 0.0),
        qs(std::size_t(p.K)), u(std::size_t(p.V));
    if (has_initial)
      for (index_t i = 0; i < p.K; ++i)
        for (index_t j = 0; j < p.V; ++j) S[at(i, j)] = double(initial_state(b, h, i, j));
    auto output = [&](index_t t) {  // o_t = Sᵀ (scale q_t), normalised on request
      double norm = 0;
      for (index_t i = 0; i < p.K; ++i) {
        qs[std::size_t(i)] = double(p.scale) * double(q(b, t, h, i));
        norm += qs[std::size_t(i)] * z[std::size_t(i)];
      }
      for (index_t j = 0; j < p.V; ++j) {
        double o = 0;
        for (index_t i = 0; i < p.K; ++i) o += S[at(i, j)] * qs[std::size_t(i)];
        out(b, t, h, j) = T(opt.normalize ? o / (norm + 1e-10) : o);
      }
    };
    for (index_t t = 0; t < p.T; ++t) {
      if (scalar_decay) {
        const double decay = std::exp(double(gates.g(b, t, h)));
        for (double& s : S) s *= decay;
      } else if (kind == recurrence::gla) {
        for (index_t i = 0; i < p.K; ++i) {
          const double decay = std::exp(double(gates.gk(b, t, h, i)));
          for (index_t j = 0; j < p.V; ++j) S[at(i, j)] *= decay;
        }
      }
      for (index_t j = 0; j < p.V; ++j) {
        double value = double(v(b, t, h, j));
        if (delta) {
          double predicted = 0;  // (Sᵀ k_t)_j
          for (index_t i = 0; i < p.K; ++i) predicted += S[at(i, j)] * double(k(b, t, h, i));
          value = double(gates.beta(b, t, h)) * (value - predicted);
        }
        u[std::size_t(j)] = value;
      }
      for (index_t i = 0; i < p.K; ++i) {
        const double key = double(k(b, t, h, i));
        z[std::size_t(i)] += key;
        for (index_t j = 0; j < p.V; ++j) S[at(i, j)] += key * u[std::size_t(j)];
      }
      if (opt.causal) output(t);
    }
    if (!opt.causal)
      for (index_t t = 0; t < p.T; ++t) output(t);
    if (has_final)
      for (index_t i = 0; i < p.K; ++i)
        for (index_t j = 0; j < p.V; ++j) final_state(b, h, i, j) = T(S[at(i, j)]);
  });
}

/// Checks a dense call and runs the recurrence. `where` names the entry point in errors.
template <class T>
void linear_reference(std::string_view where, recurrence kind, const tensor_view<const T, 4>& q,
                      const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v,
                      const linear_gates<T>& gates, const tensor_view<T, 4>& out,
                      const linear_options& opt, const tensor_view<const T, 4>& initial_state,
                      const tensor_view<T, 4>& final_state) {
  namespace ad = attnkit::detail;
  const auto p = ad::check_linear_qkv(where, q, k, v, out, opt);
  ad::check_linear_options(where, opt, kind == recurrence::linear,
                           ad::is_given(initial_state) || ad::is_given(final_state));
  if (kind == recurrence::simple_gla || kind == recurrence::gated_delta_rule)
    ad::check_linear_gate(where, "g", gates.g, q);
  if (kind == recurrence::gla) {
    ad::check_view(where, "gk", gates.gk, false);
    for (std::size_t r = 0; r < 4; ++r)
      ad::check_extent(where, "gk", gates.gk, r, q.extent(r), "extent(" + std::to_string(r) + ") of q");
  }
  if (kind == recurrence::delta_rule || kind == recurrence::gated_delta_rule)
    ad::check_linear_gate(where, "beta", gates.beta, q);
  ad::check_linear_state(where, "initial_state", initial_state, p);
  ad::check_linear_state(where, "final_state", final_state, p);
  run_recurrence(kind, p, opt, q, k, v, gates, out, initial_state, final_state);
}

}  // namespace detail

/// The recurrences of the linear-attention family, token by token in double (T = float or
/// double for every argument): q, k [B, T, H, K], v, out [B, T, H, V], states [B, H, K, V],
/// gates in log space. Each output is o_t = S_tᵀ (scale q_t) with the state S_t after token t:
/// - linear_attention: S_t = S_{t-1} + k_t v_tᵀ; normalize divides o_t by (scale q_t) . z_t +
///   1e-10, z_t = sum_{s<=t} k_s; not causal: every o_t uses the final state (and z).
/// - simple_gla: S_t = e^{g_t} S_{t-1} + k_t v_tᵀ, g [B, T, H].
/// - gla: S_t = diag(e^{gk_t}) S_{t-1} + k_t v_tᵀ, gk [B, T, H, K].
/// - delta_rule: u_t = beta_t (v_t - S_{t-1}ᵀ k_t), S_t = S_{t-1} + k_t u_tᵀ, beta [B, T, H].
/// - gated_delta_rule: the delta rule on e^{g_t} S_{t-1}.
/// initial_state (empty: zero) and final_state (empty: not written) [B, H, K, V]. Checked
/// (opt.mode and chunk_size are checked but ignored), throwing attnkit::error before writing.
/// O(B H T K V) time.
template <class T>
void linear_attention(tensor_view<const std::type_identity_t<T>, 4> q, tensor_view<const T, 4> k,
                      tensor_view<const T, 4> v, tensor_view<T, 4> out, const linear_options& opt = {},
                      tensor_view<const T, 4> initial_state = {}, tensor_view<T, 4> final_state = {}) {
  detail::linear_reference<T>("reference::linear_attention", detail::recurrence::linear, q, k, v, {},
                              out, opt, initial_state, final_state);
}

/// See linear_attention.
template <class T>
void simple_gla(tensor_view<const std::type_identity_t<T>, 4> q, tensor_view<const T, 4> k,
                tensor_view<const T, 4> v, tensor_view<const T, 3> g, tensor_view<T, 4> out,
                const linear_options& opt = {}, tensor_view<const T, 4> initial_state = {},
                tensor_view<T, 4> final_state = {}) {
  detail::linear_reference<T>("reference::simple_gla", detail::recurrence::simple_gla, q, k, v,
                              {.g = g}, out, opt, initial_state, final_state);
}

/// See linear_attention.
template <class T>
void gla(tensor_view<const std::type_identity_t<T>, 4> q, tensor_view<const T, 4> k,
         tensor_view<const T, 4> v, tensor_view<const T, 4> gk, tensor_view<T, 4> out,
         const linear_options& opt = {}, tensor_view<const T, 4> initial_state = {},
         tensor_view<T, 4> final_state = {}) {
  detail::linear_reference<T>("reference::gla", detail::recurrence::gla, q, k, v, {.gk = gk}, out,
                              opt, initial_state, final_state);
}

/// See linear_attention.
template <class T>
void delta_rule(tensor_view<const std::type_identity_t<T>, 4> q, tensor_view<const T, 4> k,
                tensor_view<const T, 4> v, tensor_view<const T, 3> beta, tensor_view<T, 4> out,
                const linear_options& opt = {}, tensor_view<const T, 4> initial_state = {},
                tensor_view<T, 4> final_state = {}) {
  detail::linear_reference<T>("reference::delta_rule", detail::recurrence::delta_rule, q, k, v,
                              {.beta = beta}, out, opt, initial_state, final_state);
}

/// See linear_attention.
template <class T>
void gated_delta_rule(tensor_view<const std::type_identity_t<T>, 4> q, tensor_view<const T, 4> k,
                      tensor_view<const T, 4> v, tensor_view<const T, 3> g,
                      tensor_view<const T, 3> beta, tensor_view<T, 4> out,
                      const linear_options& opt = {}, tensor_view<const T, 4> initial_state = {},
                      tensor_view<T, 4> final_state = {}) {
  detail::linear_reference<T>("reference::gated_delta_rule", detail::recurrence::gated_delta_rule,
                              q, k, v, {.g = g, .beta = beta}, out, opt, initial_state, final_state);
}

}  // namespace attnkit::reference
