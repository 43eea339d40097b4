#include "backend/module.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace nn {
namespace {

// The folder of the library this code is in (libnn.so), with a trailing '/';
// empty when unknown.
std::string dir_of_this_library() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&open_module), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

void *open_module(const char *lib_name, const char *env_var, bool env_alone, std::vector<std::string> &errors) {
  std::vector<std::string> candidates;
  const char *env = std::getenv(env_var);
  const bool env_set = env && env[0];
  if (env_set) {
    std::string e = env;
    if (e.back() == '/') e += lib_name;
    candidates.push_back(e);
  }
  if (!env_set || !env_alone) {
    std::string dir = dir_of_this_library();
    if (!dir.empty()) candidates.push_back(dir + lib_name);
    candidates.push_back(lib_name);  // default search path
  }
  for (const std::string &c : candidates) {
    dlerror();
    void *h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    const char *e = dlerror();
    errors.push_back(e ? e : c + ": unknown dlopen error");
  }
  return nullptr;
}

}  // namespace nn
