# `cmake --install`: the labrun binary, the built-in plugins, the plugin API
# headers and a CMake package, so that plugins can be built out of tree with
#   find_package(labrun) + labrun_add_plugin(...)   (docs/PLUGINS.md).
# The plugin API is header-only: the package's labrun::api target carries the
# include folder and LibTorch (found again with find_package(Torch)).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LABRUN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/labrun")
# The host searches <bin>/../lib/labrun/plugins (PluginHost::searchPath), so
# this folder is fixed rather than CMAKE_INSTALL_LIBDIR (lib/<triplet> on
# Debian under /usr).
set(LABRUN_INSTALL_PLUGINDIR "lib/labrun/plugins")

install(TARGETS labrun labrun-torch RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runner/include/labrun"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Every plugin made in plugins/ (MODULE libraries; test plugins live in
# tests/ and are not installed).
get_property(_labrun_plugin_dir_targets DIRECTORY "${PROJECT_SOURCE_DIR}/plugins"
             PROPERTY BUILDSYSTEM_TARGETS)
foreach(_target IN LISTS _labrun_plugin_dir_targets)
  get_target_property(_type ${_target} TYPE)
  if(_type STREQUAL "MODULE_LIBRARY")
    install(TARGETS ${_target}
            LIBRARY DESTINATION "${LABRUN_INSTALL_PLUGINDIR}")
  endif()
endforeach()

# The plugin API version, read from the header so it cannot disagree.
file(STRINGS "${PROJECT_SOURCE_DIR}/runner/include/labrun/PluginDescriptor.h"
     _api_line REGEX "kPluginApiVersion = [0-9]+;")
string(REGEX MATCH "[0-9]+" LABRUN_PLUGIN_API_VERSION "${_api_line}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/labrunConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/labrunConfig.cmake"
  INSTALL_DESTINATION "${LABRUN_INSTALL_CMAKEDIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR LABRUN_INSTALL_PLUGINDIR
            CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/labrunConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/cmake/labrunConfig.cmake"
              "${PROJECT_BINARY_DIR}/cmake/labrunConfigVersion.cmake"
        DESTINATION "${LABRUN_INSTALL_CMAKEDIR}")
