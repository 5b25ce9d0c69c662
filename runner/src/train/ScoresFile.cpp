#include "train/ScoresFile.h"

#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "train/Trainer.h"

namespace labrun::train {
namespace {

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void writeNpy(std::ofstream& out, const torch::Tensor& scores) {
  std::string header = fmt::format(
      "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
      scores.size(0), scores.size(1));
  // Magic (6) + version (2) + length (2) + header + '\n', padded to 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  out.write("\x93NUMPY\x01\x00", 8);
  const auto length = static_cast<std::uint16_t>(header.size());
  const char length_bytes[2] = {static_cast<char>(length & 0xff),
                                static_cast<char>(length >> 8)};
  out.write(length_bytes, 2);
  out << header;
  out.write(static_cast<const char*>(scores.data_ptr()),
            static_cast<std::streamsize>(scores.numel() * sizeof(float)));
}

void writeCsv(std::ofstream& out, const torch::Tensor& scores,
              const std::vector<std::string>& class_names) {
  out << "index";
  for (const auto& name : class_names) out << "," << name;
  out << "\n";
  const auto s = scores.accessor<float, 2>();
  for (std::int64_t i = 0; i < scores.size(0); ++i) {
    out << i;
    for (std::int64_t k = 0; k < scores.size(1); ++k) {
      out << fmt::format(",{:.6g}", s[i][k]);
    }
    out << "\n";
  }
}

}  // namespace

void writeScores(const std::string& path, const torch::Tensor& scores,
                 const std::vector<std::string>& class_names) {
  const torch::Tensor values = scores.to(torch::kCPU, torch::kFloat).contiguous();
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error(path + ": cannot write scores");
    if (endsWith(path, ".npy")) {
      writeNpy(out, values);
    } else {
      writeCsv(out, values, class_names);
    }
    if (!out.flush()) throw std::runtime_error(path + ": write failed");
  });
}

}  // namespace labrun::train
