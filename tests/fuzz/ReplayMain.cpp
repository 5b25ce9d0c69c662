// Replays fuzzer inputs through a target's LLVMFuzzerTestOneInput, for the
// committed corpora in ordinary (non-fuzzing) builds:
//   replay_<target> FILE_OR_DIR...
// A crash or uncaught exception fails the process, and so the ctest case.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

void replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                         bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry :
           std::filesystem::recursive_directory_iterator(argv[i])) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());  // a stable, readable order
    } else {
      files.emplace_back(argv[i]);
    }
    for (const auto& file : files) {
      std::cout << file.string() << std::endl;  // names a crashing input
      replay(file);
      ++count;
    }
  }
  std::cout << count << " inputs replayed" << std::endl;
  return count > 0 ? 0 : 1;
}
