#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the hand-chosen seed inputs of the flash fuzzer (one per option, layout, edge case and
# planted fault) into a corpus directory, encoding each through the header of flash_input.hpp.
"""Usage: fuzz/make_seeds.py [output directory, default fuzz/corpus/flash]"""

import os
import sys

KMAX = 2**63 - 1
DIMS = [64, 80, 96, 128, 1, 2, 3, 4, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 65, 79, 81, 127, 129, 192]
LARGE_WINDOWS = [64, 96, 97, 128, 200, 1000, 1 << 20, 1 << 40, 1 << 62, KMAX // 2, KMAX - 1, KMAX,
                 KMAX - 300, 277, 300, KMAX // 4]
SCALES = [0.125, 0.25, 0.37, 0.5, 1.0, 2.0, 4.0, 8.0, -0.5, -1.0, -3.0, 1e-3, 1e-6, 20.0, 100.0,
          625.0, 1e3, -625.0, 3.0, 0.01]
CAPS = [0.5, 1.0, 2.5, 5.0, 30.0, 50.0, 1e4, 1e-3]
# Fault indices as flash_input.hpp lists them (kDenseFaults / kVarlenFaults).
COMMON_FAULTS = ["window_left_below_minus_one", "window_right_below_minus_one", "alibi_count",
                 "sinks_count", "sink_nan", "sink_positive_infinity", "alibi_not_finite",
                 "scale_nan", "scale_infinite", "softcap_negative", "softcap_infinite",
                 "bias_heads", "bias_null", "kv_heads_not_a_divisor", "v_heads", "v_length",
                 "k_head_dim", "out_head_dim", "out_heads", "q_inner_stride", "out_inner_stride",
                 "out_broadcast", "lse_extent", "q_null", "head_dim_zero", "value_dim_zero",
                 "head_dim_too_large"]
DENSE_FAULTS = COMMON_FAULTS + ["k_batch", "v_batch", "out_batch", "no_kv_heads", "bias_key_length"]
VARLEN_FAULTS = COMMON_FAULTS + ["cu_q_start", "cu_k_past_end", "cu_count", "cu_q_empty",
                                 "cu_q_decreasing"]

# Explicit value bytes (decode_value): 120 + 64 x for ordinary values, and the specials.
V_BIG, V_NEG_BIG, V_NAN, V_NEG_INF_BIAS = 242, 243, 251, 255
# Explicit sink bytes (next_sink): 240 is a -inf sink, 248 a sink of 50.
SINK_NEG_INF, SINK_50 = 240, 248


def length(h):
    return h % 24 if h < 192 else 24 + (h - 192) * 4


def dim(h):
    return 1 + h % 80 if h < 160 else DIMS[(h - 160) % len(DIMS)]


def window(h):
    if h < 128:
        return -1
    return (h - 128) % 56 if h < 240 else LARGE_WINDOWS[h - 240]


def byte_for(decode, value):
    for h in range(256):
        if decode(h) == value:
            return h
    raise ValueError(value)


def seed(B=1, Sq=4, Sk=4, Hkv=1, group=1, D=8, Dv=None, varlen=False, in_bhsd=False,
         out_bhsd=False, lse=False, threads=1, nan=False, element="f32", fault=None,
         causal=False, top_left=False, alibi=False, sinks=False, pad=0, bias=None,
         bias_transposed=False, bias_stride_zero=False, window_left=-1, window_right=-1,
         scale=0.0, softcap=0.0, seqs=(), extra=(0, 0), values=b"", rng=0):
    """The bytes of one input; `bias` is None or the broadcast dims, e.g. "" (full) or "BH"."""
    mode = (varlen | in_bhsd << 1 | out_bhsd << 2 | lse << 3 | (threads == 2) << 4 | nan << 5
            | {"f32": 0, "bf16": 2, "fp16": 3}[element] << 6)
    faults = VARLEN_FAULTS if varlen else DENSE_FAULTS
    fault_byte = 0 if fault is None else 224 + faults.index(fault)
    b_byte = {0: 0, 1: 18, 2: 16, 3: 17}[B]
    heads = (group - 1) * 3 + (Hkv - 1)
    d_byte = byte_for(dim, D)
    dv_byte = 0 if Dv is None or Dv == D else byte_for(lambda h: dim(h) if h >= 96 else -1, Dv)
    flags = (causal | top_left << 1 | alibi << 2 | sinks << 3 | pad << 4 | bias_transposed << 6
             | bias_stride_zero << 7)
    bias_byte = 0 if bias is None else 128 | sum(1 << "BHQK".index(x) for x in bias)
    header = [mode, fault_byte, b_byte, byte_for(length, Sq), byte_for(length, Sk), heads, d_byte,
              dv_byte, flags, byte_for(window, window_left), byte_for(window, window_right),
              0 if scale == 0 else 128 + SCALES.index(scale),
              0 if softcap == 0 else 160 + CAPS.index(softcap), bias_byte, rng & 255, rng >> 8]
    if varlen:
        for lq, lk in seqs:
            header += [lq, lk]  # taken modulo (longest + 1)
        header += list(extra)
    return bytes(header) + bytes(values)


def ordinary(x):
    """The explicit byte of an ordinary value (a multiple of 1/64 in [-1.875, 1.86])."""
    return 120 + round(x * 64)


SEEDS = {
    "empty": b"",
    "dense_basic": seed(Sq=5, Sk=7, D=16),
    "dense_gqa_lse": seed(B=2, Sq=13, Sk=21, Hkv=2, group=3, D=33, Dv=17, lse=True),
    "causal_rows_without_keys": seed(Sq=20, Sk=9, Hkv=1, group=2, D=32, causal=True, lse=True),
    "causal_top_left": seed(Sq=9, Sk=20, D=17, causal=True, top_left=True, lse=True),
    "window_0_0": seed(B=2, Sq=15, Sk=15, D=8, window_left=0, window_right=0, lse=True),
    "window_left_only": seed(Sq=23, Sk=17, D=31, window_left=3, lse=True),
    "window_right_only_top_left": seed(Sq=12, Sk=22, D=15, window_right=2, top_left=True),
    "causal_window_left": seed(Sq=40, Sk=60, D=48, causal=True, window_left=5, lse=True),
    "large_window": seed(Sq=20, Sk=28, D=8, window_left=1 << 40, window_right=277),
    "scale_softcap": seed(Sq=11, Sk=13, D=16, scale=3.0, softcap=2.5, lse=True),
    "softcap_tiny": seed(Sq=6, Sk=9, D=4, softcap=1e-3, scale=625.0),
    "negative_scale": seed(Sq=7, Sk=8, D=4, scale=-3.0, lse=True),
    "alibi_gqa": seed(Sq=17, Sk=23, Hkv=2, group=2, D=8, alibi=True, lse=True),
    "alibi_causal_bottom_right": seed(Sq=28, Sk=10, Hkv=1, group=3, D=8, alibi=True, causal=True),
    "bias_full": seed(B=2, Sq=9, Sk=11, Hkv=1, group=2, D=8, bias="", lse=True),
    "bias_broadcast_batch_heads": seed(B=2, Sq=9, Sk=11, Hkv=1, group=2, D=8, bias="BH"),
    "bias_broadcast_rows_stride_zero": seed(B=3, Sq=10, Sk=12, Hkv=2, D=8, bias="BHQ",
                                            bias_stride_zero=True),
    "bias_transposed_causal": seed(Sq=14, Sk=14, D=8, bias="", bias_transposed=True, causal=True),
    "bias_minus_inf_row": seed(Sq=2, Sk=3, D=2, bias="", lse=True,
                               values=[V_NEG_INF_BIAS] * 6 + [ordinary(0.5)] * 6),
    "sinks": seed(Sq=5, Sk=6, Hkv=1, group=2, D=8, sinks=True, lse=True,
                  values=[ordinary(0.5), ordinary(-1.0)]),
    "sinks_minus_inf_causal": seed(Sq=8, Sk=4, D=8, sinks=True, causal=True, lse=True,
                                   values=[SINK_NEG_INF]),
    "sink_dominates_fp16": seed(Sq=6, Sk=6, D=8, sinks=True, lse=True, element="fp16",
                                values=[SINK_50]),
    "everything": seed(B=2, Sq=24, Sk=36, Hkv=2, group=2, D=24, Dv=8, causal=True, window_left=11,
                       softcap=5.0, alibi=True, sinks=True, bias="H", lse=True, pad=2,
                       in_bhsd=True, out_bhsd=True),
    "bhsd_padded": seed(B=2, Sq=16, Sk=19, Hkv=2, group=2, D=16, in_bhsd=True, out_bhsd=True,
                        pad=3, lse=True),
    "two_threads_multiblock": seed(Sq=100, Sk=120, D=64, threads=2, causal=True, lse=True),
    "head_dim_80": seed(Sq=32, Sk=96, D=80, lse=True),
    "head_dim_96_128": seed(Sq=9, Sk=40, D=96, Dv=128),
    "head_dim_1": seed(Sq=10, Sk=10, D=1, Dv=1, lse=True),
    "single_key": seed(B=2, Sq=13, Sk=1, Hkv=1, group=2, D=24),
    "single_query_long_keys": seed(Sq=1, Sk=240, D=17, lse=True),
    "no_queries": seed(B=2, Sq=0, Sk=5, D=8, lse=True),
    "no_keys": seed(B=2, Sq=5, Sk=0, D=8, lse=True, sinks=True),
    "extreme_logits": seed(Sq=4, Sk=5, D=2, lse=True,
                           values=[V_BIG, ordinary(0.5)] * 4 + [V_BIG, 0, V_NEG_BIG, 0] * 3),
    "extreme_values": seed(Sq=3, Sk=4, D=3, lse=True, values=[ordinary(0.1)] * 9 + [ordinary(0.2)] * 12
                           + [V_BIG, V_NEG_BIG, 248, 249, 244, 245, 246, 247, 250, 240, 241, 120]),
    "nan_inputs": seed(Sq=6, Sk=6, D=4, nan=True, causal=True, bias="", lse=True,
                       values=[120] * 20 + [V_NAN] + [120] * 30 + [V_NAN] + [130] * 20 + [V_NAN]),
    "nan_query_without_keys": seed(Sq=6, Sk=2, D=2, nan=True, causal=True, lse=True,
                                   values=[V_NAN, V_NAN]),
    "bf16_causal": seed(Sq=28, Sk=40, Hkv=1, group=2, D=64, element="bf16", causal=True, lse=True),
    "bf16_bias_sinks": seed(Sq=10, Sk=12, D=17, element="bf16", bias="B", sinks=True),
    "fp16_alibi": seed(Sq=21, Sk=19, Hkv=2, D=33, element="fp16", alibi=True, lse=True),
    "fp16_varlen": seed(B=2, Sq=12, Sk=15, D=16, element="fp16", varlen=True,
                        seqs=[(12, 7), (5, 15)], extra=(1, 2), lse=True),
    "varlen_three_sequences": seed(B=3, Sq=20, Sk=23, Hkv=2, group=2, D=16, varlen=True,
                                   seqs=[(20, 3), (0, 23), (7, 0)], extra=(2, 1), causal=True,
                                   lse=True, bias="", pad=1),
    "varlen_bhsd_window": seed(B=2, Sq=9, Sk=14, D=8, varlen=True, seqs=[(9, 14), (4, 4)],
                               in_bhsd=True, out_bhsd=True, window_left=2, window_right=1,
                               lse=True, sinks=True),
    "varlen_no_sequences": seed(B=0, Sq=5, Sk=5, D=8, varlen=True, extra=(2, 2), lse=True),
    "varlen_bias_broadcast": seed(B=3, Sq=6, Sk=7, D=8, varlen=True, seqs=[(6, 7), (1, 1), (3, 5)],
                                  bias="BQ", bias_stride_zero=True, alibi=True, lse=True),
}

for i, name in enumerate(DENSE_FAULTS):
    SEEDS[f"fault_dense_{name}"] = seed(B=1, Sq=3, Sk=4, Hkv=1, group=2, D=4, fault=name, rng=i)
for i, name in enumerate(VARLEN_FAULTS):
    SEEDS[f"fault_varlen_{name}"] = seed(B=2, Sq=3, Sk=4, Hkv=1, group=2, D=4, varlen=True,
                                         seqs=[(3, 4), (2, 1)], fault=name, rng=i)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "flash")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, f"seed-{name}"), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
