// The sizes and switches of the Query2Label transformer (the released
// main_mlc.py arguments of the same names).
#pragma once

#include <cstdint>

namespace labrun::q2l {

struct TransformerOptions {
  std::int64_t hidden_dim = 2048;       // d_model
  std::int64_t num_heads = 4;           // nheads
  std::int64_t enc_layers = 1;          // encoder layers (0: none)
  std::int64_t dec_layers = 2;          // decoder layers (>= 1)
  std::int64_t dim_feedforward = 8192;  // FFN inner size
  double dropout = 0.1;                 // after attention, in the FFN, and
                                        // on the attention weights
  bool pre_norm = false;                // normalize_before
  // Decoder self-attention (the released code removes it by default):
  // in layer 0, and in the others.
  bool keep_first_self_attn = false;
  bool keep_other_self_attn = false;
};

}  // namespace labrun::q2l
