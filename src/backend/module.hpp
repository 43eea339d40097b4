// Opening libnn's optional modules (libnn_cuda.so, libnn_mpi.so) with
// dlopen(): one search order for both.
#pragma once
#include <string>
#include <vector>

namespace nn {

// dlopen()s `lib_name` (RTLD_NOW | RTLD_LOCAL) from, in order: the path in
// environment variable `env_var` (a file, or a folder ending in '/') when it
// is set and not empty; then, unless `env_alone` and the variable is set,
// the folder of libnn.so itself (dladdr) and the dynamic linker's default
// search path. Returns the handle, or NULL with `errors` holding each
// attempt's dlerror() text.
void *open_module(const char *lib_name, const char *env_var, bool env_alone, std::vector<std::string> &errors);

}  // namespace nn
