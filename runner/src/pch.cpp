// Carrier of the shared LibTorch precompiled header (see CMakeLists.txt).
