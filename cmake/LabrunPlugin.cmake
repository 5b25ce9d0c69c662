# labrun_add_plugin(<target> SOURCES <files...>)
# Builds a plugin as a MODULE library in ${LABRUN_PLUGIN_OUTPUT_DIR} (or
# OUTPUT_DIR), linked against the public plugin API only.
function(labrun_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR "${LABRUN_PLUGIN_OUTPUT_DIR}")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE labrun_api)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIR}")
  labrun_use_torch_pch(${target})
endfunction()

# labrun_use_torch_pch(<target>)
# Reuses the shared LibTorch precompiled header. GCC rejects a PCH built with
# other PIC/PIE settings, so executables compile with -fPIC like the PCH
# (they still link as PIE executables).
function(labrun_use_torch_pch target)
  if(NOT LABRUN_TORCH_PCH)
    return()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_precompile_headers(${target} REUSE_FROM labrun_pch)
endfunction()
