#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "plugins/PluginHost.h"

namespace labrun::plugins {
namespace {

const std::string kRoot = LABRUN_TEST_PLUGIN_ROOT;

std::string variantDir(const std::string& variant) {
  return kRoot + "/" + variant;
}
std::string variantFile(const std::string& variant) {
  return variantDir(variant) + "/liblabrun_test_" + variant + ".so";
}

std::string errorOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const PluginError& error) {
    return error.what();
  }
  return "";
}

Params scaleParams(double scale) { return Params({{"scale", scale}}); }

TEST(PluginHost, LoadsPluginAndReportsDescriptor) {
  PluginHost host;
  const LoadedPlugin& plugin = host.loadFile(variantFile("ok"));
  EXPECT_EQ(plugin.name(), "testloss");
  EXPECT_EQ(plugin.kind(), PluginKind::kLoss);
  ASSERT_EQ(plugin.params().size(), 1u);
  EXPECT_STREQ(plugin.params()[0].name, "scale");
  EXPECT_EQ(&host.find(PluginKind::kLoss, "testloss"), &plugin);
}

TEST(PluginHost, BuiltObjectRunsPluginCode) {
  PluginHost host;
  host.loadFile(variantFile("ok"));
  auto loss = host.makeLoss("testloss", scaleParams(3.0), {});
  const torch::Tensor logits = torch::tensor({{1.0f, 3.0f}});
  EXPECT_FLOAT_EQ(loss->forward(logits, logits, logits).item<float>(), 6.0f);
}

TEST(PluginHost, LibraryOutlivesHostWhileObjectsLive) {
  std::shared_ptr<Loss> loss;
  {
    PluginHost host;
    host.loadFile(variantFile("ok"));
    loss = host.makeLoss("testloss", scaleParams(1.0), {});
  }
  // The host is gone; the object's library must still be mapped.
  void* handle = dlopen(variantFile("ok").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(handle, nullptr);
  dlclose(handle);
  const torch::Tensor logits = torch::tensor({{2.0f, 4.0f}});
  EXPECT_FLOAT_EQ(loss->forward(logits, logits, logits).item<float>(), 3.0f);
}

TEST(PluginHost, DefaultParamsFillDeclaredDefaultsUnderOverrides) {
  PluginHost host;
  host.loadFile(variantFile("ok"));
  EXPECT_DOUBLE_EQ(
      host.defaultParams(PluginKind::kLoss, "testloss").getFloat("scale"), 2.0);
  EXPECT_DOUBLE_EQ(
      host.defaultParams(PluginKind::kLoss, "testloss", {{"scale", 5.0}})
          .getFloat("scale"),
      5.0);
  EXPECT_NE(errorOf([&] {
              host.defaultParams(PluginKind::kLoss, "nope");
            }).find("unknown loss plugin 'nope'"),
            std::string::npos);
}

TEST(PluginHost, RefusesApiVersionMismatchNamingBothVersions) {
  PluginHost host;
  const std::string message =
      errorOf([&] { host.loadFile(variantFile("mismatch")); });
  const std::string expected =
      "built for plugin API version " + std::to_string(kPluginApiVersion + 1) +
      ", but this labrun uses version " + std::to_string(kPluginApiVersion);
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  EXPECT_NE(message.find("liblabrun_test_mismatch.so"), std::string::npos);
}

TEST(PluginHost, RefusesLibraryWithoutEntryPoint) {
  PluginHost host;
  const std::string message =
      errorOf([&] { host.loadFile(variantFile("nosymbol")); });
  EXPECT_NE(message.find("missing entry point 'labrun_plugin_descriptor'"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("liblabrun_test_nosymbol.so"), std::string::npos);
}

TEST(PluginHost, RefusesFileThatIsNotALibrary) {
  const std::string path = std::filesystem::weakly_canonical(
                               ::testing::TempDir() + "/liblabrun_fake.so")
                               .string();
  { std::ofstream(path) << std::string(4096, 'x'); }  // not an ELF file
  PluginHost host;
  const std::string message = errorOf([&] { host.loadFile(path); });
  EXPECT_NE(message.find("plugin file " + path + ": cannot load: "),
            std::string::npos)
      << message;
  // The dynamic loader's own reason, not a generic error code.
  EXPECT_NE(message.find("invalid ELF header"), std::string::npos) << message;
}

TEST(PluginHost, RefusesLibraryCutShortInsteadOfCrashing) {
  // dlopen of a cut ELF file faults (SIGBUS) before it can return an error.
  const std::string whole = variantFile("ok");
  const auto size = std::filesystem::file_size(whole);
  for (const std::uintmax_t cut : {std::uintmax_t{1000}, size / 2, size - 1}) {
    SCOPED_TRACE(cut);
    const std::string path = std::filesystem::weakly_canonical(
                                 ::testing::TempDir() + "/liblabrun_cut.so")
                                 .string();
    std::filesystem::copy_file(
        whole, path, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path, cut);
    PluginHost host;
    const std::string message = errorOf([&] { host.loadFile(path); });
    EXPECT_EQ(message.rfind("plugin file " + path +
                                ": refused: it is cut "
                                "short (" +
                                std::to_string(cut) +
                                " bytes, its "
                                "ELF headers need ",
                            0),
              0u)
        << message;
  }
}

TEST(PluginHost, RefusesWorldWritableFile) {
  const std::string path = std::filesystem::weakly_canonical(
                               ::testing::TempDir() + "/liblabrun_open.so")
                               .string();
  std::filesystem::copy_file(variantFile("ok"), path,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(path, std::filesystem::perms::others_write,
                               std::filesystem::perm_options::add);
  PluginHost host;
  EXPECT_EQ(errorOf([&] { host.loadFile(path); }),
            "plugin file " + path +
                ": refused: it is world-writable (chmod o-w " + path + ")");
  std::filesystem::permissions(path, std::filesystem::perms::others_write,
                               std::filesystem::perm_options::remove);
  EXPECT_EQ(host.loadFile(path).name(), "testloss");
}

TEST(PluginHost, RefusesFileInAWorldWritableFolderUnlessSticky) {
  namespace fs = std::filesystem;
  const fs::path folder =
      fs::weakly_canonical(::testing::TempDir() + "/open_plugin_folder");
  fs::create_directories(folder);
  const std::string path = (folder / "liblabrun_open.so").string();
  fs::copy_file(variantFile("ok"), path, fs::copy_options::overwrite_existing);
  fs::permissions(folder, fs::perms::all);  // 0777: anyone may replace it
  EXPECT_EQ(errorOf([&] { PluginHost().loadFile(path); }),
            "plugin file " + path +
                ": refused: its folder is world-writable (chmod o-w " +
                folder.string() + ")");
  fs::permissions(folder, fs::perms::sticky_bit, fs::perm_options::add);
  PluginHost host;
  EXPECT_EQ(host.loadFile(path).name(), "testloss");
  fs::permissions(folder, fs::perms::owner_all | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
}

TEST(PluginHost, DuplicateNameNamesBothFiles) {
  PluginHost host;
  const std::string message = errorOf([&] {
    host.loadDirectories({variantDir("ok"), variantDir("duplicate")});
  });
  EXPECT_NE(
      message.find("duplicate loss plugin 'testloss': defined in " +
                   variantFile("ok") + " and in " + variantFile("duplicate")),
      std::string::npos)
      << message;
}

TEST(PluginHost, ThrowingFactoryBecomesPluginError) {
  PluginHost host;
  host.loadFile(variantFile("throwing"));
  const std::string message =
      errorOf([&] { host.makeLoss("throwing", scaleParams(1.0), {}); });
  EXPECT_EQ(message, "loss plugin 'throwing' (" + variantFile("throwing") +
                         "): cannot build: test failure");
}

TEST(PluginHost, UnknownNameListsKnownOnes) {
  PluginHost host;
  host.loadDirectories({variantDir("ok"), variantDir("throwing")});
  const std::string message =
      errorOf([&] { host.find(PluginKind::kLoss, "tesloss"); });
  EXPECT_EQ(message,
            "unknown loss plugin 'tesloss'; known: testloss, throwing");
  EXPECT_NE(errorOf([&] {
              host.find(PluginKind::kHead, "testloss");
            }).find("unknown head plugin 'testloss'; known: (none)"),
            std::string::npos);
}

TEST(PluginHost, DirectoryScanSkipsBrokenFilesAndReportsThem) {
  PluginHost host;
  host.loadDirectories(
      {variantDir("mismatch"), variantDir("nosymbol"), variantDir("ok")});
  EXPECT_EQ(host.all().size(), 1u);
  ASSERT_EQ(host.problems().size(), 2u);
  // The reason of a skipped file travels with "unknown plugin" errors.
  const std::string message =
      errorOf([&] { host.find(PluginKind::kLoss, "other"); });
  EXPECT_NE(message.find("[skipped plugin file " + variantFile("mismatch")),
            std::string::npos)
      << message;
}

TEST(PluginHost, SearchPathOrder) {
  setenv("LABRUN_PLUGIN_PATH", "/env/a:/env/b", 1);
  const auto dirs = PluginHost::searchPath({"/cli"});
  unsetenv("LABRUN_PLUGIN_PATH");
  ASSERT_GE(dirs.size(), 4u);
  EXPECT_EQ(dirs[0], "/cli");
  EXPECT_EQ(dirs[1], "/env/a");
  EXPECT_EQ(dirs[2], "/env/b");
}

// A LABRUN_PLUGIN_PATH entry that is not a folder is skipped, as PATH's
// are; "unknown plugin" names it, since a typo there is the likely cause.
TEST(PluginHost, UnknownPluginNamesAPluginPathEntryThatIsNotAFolder) {
  const std::string existing = ::testing::TempDir();
  setenv("LABRUN_PLUGIN_PATH", ("/no/such/plugins::" + existing).c_str(), 1);
  PluginHost host;
  host.loadDirectories(PluginHost::searchPath({}));
  const std::string message =
      errorOf([&] { host.find(PluginKind::kHead, "mine"); });
  unsetenv("LABRUN_PLUGIN_PATH");
  EXPECT_NE(message.find(
                "[LABRUN_PLUGIN_PATH names /no/such/plugins, not a folder]"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("names " + existing), std::string::npos) << message;
}

}  // namespace
}  // namespace labrun::plugins
