// Symbol visibility for plugin libraries. Everything is hidden by default
// (-fvisibility=hidden); only the descriptor entry point is exported.
#pragma once

#if defined(_WIN32)
#define LABRUN_PLUGIN_EXPORT __declspec(dllexport)
#else
#define LABRUN_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif
