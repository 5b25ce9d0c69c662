# Every dependency is a Debian 12 package installed by tools/setup.sh.
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem)
find_package(fmt REQUIRED)
find_package(Threads REQUIRED)

# LibTorch's CMake config exports flags rather than a clean target.
add_library(labrun_torch INTERFACE)
target_link_libraries(labrun_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(labrun_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(labrun_torch INTERFACE ${_torch_flags})
# LibTorch 2.x installs a newer fmt's headers in its own include folder,
# which comes first on the command line: code compiled against them must
# not link the system's libfmt of another version. There fmt is used
# header-only (whichever headers win, code and headers then match).
get_target_property(_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
add_library(labrun_fmt INTERFACE)
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/core.h" AND
   NOT "${TORCH_INSTALL_PREFIX}/include" IN_LIST _fmt_includes)
  target_link_libraries(labrun_fmt INTERFACE fmt::fmt-header-only)
else()
  target_link_libraries(labrun_fmt INTERFACE fmt::fmt)
endif()

# A CUDA LibTorch has c10_cuda beside c10; code that reads the CUDA
# allocator's statistics (util/DeviceMemory.h: the trainer, bench_ssgrl)
# links it through labrun_cuda_memory, which defines LABRUN_WITH_CUDA.
if(TARGET c10_cuda)
  set(LABRUN_C10_CUDA_LIBRARY c10_cuda)
else()
  find_library(LABRUN_C10_CUDA_LIBRARY c10_cuda
    HINTS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
endif()
add_library(labrun_cuda_memory INTERFACE)
if(LABRUN_C10_CUDA_LIBRARY)
  message(STATUS "LibTorch has CUDA: ${LABRUN_C10_CUDA_LIBRARY}")
  target_compile_definitions(labrun_cuda_memory INTERFACE LABRUN_WITH_CUDA)
  target_link_libraries(labrun_cuda_memory INTERFACE
    ${LABRUN_C10_CUDA_LIBRARY})
  target_include_directories(labrun_cuda_memory SYSTEM INTERFACE
    ${CUDAToolkit_INCLUDE_DIRS})
endif()

if(LABRUN_MODEL_ONLY)
  return()
endif()
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)

# Debian ships OpenCV's libraries without the CMake package unless the
# (large) libopencv-dev meta package is installed; the modules labrun uses
# are found directly.
find_path(OpenCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
set(_opencv_modules core imgproc)
if(LABRUN_WITH_IMGCODECS)
  list(APPEND _opencv_modules imgcodecs)
endif()
foreach(module ${_opencv_modules})
  find_library(OpenCV_${module}_LIBRARY opencv_${module} REQUIRED)
  list(APPEND OpenCV_LIBS ${OpenCV_${module}_LIBRARY})
endforeach()
add_library(labrun_opencv INTERFACE)
target_include_directories(labrun_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIR})
target_link_libraries(labrun_opencv INTERFACE ${OpenCV_LIBS})
