// SPDX-License-Identifier: Apache-2.0
// Example: sequence-parallel (ring) attention over MPI, each rank holding one slice of the
// queries, keys and values, checked against single-process flash_attention on rank 0.
//
// Ring Attention (Liu, Zaharia, Abbeel, arXiv 2310.01889): with P ranks and a sequence of
// S = P * N tokens, rank r owns rows [r N, (r + 1) N) of q, k and v. Its queries stay put; the
// key/value blocks travel around the ring, so that after P steps every rank has seen every
// block. At each step the rank attends its N queries to the block it holds (flash_attention,
// giving a normalised partial output and its lse), and at the end merge_attention_states
// combines the P partials into exact attention over the whole sequence: attention over disjoint
// key ranges merges exactly through the lse. No rank ever holds more than two k/v blocks; the P
// partial outputs are kept for one merge at the end (a long ring would instead merge as it goes,
// two states at a time, to keep the memory independent of P).
//
// Communication: the k/v block is one contiguous buffer (k then v), double-buffered. At each
// step the rank posts MPI_Irecv of the next block from its left neighbour and MPI_Isend of the
// current block to its right neighbour, then computes on the current block while the messages
// travel, then waits: the transfer hides behind the compute.
//
// Causal mask. Both the whole sequence and every (query slice, key block) pair have Sq = Sk, so
// the global rule "key j is visible from query i iff j <= i" splits by block index, with the
// query slice r and the key block s:
//   s < r: every key precedes every query -> the block is fully visible (plain, non-causal);
//   s = r: the diagonal block, same offsets for queries and keys -> causal within the block
//          (o = Sk - Sq = 0, so bottom_right and top_left agree);
//   s > r: every key follows every query -> fully masked: skipped, its lse set to -inf so that
//          the merge gives it weight 0 (its output is never read).
// With unequal slices a block can straddle the diagonal off its corner; then the visible set is
// j_local <= i_local + (q_begin - k_begin), which is top_left alignment with
// window_right = q_begin - k_begin (for q_begin >= k_begin). Equal slices avoid that case.
// (Causal ring attention is unbalanced: rank P-1 computes P blocks, rank 0 one; Striped
// Attention, arXiv 2311.09431, permutes the tokens to even it out. Not done here.)
//
// Run: mpirun -np 2 ./example_ring_attention_mpi (any number of ranks).
#include <attnkit/attnkit.hpp>

// The MPI C API only: the C++ bindings (removed from the MPI standard in 3.0) stay out.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

namespace {

using attnkit::index_t;
using attnkit::tensor_view;

constexpr index_t B = 1, N = 100, Hq = 4, Hkv = 2, D = 64, Dv = 64;  // N: tokens per rank

// A value in [-1, 1) from the global coordinates, so that every rank builds its own slice and
// rank 0 the whole sequence without communication (a splitmix64 finaliser over the index).
float input_value(std::uint64_t tensor, std::uint64_t flat_index) {
  std::uint64_t z = tensor * 0x9E3779B97F4A7C15ull + flat_index + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return float(z >> 40) / float(1 << 23) - 1.0f;
}

// Rows [s0, s0 + len) of the tensor `tensor` of global shape [B, S, H, E], in [B, len, H, E].
std::vector<float> make_rows(std::uint64_t tensor, index_t S, index_t H, index_t E, index_t s0,
                             index_t len) {
  std::vector<float> x(std::size_t(B * len * H * E));
  for (index_t b = 0; b < B; ++b)
    for (index_t s = 0; s < len; ++s)
      for (index_t e = 0; e < H * E; ++e)
        x[std::size_t((b * len + s) * H * E + e)] =
            input_value(tensor, std::uint64_t((b * S + s0 + s) * H * E + e));
  return x;
}

// Ring attention of this rank's query slice; out [B, N, Hq, Dv], lse [B, Hq, N].
void ring_attention(int rank, int P, bool causal, const std::vector<float>& q,
                    const std::vector<float>& k, const std::vector<float>& v,
                    std::vector<float>& out, std::vector<float>& lse) {
  const index_t k_size = B * N * Hkv * D, v_size = B * N * Hkv * Dv;
  const int count = int(k_size + v_size);
  std::vector<float> current(static_cast<std::size_t>(count)), next(current.size());
  std::copy(k.begin(), k.end(), current.begin());
  std::copy(v.begin(), v.end(), current.begin() + k_size);

  // One partial per key block, indexed by the block: [P, B, N, Hq, Dv] and [P, B, Hq, N].
  std::vector<float> partial_out(std::size_t(P * B * N * Hq * Dv));
  std::vector<float> partial_lse(std::size_t(P * B * Hq * N));
  const int right = (rank + 1) % P, left = (rank + P - 1) % P;

  for (int step = 0; step < P; ++step) {
    const int s = (rank - step + P) % P;  // the block held at this step came from rank s
    MPI_Request requests[2];
    const bool pass_on = step + 1 < P;
    if (pass_on) {
      MPI_Irecv(next.data(), count, MPI_FLOAT, left, step, MPI_COMM_WORLD, &requests[0]);
      MPI_Isend(current.data(), count, MPI_FLOAT, right, step, MPI_COMM_WORLD, &requests[1]);
    }

    float* part_out = partial_out.data() + s * B * N * Hq * Dv;
    float* part_lse = partial_lse.data() + s * B * Hq * N;
    if (causal && s > rank) {
      // Fully masked: weight 0 in the merge.
      std::fill(part_lse, part_lse + B * Hq * N, -std::numeric_limits<float>::infinity());
    } else {
      attnkit::attention_options opt;
      opt.causal = causal && s == rank;  // the diagonal block; s < rank is fully visible
      attnkit::flash_attention<attnkit::default_arch, float>(
          {q.data(), {B, N, Hq, D}}, {current.data(), {B, N, Hkv, D}},
          {current.data() + k_size, {B, N, Hkv, Dv}}, {part_out, {B, N, Hq, Dv}}, opt,
          {part_lse, {B, Hq, N}});
    }

    if (pass_on) {
      MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
      current.swap(next);
    }
  }

  attnkit::merge_attention_states(
      tensor_view<const float, 5>(partial_out.data(), {P, B, N, Hq, Dv}),
      tensor_view<const float, 4>(partial_lse.data(), {P, B, Hq, N}),
      tensor_view<float, 4>(out.data(), {B, N, Hq, Dv}),
      tensor_view<float, 3>(lse.data(), {B, Hq, N}));
}

// Runs one case on every rank; rank 0 checks against flash_attention over the whole sequence.
// Returns true when the check passes (on every rank: the verdict is broadcast).
bool run_case(int rank, int P, bool causal) {
  const index_t S = P * N, begin = rank * N;
  const auto q = make_rows(0, S, Hq, D, begin, N);
  const auto k = make_rows(1, S, Hkv, D, begin, N);
  const auto v = make_rows(2, S, Hkv, Dv, begin, N);
  std::vector<float> out(std::size_t(B * N * Hq * Dv)), lse(std::size_t(B * Hq * N));
  ring_attention(rank, P, causal, q, k, v, out, lse);

  // Gather the slices on rank 0: [P, B, N, Hq, Dv] and [P, B, Hq, N].
  std::vector<float> all_out, all_lse;
  if (rank == 0) {
    all_out.resize(std::size_t(P) * out.size());
    all_lse.resize(std::size_t(P) * lse.size());
  }
  MPI_Gather(out.data(), int(out.size()), MPI_FLOAT, all_out.data(), int(out.size()), MPI_FLOAT,
             0, MPI_COMM_WORLD);
  MPI_Gather(lse.data(), int(lse.size()), MPI_FLOAT, all_lse.data(), int(lse.size()), MPI_FLOAT,
             0, MPI_COMM_WORLD);

  int ok = 1;
  if (rank == 0) {
    const auto fq = make_rows(0, S, Hq, D, 0, S), fk = make_rows(1, S, Hkv, D, 0, S),
               fv = make_rows(2, S, Hkv, Dv, 0, S);
    std::vector<float> ref(std::size_t(B * S * Hq * Dv)), ref_lse(std::size_t(B * Hq * S));
    attnkit::attention_options opt;
    opt.causal = causal;
    attnkit::flash_attention<attnkit::default_arch, float>(
        {fq.data(), {B, S, Hq, D}}, {fk.data(), {B, S, Hkv, D}}, {fv.data(), {B, S, Hkv, Dv}},
        {ref.data(), {B, S, Hq, Dv}}, opt, {ref_lse.data(), {B, Hq, S}});

    // Rank r's row i is global row r N + i.
    double err_out = 0, err_lse = 0;
    for (index_t r = 0; r < P; ++r)
      for (index_t b = 0; b < B; ++b)
        for (index_t i = 0; i < N; ++i)
          for (index_t h = 0; h < Hq; ++h) {
            for (index_t d = 0; d < Dv; ++d) {
              const float got = all_out[std::size_t((((r * B + b) * N + i) * Hq + h) * Dv + d)];
              const float want = ref[std::size_t(((b * S + r * N + i) * Hq + h) * Dv + d)];
              err_out = std::max(err_out, double(std::fabs(got - want)));
              if (!std::isfinite(got)) err_out = INFINITY;
            }
            const float got = all_lse[std::size_t(((r * B + b) * Hq + h) * N + i)];
            const float want = ref_lse[std::size_t((b * Hq + h) * S + r * N + i)];
            err_lse = std::max(err_lse, double(std::fabs(got - want)));
            if (!std::isfinite(got)) err_lse = INFINITY;
          }
    // Both sides are fp32 flash attention over the same data; they differ only by the order of
    // the online-softmax rescalings, a few ulp.
    const double tolerance = 1e-5;
    ok = err_out <= tolerance && err_lse <= tolerance;
    std::printf("%s ring attention over %d rank%s, S = %td (%td per rank): max |out - ref| = "
                "%.3g, max |lse - ref| = %.3g (tolerance %.0e) %s\n",
                causal ? "causal    " : "non-causal", P, P == 1 ? "" : "s", S, N, err_out,
                err_lse, tolerance, ok ? "ok" : "FAILED");
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return ok != 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, P = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  // One attnkit thread per rank: here every rank runs on the same machine and shares its cores
  // (with one rank per node, keep the default, every core).
  attnkit::set_num_threads(1);

  bool ok = true;
  try {
    ok = run_case(rank, P, false) && ok;
    ok = run_case(rank, P, true) && ok;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Finalize();
  return ok ? 0 : 1;
}
