#include "train/ScoresFile.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>

#include "train/Trainer.h"

namespace labrun::train {
namespace {

// "X.npy" (or "X.NPY"): "X"; nullopt for a CSV file's name.
std::optional<std::string> npyStem(const std::string& path) {
  constexpr std::size_t kSuffix = 4;
  if (path.size() < kSuffix) return std::nullopt;
  std::string suffix = path.substr(path.size() - kSuffix);
  for (char& c : suffix) c = static_cast<char>(std::tolower(c));
  if (suffix != ".npy") return std::nullopt;
  return path.substr(0, path.size() - kSuffix);
}

// A CSV field, quoted when it holds a separator, quote or line break.
std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void writeFile(const std::string& path,
               const std::function<void(std::ofstream&)>& write) {
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error(path + ": cannot write scores");
    write(out);
    if (!out.flush()) throw std::runtime_error(path + ": write failed");
  });
}

void writeNpy(std::ofstream& out, const torch::Tensor& values) {
  std::string header = fmt::format(
      "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
      values.size(0), values.size(1));
  // Magic (6) + version (2) + length (2) + header + '\n', padded to 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  out.write("\x93NUMPY\x01\x00", 8);
  const auto length = static_cast<std::uint16_t>(header.size());
  const char length_bytes[2] = {static_cast<char>(length & 0xff),
                                static_cast<char>(length >> 8)};
  out.write(length_bytes, 2);
  out << header;
  out.write(static_cast<const char*>(values.data_ptr()),
            static_cast<std::streamsize>(values.numel() * sizeof(float)));
}

// Ground truth as written: 1, 0, NaN where the label is ignored.
torch::Tensor truthValues(const ScoresTable& table) {
  return torch::where(table.mask > 0, (table.targets > 0).to(torch::kFloat),
                      torch::full({}, std::numeric_limits<float>::quiet_NaN()));
}

void writeCsv(std::ofstream& out, const ScoresTable& table,
              const ScoresContent& content,
              const torch::Tensor& probabilities) {
  struct Block {
    const char* prefix;
    torch::Tensor values;
  };
  std::vector<Block> blocks = {{"", probabilities}};
  if (content.truth) blocks.push_back({"truth:", truthValues(table)});
  if (content.logits) blocks.push_back({"logit:", table.logits});
  out << "index,image";
  for (const auto& block : blocks) {
    for (const auto& name : table.class_names) {
      out << "," << csvField(block.prefix + name);
    }
  }
  out << "\n";
  for (std::size_t i = 0; i < table.samples.size(); ++i) {
    out << table.samples[i] << "," << csvField(table.images[i]);
    for (const auto& block : blocks) {
      const auto v = block.values.accessor<float, 2>();
      for (std::int64_t k = 0; k < block.values.size(1); ++k) {
        const float value = v[static_cast<std::int64_t>(i)][k];
        out << (std::isnan(value) ? std::string(",")
                                  : fmt::format(",{:.9g}", value));
      }
    }
    out << "\n";
  }
}

}  // namespace

void writeScores(const std::string& path, const ScoresTable& table,
                 const ScoresContent& content) {
  ScoresTable cpu = table;
  for (torch::Tensor* t : {&cpu.logits, &cpu.targets, &cpu.mask}) {
    *t = t->to(torch::kCPU, torch::kFloat).contiguous();
  }
  const torch::Tensor probabilities = torch::sigmoid(cpu.logits).contiguous();
  const auto stem = npyStem(path);
  if (!stem) {
    writeFile(path, [&](std::ofstream& out) {
      writeCsv(out, cpu, content, probabilities);
    });
    return;
  }
  writeFile(*stem + ".rows.csv", [&](std::ofstream& out) {
    out << "index,image\n";
    for (std::size_t i = 0; i < cpu.samples.size(); ++i) {
      out << cpu.samples[i] << "," << csvField(cpu.images[i]) << "\n";
    }
  });
  if (content.truth) {
    const torch::Tensor truth = truthValues(cpu).contiguous();
    writeFile(*stem + ".truth.npy",
              [&](std::ofstream& out) { writeNpy(out, truth); });
  }
  if (content.logits) {
    writeFile(*stem + ".logits.npy",
              [&](std::ofstream& out) { writeNpy(out, cpu.logits); });
  }
  // The main file last: once it is there, its side files are too.
  writeFile(path, [&](std::ofstream& out) { writeNpy(out, probabilities); });
}

std::vector<std::string> scoresFiles(const std::string& path,
                                     const ScoresContent& content) {
  const auto stem = npyStem(path);
  if (!stem) return {path};
  std::vector<std::string> files{*stem + ".rows.csv"};
  if (content.truth) files.push_back(*stem + ".truth.npy");
  if (content.logits) files.push_back(*stem + ".logits.npy");
  files.push_back(path);
  return files;
}

}  // namespace labrun::train
